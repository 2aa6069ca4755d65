/* The work queue (#/queue) and the case list (#/cases?filters).
 *
 * The queue: my cases (GET /staff/queue?assignee=me) and a department's waiting cases
 * (GET /staff/queue?department=), both most urgent first, with SLA states; the department's open
 * investigation tasks (GET /staff/tasks) and my unread alerts (GET /staff/inbox?unread=true).
 * The case list: GET /staff/complaints with the search form's filters (number, customer email or
 * phone, text; status, category, priority, channel, department, dates), cursor-paged.
 */
"use strict";

(function () {
  const C = window.ConsoleCore;
  const { el, t, I18n } = C;
  const FILTERS = ["q", "status", "category", "priority", "channel", "department", "assignee", "product", "batch",
    "since", "until"];

  function caseLink(number, label) {
    return el("a", { href: C.hashFor("case", number), className: "case-link" }, label || number);
  }

  /** A table of case summaries (lists and queues answer the same shape). */
  function caseTable(cases, options) {
    const opts = options || {};
    const head = el("tr", {},
      el("th", { scope: "col" }, t("col.number")), el("th", { scope: "col" }, t("col.title")),
      el("th", { scope: "col" }, t("col.status")), el("th", { scope: "col" }, t("col.priority")),
      el("th", { scope: "col" }, t("col.category")), el("th", { scope: "col" }, t("col.sla")),
      el("th", { scope: "col" }, opts.receivedColumn ? t("col.received") : t("col.due")),
      opts.action ? el("th", { scope: "col" }, t("col.actions")) : null);
    const rows = cases.map((c) => {
      const state = C.caseState(c);
      const due = C.nearestDue(c);
      return el("tr", { className: `case-row sla-row-${state || "none"}`, dataset: { complaintId: c.complaint_id } },
        el("th", { scope: "row" }, caseLink(c.complaint_id)),
        el("td", { className: "title-cell" }, c.title || t("app.none")),
        el("td", {}, I18n.label("status", c.status)),
        el("td", {}, c.priority ? el("span", { className: `priority priority-${c.priority}` }, c.priority) : t("app.none")),
        el("td", {}, I18n.label("category", c.category)),
        el("td", {}, C.slaBadge(state, due)),
        el("td", {}, opts.receivedColumn ? C.dateTime(c.received_at) : C.dateTime(due)),
        opts.action ? el("td", {}, opts.action(c)) : null);
    });
    return el("div", { className: "table-scroll" },
      el("table", { className: "data cases" }, el("thead", {}, head), el("tbody", {}, rows)));
  }

  function section(id, title, ...children) {
    return el("section", { className: "panel", attrs: { "aria-labelledby": `${id}-heading` }, id },
      el("h2", { id: `${id}-heading` }, title), ...children);
  }

  function failure(res) {
    return el("p", { className: "notice error", attrs: { role: "alert" } }, C.problem(res));
  }

  /** The search form; submitting it opens #/cases with its filters. */
  function searchForm(values) {
    const v = values || {};
    const any = [["", t("search.any")]];
    const form = el("form", { className: "search-form", attrs: { role: "search", "aria-labelledby": "search-heading" } },
      el("h2", { id: "search-heading" }, t("search.heading")),
      el("div", { className: "search-row" },
        C.field({ name: "q", label: t("search.q"), type: "search", value: v.q || "", help: t("search.q_help"), className: "grow" })),
      el("div", { className: "filter-row" },
        C.field({ name: "status", label: t("search.status"), value: v.status, options: any.concat(C.STATUSES.map((s) => [s, I18n.label("status", s)])) }),
        C.field({ name: "category", label: t("search.category"), value: v.category, options: any.concat(C.CATEGORIES.map((s) => [s, I18n.label("category", s)])) }),
        C.field({ name: "priority", label: t("search.priority"), value: v.priority, options: any.concat(C.PRIORITIES.map((p) => [p, p])) }),
        C.field({ name: "channel", label: t("search.channel"), value: v.channel, options: any.concat(C.CHANNELS.map((s) => [s, I18n.label("channel", s)])) })),
      el("div", { className: "button-row" },
        el("button", { type: "submit", className: "primary" }, t("search.submit")),
        el("button", { type: "reset", className: "secondary" }, t("search.reset"))));
    // filters the form has no field for (from a drill-down) travel along unchanged
    const hidden = ["department", "assignee", "product", "batch", "since", "until"].filter((k) => v[k]);
    for (const name of hidden) form.append(el("input", { type: "hidden", name, value: v[name] }));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const data = Object.fromEntries(new FormData(form).entries());
      C.go(C.hashFor("cases", null, data));
    });
    form.addEventListener("reset", () => window.setTimeout(() => C.go(C.hashFor("cases")), 0));
    return form;
  }

  async function claim(c, button) {
    button.disabled = true;
    const res = await C.api(`/staff/complaints/${c.complaint_id}/claim`, { method: "POST", body: { version: c.version } });
    if (res.ok) {
      C.announce(t("queue.claimed", { number: c.complaint_id }), "success");
      C.go(C.hashFor("case", c.complaint_id));
    } else {
      button.disabled = false;
      C.announce(C.problem(res), "error");
      if (res.status === 409) C.render();
    }
  }

  // -- #/queue ------------------------------------------------------------------------------------------
  C.routes.queue = async function queueView(view, route, who) {
    const departments = C.myDepartments(who);
    const department = route.params.get("department") || departments[0];
    const [mine, waiting, tasks, inbox] = await Promise.all([
      C.api("/staff/queue", { query: { assignee: "me", limit: 50 } }),
      C.api("/staff/queue", { query: { department, limit: 50 } }),
      C.api("/staff/tasks", { query: { limit: 25 } }),
      C.api("/staff/inbox", { query: { unread: "true", limit: 25 } }),
    ]);
    const count = (res, key) => (res.ok ? res.body[key].length : 0);
    view.append(el("h1", {}, t("queue.heading")),
      el("p", { className: "lede", id: "queue-summary" }, t("queue.summary", {
        mine: count(mine, "complaints"), waiting: count(waiting, "complaints"), tasks: count(tasks, "tasks"),
        inbox: count(inbox, "items") + (inbox.ok && inbox.body.next_cursor ? "+" : "") })));
    window.ConsoleApp.setInboxCount(inbox.ok ? inbox.body.items.length : null, inbox.ok && Boolean(inbox.body.next_cursor));

    view.append(searchForm({}));

    const mineBody = !mine.ok ? failure(mine) : mine.body.complaints.length
      ? caseTable(mine.body.complaints) : el("p", { className: "empty" }, t("queue.mine_empty"));
    view.append(section("my-cases", t("queue.mine"), mineBody));

    const picker = C.field({ name: "department", label: t("queue.department_pick"), value: department,
      options: departments.map((d) => [d, I18n.label("department", d)]) });
    picker.querySelector("select").addEventListener("change", (event) => {
      C.go(C.hashFor("queue", null, { department: event.target.value }));
    });
    const canClaim = who.role === "agent" || who.role === "lead";
    const waitingBody = !waiting.ok ? failure(waiting) : waiting.body.complaints.length
      ? caseTable(waiting.body.complaints, canClaim ? { action: (c) => el("button", {
        type: "button", className: "secondary small", attrs: { "aria-label": `${t("queue.claim")} ${c.complaint_id}` },
        on: { click: (event) => claim(c, event.currentTarget) } }, t("queue.claim")) } : {})
      : el("p", { className: "empty" }, t("queue.department_empty"));
    view.append(section("department-queue", t("queue.department"), picker, waitingBody));

    let tasksBody;
    if (!tasks.ok) tasksBody = failure(tasks);
    else if (!tasks.body.tasks.length) tasksBody = el("p", { className: "empty" }, t("queue.tasks_empty"));
    else {
      tasksBody = el("ul", { className: "task-list" }, tasks.body.tasks.map((task) => el("li", {},
        el("strong", {}, task.title), " · ", I18n.label("department", task.department), " · ",
        t("case.task_due", { at: C.dateTime(task.due_at) }), " · ",
        caseLink(task.complaint.complaint_id, `${task.complaint.complaint_id} ${task.complaint.title || ""}`.trim()))));
    }
    view.append(section("tasks", t("queue.tasks"), tasksBody));

    let inboxBody;
    if (!inbox.ok) inboxBody = failure(inbox);
    else if (!inbox.body.items.length) inboxBody = el("p", { className: "empty" }, t("queue.inbox_empty"));
    else {
      inboxBody = el("ul", { className: "inbox-list" }, inbox.body.items.map((item) => {
        const button = el("button", { type: "button", className: "secondary small" }, t("queue.mark_read"));
        const row = el("li", {}, el("span", { className: "inbox-kind" }, I18n.label("kind", item.kind)), " · ",
          caseLink(item.complaint_id), item.reason ? ` · ${item.reason}` : "", " · ", C.dateTime(item.raised_at), " ", button);
        button.addEventListener("click", async () => {
          const res = await C.api(`/staff/inbox/${encodeURIComponent(item.item_id)}/read`, { method: "POST", body: {} });
          if (res.ok) {
            row.remove();
            window.ConsoleApp.adjustInboxCount(-1);
          } else C.announce(C.problem(res), "error");
        });
        return row;
      }));
    }
    view.append(section("inbox", t("queue.inbox"), inboxBody));
  };

  // -- #/cases?filters ---------------------------------------------------------------------------------
  function describeFilters(values) {
    const parts = [];
    for (const key of FILTERS) {
      const value = values[key];
      if (!value) continue;
      const shown = { status: () => I18n.label("status", value), category: () => I18n.label("category", value),
        channel: () => I18n.label("channel", value), department: () => I18n.label("department", value) }[key];
      parts.push(`${t(`search.${key}`) ?? key}: ${shown ? shown() : value}`);
    }
    return parts.length ? parts.join(" · ") : t("cases.all");
  }

  C.routes.cases = async function casesView(view, route) {
    const values = {};
    for (const key of FILTERS) if (route.params.get(key)) values[key] = route.params.get(key);
    const first = await C.api("/staff/complaints", { query: { ...values, limit: 50 } });
    view.append(el("h1", {}, t("cases.heading")),
      el("p", { className: "lede", id: "cases-filters" }, t("cases.filters", { filters: describeFilters(values) })),
      searchForm(values));
    const results = el("section", { className: "panel", id: "case-results", attrs: { "aria-labelledby": "results-heading" } },
      el("h2", { id: "results-heading", className: "visually-hidden" }, t("cases.heading")));
    view.append(results);
    if (!first.ok) {
      results.append(failure(first));
      return;
    }
    const shown = [...first.body.complaints];
    const count = el("p", { className: "count", attrs: { "aria-live": "polite" } });
    const holder = el("div", {});
    const more = el("button", { type: "button", className: "secondary" }, t("app.more"));
    let cursor = first.body.next_cursor;
    const draw = () => {
      holder.replaceChildren(shown.length ? caseTable(shown, { receivedColumn: true }) : el("p", { className: "empty" }, t("cases.empty")));
      count.textContent = t("cases.count", { count: shown.length });
      more.hidden = !cursor;
    };
    more.addEventListener("click", async () => {
      more.disabled = true;
      const next = await C.api("/staff/complaints", { query: { ...values, limit: 50, cursor } });
      more.disabled = false;
      if (!next.ok) {
        C.announce(C.problem(next), "error");
        return;
      }
      const focusRow = shown.length;
      shown.push(...next.body.complaints);
      cursor = next.body.next_cursor;
      draw();
      const link = holder.querySelectorAll("a.case-link")[focusRow];
      if (link) link.focus();
    });
    results.append(count, holder, more);
    if (values.q) results.append(el("p", { className: "help" }, t("cases.more_hint")));
    draw();
  };

  window.ConsoleQueue = { caseTable, caseLink };
})();
