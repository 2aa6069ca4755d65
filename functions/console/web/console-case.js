/* The case page (#/case/<number>): summary, decisions, timeline, clocks, attachments, plan, tasks,
 * suggestions and the workflow actions.
 *
 * Reads GET /staff/complaints/{id} and GET /staff/complaints/{id}/suggestions. Every action posts to
 * POST /staff/complaints/{id}/actions (claim and transfer to their own routes, a task's closing to
 * .../tasks/{task_id}) with the case's version; a 409 stale_version reloads the case and says so,
 * keeping whatever the handler typed (every draft field has an id and is restored after a reload).
 */
"use strict";

(function () {
  const C = window.ConsoleCore;
  const { el, t, I18n } = C;
  const WRITABLE = ["in_progress", "waiting_on_customer", "resolution_proposed"];
  const OPEN = ["received", "classified", "assigned", "in_progress", "waiting_on_customer", "resolution_proposed"];
  const PLAN_TYPES = ["refund", "replacement", "compensation", "repair", "apology", "explanation"];
  const MONEY_TYPES = ["refund", "compensation"];

  function dl(pairs) {
    const list = el("dl", { className: "facts" });
    for (const [term, value] of pairs) {
      if (value === null || value === undefined || value === "") continue;
      list.append(el("dt", {}, term), el("dd", {}, value));
    }
    return list;
  }

  function panel(id, title, ...children) {
    return el("section", { className: "panel", id, attrs: { "aria-labelledby": `${id}-heading` } },
      el("h2", { id: `${id}-heading` }, title), ...children);
  }

  function clockLabel(clock) {
    return (clock.label && (clock.label[I18n.lang] || clock.label.en)) || clock.name;
  }

  class CasePage {
    constructor(number, who, view) {
      this.number = number;
      this.who = who;
      this.view = view;
      this.case = null;
      this.suggestions = null;
    }

    async load() {
      const [detail, suggestions] = await Promise.all([
        C.api(`/staff/complaints/${encodeURIComponent(this.number)}`),
        C.api(`/staff/complaints/${encodeURIComponent(this.number)}/suggestions`),
      ]);
      if (!detail.ok) {
        this.view.replaceChildren(
          el("p", {}, el("a", { href: "#/queue" }, t("case.back"))),
          el("h1", {}, t("case.heading", { number: this.number })),
          el("p", { className: "notice error", attrs: { role: "alert" } }, C.problem(detail)));
        return false;
      }
      this.case = detail.body;
      this.suggestions = suggestions.ok ? suggestions.body : null;
      return true;
    }

    /** Reload and draw again, keeping drafts; then show ``message`` in the action status and focus it. */
    async reload(message, kind) {
      const drafts = this.drafts();
      if (await this.load()) this.draw();
      this.restore(drafts);
      this.status(message, kind);
    }

    drafts() {
      const found = {};
      this.view.querySelectorAll("[data-draft]").forEach((node) => {
        found[node.id] = node.type === "checkbox" || node.type === "radio" ? node.checked : node.value;
      });
      return found;
    }

    restore(drafts) {
      for (const [id, value] of Object.entries(drafts)) {
        const node = document.getElementById(id);
        if (!node) continue;
        if (node.type === "checkbox" || node.type === "radio") node.checked = value;
        else node.value = value;
        node.dispatchEvent(new Event("change"));
      }
    }

    status(message, kind) {
      if (!message) return;
      const box = document.getElementById("action-status");
      if (box) {
        box.textContent = message;
        box.className = `notice ${kind || "info"}`;
        box.hidden = false;
        box.focus();
      }
      C.announce(message, kind);
    }

    // -- acting ---------------------------------------------------------------------------------------------
    async post(path, body, label, button) {
      if (button) button.disabled = true;
      const res = await C.api(path, { method: "POST", body: { ...body, version: this.case.version } });
      if (button) button.disabled = false;
      if (res.ok) {
        this.clearDrafts(button);
        await this.reload(t("case.done", { action: label }), "success");
        return true;
      }
      if (res.status === 409 && res.body && res.body.error === "stale_version") {
        await this.reload(t("case.stale"), "warning");
        return false;
      }
      this.status(C.problem(res), "error");
      return false;
    }

    act(action, body, label, button) {
      return this.post(`/staff/complaints/${this.case.complaint_id}/actions`, { action, ...body }, label, button);
    }

    clearDrafts(button) {
      const form = button && button.closest("form");
      if (form) form.querySelectorAll("[data-draft]").forEach((node) => {
        if (node.type === "checkbox") node.checked = false;
        else if (node.type !== "radio" && node.tagName !== "SELECT") node.value = "";
      });
    }

    /** A form whose submit calls ``send(form, button)`` after checking the required fields. */
    form(id, fields, submitLabel, send, className) {
      const button = el("button", { type: "submit", className: className || "primary" }, submitLabel);
      const form = el("form", { id, className: "action-form", attrs: { novalidate: "" } }, ...fields,
        el("div", { className: "button-row" }, button));
      form.addEventListener("submit", async (event) => {
        event.preventDefault();
        for (const node of form.querySelectorAll("[data-required]")) {
          if (!node.value.trim()) {
            node.setAttribute("aria-invalid", "true");
            const label = form.querySelector(`label[for="${node.id}"]`);
            this.status(t("action.required", { field: label ? label.textContent : node.name }), "error");
            node.focus();
            return;
          }
          node.removeAttribute("aria-invalid");
        }
        await send(form, event.submitter || button);
      });
      return form;
    }

    input(id, spec) {
      const wrapper = C.field({ ...spec, id });
      const control = wrapper.querySelector("input, textarea, select");
      control.dataset.draft = "";
      if (spec.required) control.dataset.required = "";
      return wrapper;
    }

    // -- drawing -----------------------------------------------------------------------------------------------
    draw() {
      const c = this.case;
      const state = C.caseState(c);
      this.view.replaceChildren(
        el("p", { className: "crumbs" }, el("a", { href: "#/queue" }, t("case.back"))),
        el("header", { className: "case-header" },
          el("h1", { id: "case-heading" }, t("case.heading", { number: c.complaint_id })),
          el("p", { className: "case-title", id: "case-title" }, c.title || ""),
          el("ul", { className: "badges", attrs: { "aria-label": t("case.summary") } },
            el("li", { className: `badge status-${c.status}`, id: "case-status" }, I18n.label("status", c.status)),
            c.priority ? el("li", { className: `badge priority priority-${c.priority}` }, c.priority) : null,
            el("li", { className: "badge" }, I18n.label("category", c.category)),
            el("li", { className: "badge" }, I18n.label("department", c.department)),
            el("li", { className: "badge-plain" }, C.slaBadge(state, C.nearestDue(c))),
            c.escalated ? el("li", { className: "badge escalated" }, t("case.escalated", { level: c.escalation_level || 1 })) : null)),
        el("div", { className: "case-grid" },
          el("div", { className: "case-main" }, this.summary(), this.decisions(), this.timeline(), this.attachments()),
          el("div", { className: "case-side" }, this.actions(), this.clocks(), this.plan(), this.tasks(), this.suggestionsPanel())));
    }

    summary() {
      const c = this.case;
      const product = c.product ? [c.product.name, c.product.sku, c.product.batch && `#${c.product.batch}`, c.product.order_id]
        .filter(Boolean).join(" · ") : null;
      const customer = c.customer ? [c.customer.name, c.customer.email, c.customer.phone].filter(Boolean).join(" · ") : null;
      return panel("case-summary", t("case.summary"),
        dl([
          [t("case.description"), el("p", { className: "prewrap", id: "case-description" }, c.description || "")],
          [t("case.expected"), c.expected_resolution],
          [t("case.product"), product],
          [t("case.customer"), customer],
          [t("case.received"), C.dateTime(c.received_at)],
          [t("case.channel"), I18n.label("channel", c.channel)],
          [t("case.language"), c.language],
          [t("case.assignee"), c.assignee || t("case.unassigned")],
          [t("case.version"), String(c.version)],
          c.repeat_of ? ["", el("a", { href: C.hashFor("case", c.repeat_of) }, t("case.repeat_of", { number: c.repeat_of }))] : [null, null],
        ]));
    }

    decisions() {
      const c = this.case;
      const cls = c.classification || {};
      const items = [];
      if (cls.category) {
        items.push(el("li", {}, t("case.classification", {
          category: I18n.label("category", cls.category),
          confidence: cls.confidence !== undefined ? C.percent(cls.confidence) : "–" }),
        cls.explanation ? el("span", { className: "explain" }, ` — ${cls.explanation}`) : null));
      }
      if (cls.priority && cls.priority.explanation) items.push(el("li", {}, t("case.priority_reason", { explanation: cls.priority.explanation })));
      if (c.routing && c.routing.explanation) items.push(el("li", {}, t("case.routing_reason", { explanation: c.routing.explanation })));
      if (c.needs_triage) items.push(el("li", { className: "warning-text" }, t("case.triage")));
      if (!items.length) return null;
      return panel("case-decisions", t("case.decisions"), el("ul", { className: "plain-list" }, items));
    }

    timeline() {
      const list = el("ol", { className: "timeline", id: "case-timeline" });
      for (const entry of this.case.timeline || []) {
        const questioned = entry.kind === "staff_reply" && entry.details && entry.details.requests_information;
        const kind = questioned ? "request_information" : entry.kind;
        const internal = entry.visibility === "internal";
        const from = entry.actor === "customer" ? "from-customer" : (entry.actor || "").startsWith("staff:") ? "from-staff" : "from-system";
        const text = entry.kind === "status_changed" && entry.status
          ? [I18n.label("status", entry.status), entry.text].filter(Boolean).join(" — ") : entry.text;
        list.append(el("li", { className: `timeline-item kind-${kind} ${internal ? "internal" : "public"} ${from}` },
          el("div", { className: "timeline-head" },
            el("span", { className: "timeline-kind" }, I18n.label("kind", kind)),
            internal ? el("span", { className: "tag internal-tag" }, t("case.internal")) : el("span", { className: "tag public-tag" }, t("case.public")),
            el("span", { className: "timeline-actor" }, C.actorName(entry.actor)),
            el("time", { dateTime: entry.at, className: "timeline-at" }, C.dateTime(entry.at))),
          text ? el("p", { className: "prewrap timeline-text" }, text) : null,
          entry.kind === "plan_proposed" && entry.details && Array.isArray(entry.details.components)
            ? this.components(entry.details.components) : null));
      }
      return panel("case-timeline-panel", t("case.timeline"), list);
    }

    attachments() {
      const files = this.case.attachments || [];
      if (!files.length) return null;
      return panel("case-attachments", t("case.attachments"), el("ul", { className: "plain-list" }, files.map((a) => el("li", {},
        el("a", { href: a.download_url, rel: "noopener", attrs: { "aria-label": t("case.download", { name: a.filename }) } }, a.filename),
        ` (${Math.max(1, Math.round((a.size || 0) / 1024))} KB)`))));
    }

    clocks() {
      const clocks = this.case.clocks || [];
      if (!clocks.length) return null;
      return panel("case-clocks", t("case.clocks"), el("ul", { className: "clock-list" }, clocks.map((k) => {
        const state = C.clockState(k);
        const when = k.stopped_at ? t("sla.stopped_at", { at: C.dateTime(k.stopped_at) })
          : k.paused_since ? t("sla.paused_since", { at: C.dateTime(k.paused_since) }) : C.dateTime(k.due_at);
        return el("li", { className: `clock clock-${state}`, dataset: { clock: k.name } },
          el("span", { className: "clock-name" }, clockLabel(k)), " ",
          el("span", { className: "clock-kind" }, `(${k.kind}${k.target_text ? `, ${k.target_text}` : ""})`), " ",
          C.slaBadge(state, k.stopped_at ? null : k.due_at), " ", el("span", { className: "clock-when" }, when));
      })));
    }

    components(components) {
      return el("ul", { className: "plan-components" }, components.map((p) => el("li", {},
        el("strong", {}, I18n.label("plan", p.type)),
        p.amount ? ` ${p.amount} ${p.currency || ""}` : "", p.description ? ` — ${p.description}` : "")));
    }

    plan() {
      const plan = this.case.plan;
      if (!plan) return null;
      const reasons = plan.approval && plan.approval.reasons && plan.approval.reasons.length
        ? el("p", { className: "help" }, t("case.plan_reasons", { reasons: plan.approval.reasons.join("; ") })) : null;
      return panel("case-plan", t("case.plan"),
        el("p", { id: "plan-state" }, t("case.plan_state", { state: I18n.label("planstate", plan.state) })),
        this.components(plan.components || []),
        plan.explanation ? el("p", { className: "prewrap" }, plan.explanation) : null,
        plan.internal_note ? el("p", { className: "prewrap internal-note" }, el("span", { className: "tag internal-tag" }, t("case.internal")), " ", plan.internal_note) : null,
        reasons);
    }

    tasks() {
      const tasks = this.case.tasks || [];
      if (!tasks.length) return null;
      return panel("case-tasks", t("case.tasks"), el("ul", { className: "plain-list" }, tasks.map((task) => {
        const row = el("li", { className: `task task-${task.state}` },
          el("strong", {}, task.title), ` · ${I18n.label("department", task.department)} · `,
          task.state === "open" ? t("case.task_due", { at: C.dateTime(task.due_at) })
            : `${t(task.state === "done" ? "case.task_done" : "case.task_cancelled")}${task.outcome ? `: ${task.outcome}` : ""}`);
        if (task.state === "open" && this.canWork()) {
          const outcomeId = `task-outcome-${task.task_id}`;
          const stateId = `task-state-${task.task_id}`;
          row.append(this.form(`task-form-${task.task_id}`, [
            this.input(stateId, { name: "state", label: t("case.task_close"), options: [["done", t("case.task_done")], ["cancelled", t("case.task_cancelled")]] }),
            this.input(outcomeId, { name: "outcome", label: t("case.task_outcome"), required: true }),
          ], t("case.task_close"), (form, button) => this.post(
            `/staff/complaints/${this.case.complaint_id}/tasks/${encodeURIComponent(task.task_id)}`,
            { state: form.elements.state.value, outcome: form.elements.outcome.value.trim() }, t("case.task_close"), button), "secondary"));
        }
        return row;
      })));
    }

    suggestionsPanel() {
      const s = this.suggestions;
      if (!s) return null;
      const responses = (s.responses || []).map((r) => el("li", { className: "response" },
        el("span", { className: "response-title" }, r.title), " ",
        el("button", { type: "button", className: "secondary small insert-response", dataset: { responseId: r.response_id },
          attrs: { "aria-label": t("case.insert", { title: r.title }) }, on: { click: () => this.insert(r) } },
        t("case.insert_short"))));
      const similar = (s.similar_cases || []).map((c) => el("li", {},
        el("a", { href: C.hashFor("case", c.complaint_id) }, c.complaint_id), ` ${c.title || ""} · `,
        t("case.similar_score", { score: C.percent(c.score) }),
        c.plan && c.plan.explanation ? el("p", { className: "help" }, c.plan.explanation) : null));
      return panel("case-suggestions", t("case.suggestions"),
        el("h3", {}, t("case.responses")),
        responses.length ? el("ul", { className: "plain-list" }, responses) : el("p", { className: "empty" }, t("case.responses_empty")),
        el("h3", {}, t("case.similar")),
        similar.length ? el("ul", { className: "plain-list" }, similar) : el("p", { className: "empty" }, t("case.similar_empty")));
    }

    /** A canned response into the message box (or the plan's explanation), placeholders we know filled. */
    insert(response) {
      const c = this.case;
      const text = response.text.split("{number}").join(c.complaint_id)
        .split("{name}").join((c.customer && c.customer.name) || "{name}");
      let target;
      if (response.purpose === "resolution" && document.getElementById("plan-explanation")) {
        document.getElementById("propose-details").open = true;
        target = document.getElementById("plan-explanation");
      } else {
        target = document.getElementById("write-text");
        const kind = document.getElementById(response.purpose === "request_information" ? "write-kind-request_information" : "write-kind-reply");
        if (kind && !kind.disabled) kind.checked = true;
      }
      if (!target) return;
      target.value = text;
      target.focus();
      C.announce(t("case.inserted", { title: response.title }), "info");
    }

    // -- the actions -------------------------------------------------------------------------------------------
    canWork() {
      return ["agent", "lead", "manager"].includes(this.who.role);
    }

    actions() {
      const c = this.case;
      const who = this.who;
      const box = el("p", { id: "action-status", className: "notice", hidden: true, tabIndex: -1, attrs: { role: "status" } });
      const parts = [box];
      if (!this.canWork()) return panel("case-actions", t("action.heading"), ...parts);
      const open = OPEN.includes(c.status);
      const writable = WRITABLE.includes(c.status);
      const quick = el("div", { className: "button-row" });
      if (!c.assignee && c.department && open && (who.role === "agent" || who.role === "lead")) {
        quick.append(el("button", { type: "button", className: "primary", id: "claim-button",
          on: { click: (e) => this.post(`/staff/complaints/${c.complaint_id}/claim`, {}, t("action.claim"), e.currentTarget) } }, t("action.claim")));
      }
      if (c.status === "assigned" && c.assignee === who.subject) {
        quick.append(el("button", { type: "button", className: "primary", id: "accept-button",
          on: { click: (e) => this.act("accept", {}, t("action.accept"), e.currentTarget) } }, t("action.accept")));
      }
      if (quick.children.length) parts.push(quick);
      parts.push(this.writeForm(writable));
      if (c.plan && c.plan.state === "pending_approval" && who.role === "manager") parts.push(this.approvalForm());
      if (writable) parts.push(this.proposeForm(), this.resolveForm());
      parts.push(this.moreActions(open));
      return panel("case-actions", t("action.heading"), ...parts);
    }

    writeForm(writable) {
      const kinds = ["reply", "request_information", "note"];
      const fieldset = el("fieldset", { className: "kinds" }, el("legend", {}, t("action.write_kind")),
        kinds.map((kind) => {
          const id = `write-kind-${kind}`;
          const disabled = kind !== "note" && !writable;
          const radio = el("input", { type: "radio", name: "kind", id, value: kind, disabled,
            checked: writable ? kind === "reply" : kind === "note" });
          radio.dataset.draft = "";
          return el("span", { className: "choice" }, radio, el("label", { htmlFor: id }, t(`action.${kind}`)));
        }));
      const labels = { reply: t("action.reply"), request_information: t("action.request_information"), note: t("action.note") };
      return el("div", { className: "action-block" }, el("h3", {}, t("action.write")),
        this.form("write-form", [fieldset, this.input("write-text", { name: "text", label: t("action.text"), textarea: true, rows: 6, required: true })],
          t("action.send"), (form, button) => {
            const kind = form.querySelector('input[name="kind"]:checked').value;
            return this.act(kind, { text: form.elements.text.value.trim() }, labels[kind], button);
          }));
    }

    proposeForm() {
      const rows = PLAN_TYPES.map((type) => {
        const check = el("input", { type: "checkbox", id: `plan-type-${type}`, name: "type", value: type });
        check.dataset.draft = "";
        const extra = MONEY_TYPES.includes(type)
          ? el("div", { className: "inline-fields" },
            this.input(`plan-type-${type}-amount`, { name: `${type}-amount`, label: t("action.amount"), type: "number", step: "0.01", min: 0, inputmode: "decimal" }),
            this.input(`plan-type-${type}-currency`, { name: `${type}-currency`, label: t("action.currency"), value: "CNY", options: [["CNY", "CNY"], ["USD", "USD"], ["EUR", "EUR"]] }))
          : this.input(`plan-type-${type}-description`, { name: `${type}-description`, label: t("action.component_description") });
        extra.hidden = true;
        check.addEventListener("change", () => { extra.hidden = !check.checked; });
        return el("div", { className: "component" }, el("span", { className: "choice" }, check, el("label", { htmlFor: `plan-type-${type}` }, I18n.label("plan", type))), extra);
      });
      const form = this.form("propose-form", [
        el("fieldset", { className: "components" }, el("legend", {}, t("action.components")), rows),
        this.input("plan-explanation", { name: "explanation", label: t("action.explanation"), textarea: true, rows: 4, required: true }),
        this.input("plan-internal-note", { name: "internal_note", label: t("action.internal_note"), textarea: true, rows: 2 }),
      ], t("action.propose_submit"), (f, button) => {
        const components = [];
        for (const type of PLAN_TYPES) {
          if (!document.getElementById(`plan-type-${type}`).checked) continue;
          if (MONEY_TYPES.includes(type)) {
            components.push({ type, amount: f.elements[`${type}-amount`].value, currency: f.elements[`${type}-currency`].value });
          } else {
            const description = f.elements[`${type}-description`].value.trim();
            components.push(description ? { type, description } : { type });
          }
        }
        if (!components.length) {
          this.status(t("action.pick_component"), "error");
          document.getElementById("plan-type-refund").focus();
          return null;
        }
        const note = f.elements.internal_note.value.trim();
        return this.act("propose_resolution", { components, explanation: f.elements.explanation.value.trim(),
          ...(note ? { internal_note: note } : {}) }, t("action.propose"), button);
      });
      return el("details", { className: "action-block", id: "propose-details" }, el("summary", {}, t("action.propose")), form);
    }

    resolveForm() {
      return el("details", { className: "action-block", id: "resolve-details" }, el("summary", {}, t("action.resolve")),
        this.form("resolve-form", [this.input("resolve-text", { name: "text", label: t("action.resolve_text"), textarea: true, rows: 3 })],
          t("action.resolve"), (form, button) => {
            const text = form.elements.text.value.trim();
            return this.act("resolve", text ? { text } : {}, t("action.resolve"), button);
          }));
    }

    approvalForm() {
      const form = el("form", { id: "approval-form", className: "action-form" },
        this.input("approval-comment", { name: "comment", label: t("action.comment"), textarea: true, rows: 2 }),
        el("div", { className: "button-row" },
          el("button", { type: "submit", value: "approve", className: "primary" }, t("action.approve")),
          el("button", { type: "submit", value: "reject_plan", className: "danger" }, t("action.reject_plan"))));
      form.addEventListener("submit", (event) => {
        event.preventDefault();
        const button = event.submitter;
        const comment = form.elements.comment.value.trim();
        if (button.value === "reject_plan" && !comment) {
          this.status(t("action.required", { field: t("action.comment") }), "error");
          form.elements.comment.focus();
          return;
        }
        this.act(button.value, comment ? { comment } : {}, button.textContent, button);
      });
      return el("div", { className: "action-block" }, el("h3", {}, t("case.plan")), form);
    }

    moreActions(open) {
      const c = this.case;
      const departments = C.DEPARTMENTS.map((d) => [d, I18n.label("department", d)]);
      const blocks = [];
      if (open) {
        blocks.push(el("div", { className: "action-block" }, el("h3", {}, t("action.escalate")),
          this.form("escalate-form", [this.input("escalate-reason", { name: "reason", label: t("action.reason"), required: true })],
            t("action.escalate"), (f, b) => this.act("escalate", { reason: f.elements.reason.value.trim() }, t("action.escalate"), b), "secondary")));
        blocks.push(el("div", { className: "action-block" }, el("h3", {}, t("action.open_task")),
          this.form("task-form", [
            this.input("task-department", { name: "department", label: t("action.task_department"), options: departments, value: "quality" }),
            this.input("task-title", { name: "title", label: t("action.task_title"), required: true }),
            this.input("task-details", { name: "details", label: t("action.task_details"), textarea: true, rows: 2 }),
            this.input("task-due", { name: "due", label: t("action.task_due"), type: "date" }),
          ], t("action.open_task"), (f, b) => {
            const body = { department: f.elements.department.value, title: f.elements.title.value.trim() };
            if (f.elements.details.value.trim()) body.details = f.elements.details.value.trim();
            if (f.elements.due.value) body.due_at = `${f.elements.due.value}T09:00:00+08:00`;
            return this.act("open_task", body, t("action.open_task"), b);
          }, "secondary")));
        blocks.push(el("div", { className: "action-block" }, el("h3", {}, t("action.transfer")),
          this.form("transfer-form", [
            this.input("transfer-department", { name: "department", label: t("action.transfer_department"),
              options: [["", t("app.none")]].concat(departments), value: "" }),
            this.input("transfer-handler", { name: "handler_id", label: t("action.transfer_handler") }),
            this.input("transfer-reason", { name: "reason", label: t("action.reason"), required: true }),
          ], t("action.transfer"), (f, b) => {
            const body = { reason: f.elements.reason.value.trim() };
            if (f.elements.handler_id.value.trim()) body.handler_id = f.elements.handler_id.value.trim();
            else body.department = f.elements.department.value;
            return this.post(`/staff/complaints/${c.complaint_id}/transfer`, body, t("action.transfer"), b);
          }, "secondary")));
      }
      if (c.status === "resolved" || c.status === "closed") {
        blocks.push(el("div", { className: "action-block" }, el("h3", {}, t("action.reopen")),
          this.form("reopen-form", [this.input("reopen-reason", { name: "reason", label: t("action.reason"), required: true })],
            t("action.reopen"), (f, b) => this.act("reopen", { reason: f.elements.reason.value.trim() }, t("action.reopen"), b), "secondary")));
      }
      if (!blocks.length) return null;
      return el("details", { className: "more-actions", id: "more-actions" }, el("summary", {}, t("action.more")), ...blocks);
    }
  }

  C.routes.case = async function caseView(view, route, who) {
    const page = new CasePage(route.arg, who, view);
    if (await page.load()) page.draw();
  };
})();
