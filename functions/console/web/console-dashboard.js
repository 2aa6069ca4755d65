/* The manager dashboard (#/dashboard?period=&department=): GET /staff/reports and
 * GET /staff/reports/alerts (docs/reports.md for the JSON).
 *
 * Headline figures with their change against the previous period; charts (received and resolved
 * per day, received by category, SLA compliance per clock, satisfaction by department) drawn by
 * console-charts.js; alerts with their evidence. Every bar and point links to the cases behind it:
 * #/cases?<dimension>=<value>&since=<from>&until=<to> (GET /staff/complaints with those filters).
 */
"use strict";

(function () {
  const C = window.ConsoleCore;
  const Charts = window.ConsoleCharts;
  const { el, t, I18n } = C;
  const HEADLINE = ["received", "resolved", "closed", "open_backlog", "first_response_median_h", "resolution_median_h",
    "sla_compliance", "satisfaction_avg", "escalations", "reopened"];
  const SHARES = ["sla_compliance", "satisfaction_4_5_share", "survey_response_rate"];
  const LOWER_IS_BETTER = ["open_backlog", "first_response_median_h", "resolution_median_h", "first_response_p90_h",
    "resolution_p90_h", "escalations", "reopened", "repeats"];
  // a report dimension -> the case list's filter
  const FILTER_OF = { category: "category", department: "department", handler: "assignee", channel: "channel",
    priority: "priority", product: "product", batch: "batch" };

  function formatMeasure(measure, value) {
    if (value === null || value === undefined) return t("app.none");
    if (SHARES.includes(measure)) return C.percent(value);
    return C.number(value, measure.endsWith("_h") || measure === "satisfaction_avg" ? 1 : 0);
  }

  function formatChange(measure, change) {
    if (change === null || change === undefined) return null;
    if (change === 0) return t("dash.no_change");
    const sign = change > 0 ? "+" : "−";
    const size = SHARES.includes(measure)
      ? `${C.number(Math.abs(change) * 100, 1)} pt`
      : C.number(Math.abs(change), measure.endsWith("_h") || measure === "satisfaction_avg" ? 1 : 0);
    return t("dash.vs_previous", { change: `${sign}${size}` });
  }

  function currentMonth() {
    return new Date().toISOString().slice(0, 7);
  }

  /** ISO week of today, "2026-W47". */
  function currentWeek() {
    const now = new Date();
    const day = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()));
    const weekday = day.getUTCDay() || 7;
    day.setUTCDate(day.getUTCDate() + 4 - weekday);
    const yearStart = new Date(Date.UTC(day.getUTCFullYear(), 0, 1));
    const week = Math.ceil(((day - yearStart) / 86400000 + 1) / 7);
    return `${day.getUTCFullYear()}-W${String(week).padStart(2, "0")}`;
  }

  function drill(filters, period, scope) {
    const params = { ...filters, since: period.from, until: period.to };
    if (scope && scope.department && !params.department) params.department = scope.department;
    return C.hashFor("cases", null, params);
  }

  function periodForm(period, department, who) {
    const kind = /W/.test(period) ? "week" : "month";
    const departments = who.role === "lead" ? C.myDepartments(who) : C.DEPARTMENTS;
    const kindField = C.field({ name: "kind", label: t("dash.period_kind"), value: kind,
      options: [["month", t("dash.month")], ["week", t("dash.week")]] });
    const monthField = C.field({ name: "month", label: t("dash.month"), type: "month", value: kind === "month" ? period : currentMonth() });
    const weekField = C.field({ name: "week", label: t("dash.week"), type: "week", value: kind === "week" ? period : currentWeek() });
    const deptOptions = (who.role === "lead" ? [] : [["", t("dash.all_departments")]])
      .concat(departments.map((d) => [d, I18n.label("department", d)]));
    const deptField = C.field({ name: "department", label: t("dash.department"), value: department, options: deptOptions });
    const sync = () => {
      const isWeek = kindField.querySelector("select").value === "week";
      monthField.hidden = isWeek;
      weekField.hidden = !isWeek;
    };
    kindField.querySelector("select").addEventListener("change", sync);
    sync();
    const form = el("form", { className: "period-form", attrs: { "aria-label": t("dash.period") } },
      kindField, monthField, weekField, deptField,
      el("div", { className: "button-row" }, el("button", { type: "submit", className: "primary" }, t("dash.show"))));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const isWeek = form.elements.kind.value === "week";
      C.go(C.hashFor("dashboard", null, { period: isWeek ? form.elements.week.value : form.elements.month.value,
        department: form.elements.department.value }));
    });
    return form;
  }

  function figures(report) {
    const list = el("ul", { className: "figures", id: "figures" });
    for (const measure of HEADLINE) {
      const m = (report.totals || {})[measure] || {};
      const change = formatChange(measure, m.change);
      const better = m.change ? (LOWER_IS_BETTER.includes(measure) ? m.change < 0 : m.change > 0) : null;
      list.append(el("li", { className: "figure", dataset: { measure } },
        el("span", { className: "figure-label" }, I18n.label("measure", measure)),
        el("span", { className: "figure-value" }, formatMeasure(measure, m.value)),
        change ? el("span", { className: `figure-change ${better === null ? "" : better ? "better" : "worse"}` }, change) : null));
    }
    const money = Object.entries(report.compensation || {});
    if (money.length) {
      list.append(el("li", { className: "figure", dataset: { measure: "compensation" } },
        el("span", { className: "figure-label" }, t("dash.compensation")),
        el("span", { className: "figure-value" }, money.map(([cur, amount]) => `${amount} ${cur}`).join(" · "))));
    }
    return list;
  }

  function charts(report) {
    const period = report.period;
    const scope = report.scope || {};
    const out = [];
    const daily = report.daily || [];
    out.push(Charts.line({
      key: "daily", title: t("dash.daily"), tableLabel: t("dash.table"), labelHeader: t("chart.day"), emptyText: t("chart.no_data"),
      labels: daily.map((d) => d.day),
      series: [{ name: t("dash.received"), values: daily.map((d) => d.received) },
        { name: t("dash.resolved"), values: daily.map((d) => d.resolved) }],
      href: (i) => drill({}, { from: daily[i].day, to: daily[i].day }, scope),
      linkLabel: (label, value) => t("dash.drill", { label: `${label} (${value})` }),
    }));
    const byCategory = ((report.by || {}).category || []).filter((row) => row.received);
    if ((report.unavailable_dimensions || []).includes("category")) {
      out.push(el("p", { className: "help" }, `${t("dash.by_category")}: ${t("chart.no_data")}`));
    } else {
      out.push(Charts.bar({
        key: "by-category", title: t("dash.by_category"), tableLabel: t("dash.table"), labelHeader: t("col.category"),
        emptyText: t("chart.no_data"),
        labels: byCategory.map((row) => I18n.label("category", row.value)),
        series: [{ name: t("dash.received"), values: byCategory.map((row) => row.received) }],
        href: (i) => drill({ category: byCategory[i].value }, period, scope),
        linkLabel: (label, value) => t("dash.drill", { label: `${label} (${value})` }),
      }));
    }
    const sla = report.sla || [];
    out.push(Charts.bar({
      key: "sla", title: t("dash.sla"), tableLabel: t("dash.table"), labelHeader: t("col.sla"), emptyText: t("chart.no_data"),
      labels: sla.map((row) => I18n.label("clock", row.clock)), max: 1, format: (v) => C.percent(v),
      series: [{ name: I18n.label("measure", "sla_compliance"), values: sla.map((row) => row.compliance) }],
    }));
    const satisfaction = ((report.by || {}).department || []).filter((row) => row.satisfaction_avg !== null && row.satisfaction_avg !== undefined);
    out.push(Charts.bar({
      key: "satisfaction", title: t("dash.satisfaction"), tableLabel: t("dash.table"), labelHeader: t("col.department"),
      emptyText: t("chart.no_data"), max: 5, format: (v) => C.number(v, 2),
      labels: satisfaction.map((row) => I18n.label("department", row.value)),
      series: [{ name: I18n.label("measure", "satisfaction_avg"), values: satisfaction.map((row) => row.satisfaction_avg) }],
      href: (i) => drill({ department: satisfaction[i].value }, period, {}),
      linkLabel: (label, value) => t("dash.drill", { label: `${label} (${value})` }),
    }));
    return out;
  }

  function alertsPanel(res) {
    const heading = el("h2", { id: "alerts-heading" }, t("dash.alerts"));
    const section = el("section", { className: "panel", id: "alerts", attrs: { "aria-labelledby": "alerts-heading" } }, heading);
    if (!res.ok) {
      section.append(el("p", { className: "help" }, t("dash.alerts_unavailable")));
      return section;
    }
    const alerts = Array.isArray(res.body) ? res.body : res.body.alerts || [];
    if (!alerts.length) {
      section.append(el("p", { className: "empty" }, t("dash.alerts_empty")));
      return section;
    }
    section.append(el("ul", { className: "alert-list" }, alerts.map((a) => {
      const evidence = a.evidence || {};
      const cases = evidence.cases || evidence.complaint_ids || a.cases || [];
      const samples = evidence.sample_texts || evidence.samples || [];
      const dimension = a.dimension && FILTER_OF[a.dimension];
      const first = a.first_day || (a.period && a.period.from);
      const last = a.last_day || (a.period && a.period.to) || first;
      return el("li", { className: `alert alert-${a.kind || "other"}` },
        el("p", { className: "alert-reason" }, a.reason || a.message || `${a.kind || ""} ${a.dimension || ""} ${a.value || ""}`),
        dimension && a.value && first
          ? el("p", {}, el("a", { href: drill({ [dimension]: a.value }, { from: first, to: last }, {}) },
            t("dash.drill", { label: `${a.dimension} ${a.value}` }))) : null,
        cases.length ? el("p", {}, `${t("dash.alert_cases")}: `, ...cases.slice(0, 10).flatMap((id, i) => [
          i ? ", " : "", el("a", { href: C.hashFor("case", typeof id === "string" ? id : id.complaint_id) },
            typeof id === "string" ? id : id.complaint_id)])) : null,
        Array.isArray(evidence.days) && evidence.days.length ? el("p", { className: "help" }, `${t("dash.alert_days")}: `,
          evidence.days.map((d) => `${d.day} ${d.count}${d.expected !== undefined ? ` (${t("dash.expected")} ${C.number(d.expected, 1)})` : ""}`).join(" · ")) : null,
        samples.length ? el("ul", { className: "samples" }, samples.slice(0, 3).map((s) => el("li", {}, typeof s === "string" ? s : s.text || ""))) : null);
    })));
    return section;
  }

  C.routes.dashboard = async function dashboardView(view, route, who) {
    const period = route.params.get("period") || currentMonth();
    const department = route.params.get("department") || (who.role === "lead" ? C.myDepartments(who)[0] : "");
    const query = { period, department };
    const report = await C.api("/staff/reports", { query });
    view.append(el("h1", {}, t("dash.heading")), periodForm(period, department, who));
    if (!report.ok) {
      view.append(el("p", { className: "notice error", attrs: { role: "alert" } },
        report.status === 403 ? C.problem(report) : t("dash.unavailable", { status: report.status || "–" })));
      return;
    }
    const r = report.body;
    // the alerts whose episode began in the period (GET /staff/reports/alerts; docs/reports.md)
    const alerts = await C.api("/staff/reports/alerts", { query: { since: r.period.from, until: r.period.to, department } });
    view.append(
      el("p", { className: "lede", id: "report-range" }, t("dash.range", { from: C.dateOnly(r.period.from), to: C.dateOnly(r.period.to),
        pfrom: C.dateOnly(r.previous.from), pto: C.dateOnly(r.previous.to) })),
      el("section", { className: "panel", attrs: { "aria-labelledby": "figures-heading" } },
        el("h2", { id: "figures-heading" }, t("dash.figures")), figures(r)),
      el("div", { className: "chart-grid" }, ...charts(r)),
      alertsPanel(alerts),
      el("p", { className: "help" }, t("dash.items_read", { n: r.items_read ?? "–" })));
  };
})();
