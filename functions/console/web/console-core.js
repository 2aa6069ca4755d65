/* The console's core: the signed-in session, API calls, DOM building, formatting, SLA states and
 * the hash router. The views (console-queue.js, console-case.js, console-dashboard.js) build on it.
 *
 * The bearer token lives in sessionStorage (this tab only, gone when it closes); every API call
 * sends it as Authorization: Bearer. User-provided text only ever reaches the page through
 * textContent and DOM APIs, never innerHTML.
 */
"use strict";

(function () {
  const I18n = window.ConsoleI18n;
  const t = I18n.t;
  const config = JSON.parse(document.getElementById("console-config").textContent || "{}");
  const BASE = config.base || "";
  const TOKEN_KEY = "complaints.console.token";
  const STATE_KEY = "complaints.console.signin_state";

  // -- DOM ------------------------------------------------------------------------------------------
  /** el("li", {className, dataset, attrs, on}, "text", child...) */
  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (key === "dataset") Object.assign(node.dataset, value);
      else if (key === "attrs") for (const [name, v] of Object.entries(value)) { if (v !== null && v !== undefined && v !== false) node.setAttribute(name, v); }
      else if (key === "on") for (const [name, fn] of Object.entries(value)) node.addEventListener(name, fn);
      else node[key] = value;
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  /** A labelled form control: field({label, name, type|options|textarea, value, help, required}). */
  function field(spec) {
    const id = spec.id || `f-${spec.name}-${Math.random().toString(36).slice(2, 8)}`;
    let control;
    if (spec.options) {
      control = el("select", { id, name: spec.name });
      for (const [value, label] of spec.options) {
        control.append(el("option", { value, selected: String(spec.value ?? "") === String(value) }, label));
      }
    } else if (spec.textarea) {
      control = el("textarea", { id, name: spec.name, rows: spec.rows || 4, value: spec.value || "" });
    } else {
      control = el("input", { id, name: spec.name, type: spec.type || "text", value: spec.value ?? "" });
      if (spec.step) control.step = spec.step;
      if (spec.min !== undefined) control.min = spec.min;
      if (spec.inputmode) control.inputMode = spec.inputmode;
    }
    if (spec.required) control.required = true;
    if (spec.autocomplete) control.autocomplete = spec.autocomplete;
    const help = spec.help ? el("p", { className: "help", id: `${id}-help` }, spec.help) : null;
    if (help) control.setAttribute("aria-describedby", help.id);
    return el("div", { className: `field ${spec.className || ""}`.trim() }, el("label", { htmlFor: id }, spec.label), control, help);
  }

  // -- the session -----------------------------------------------------------------------------------
  function decodeClaims(token) {
    try {
      const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
      const json = decodeURIComponent(Array.from(atob(part + "===".slice((part.length + 3) % 4)))
        .map((c) => `%${c.charCodeAt(0).toString(16).padStart(2, "0")}`).join(""));
      return JSON.parse(json);
    } catch (_) {
      return null;
    }
  }

  const ROLE_PRECEDENCE = ["admin", "manager", "lead", "agent", "auditor"];

  /** The signed-in person as the API will see them (shared/auth.py reads the same claims). */
  function session() {
    let token = null;
    try {
      token = window.sessionStorage.getItem(TOKEN_KEY);
    } catch (_) { /* storage off: nobody signed in */ }
    if (!token) return null;
    const claims = decodeClaims(token);
    if (!claims || (claims.exp && claims.exp * 1000 < Date.now())) {
      signOut();
      return null;
    }
    const groups = claims["cognito:groups"] || [];
    const role = claims.role || ROLE_PRECEDENCE.find((r) => groups.includes(r)) || null;
    let departments = claims.departments;
    if (departments === undefined) departments = String(claims["custom:departments"] || "").split(",").filter(Boolean);
    if (typeof departments === "string") departments = [departments];
    return {
      token, role, departments: departments || [], subject: claims.sub,
      name: claims.name || claims["cognito:username"] || claims.email || claims.sub, expires: claims.exp,
    };
  }

  function signIn(token) {
    window.sessionStorage.setItem(TOKEN_KEY, token);
  }

  function signOut() {
    try {
      window.sessionStorage.removeItem(TOKEN_KEY);
    } catch (_) { /* nothing stored */ }
  }

  /** Cognito's hosted UI: the login URL the server built, with a fresh state kept in this tab. */
  function cognitoLoginUrl() {
    if (!config.cognito) return null;
    const bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    const state = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
    window.sessionStorage.setItem(STATE_KEY, state);
    return `${config.cognito.login_url}&state=${state}`;
  }

  /** The hosted UI came back with #id_token=...&state=...: keep the token, clear the address. */
  function pickUpCognitoToken() {
    const hash = window.location.hash || "";
    if (!/[#&]id_token=/.test(hash)) return null;
    const answer = new URLSearchParams(hash.slice(1));
    const expected = window.sessionStorage.getItem(STATE_KEY);
    window.sessionStorage.removeItem(STATE_KEY);
    window.history.replaceState(null, "", window.location.pathname + window.location.search + "#/queue");
    if (!expected || answer.get("state") !== expected) return "state_mismatch";
    signIn(answer.get("id_token"));
    return "signed_in";
  }

  // -- API calls ---------------------------------------------------------------------------------------
  let onUnauthorized = () => {};

  /** fetch() that always resolves: {ok, status, body}. A 401 ends the session. */
  async function api(path, options) {
    const opts = options || {};
    const headers = { Accept: "application/json" };
    const who = session();
    if (who) headers.Authorization = `Bearer ${who.token}`;
    let body;
    if (opts.body !== undefined) {
      headers["Content-Type"] = "application/json";
      body = JSON.stringify(opts.body);
    }
    let query = "";
    if (opts.query) {
      const params = new URLSearchParams();
      for (const [key, value] of Object.entries(opts.query)) {
        if (value !== undefined && value !== null && value !== "") params.append(key, value);
      }
      query = params.toString() ? `?${params}` : "";
    }
    let response;
    try {
      response = await fetch(BASE + path + query, { method: opts.method || "GET", headers, body, cache: "no-store" });
    } catch (_) {
      return { ok: false, status: 0, body: null };
    }
    let parsed = null;
    const text = await response.text().catch(() => "");
    if (text) {
      try {
        parsed = JSON.parse(text);
      } catch (_) {
        parsed = null;
      }
    }
    if (response.status === 401 && who) {
      signOut();
      onUnauthorized();
    }
    return { ok: response.ok, status: response.status, body: parsed };
  }

  /** A short sentence for a failed call. */
  function problem(res) {
    if (!res.status) return t("app.network_error");
    if (res.status === 403) return t("app.forbidden", { message: (res.body && res.body.message) || "" });
    if (res.status === 404) return t("app.not_found");
    if (res.status === 400 || res.status === 422) {
      const details = ((res.body && res.body.details) || []).map((d) => `${d.field}: ${d.problem}`).join("; ");
      return t("case.invalid", { details: details || (res.body && res.body.message) || "" });
    }
    if (res.status === 409) return t("case.refused", { message: (res.body && res.body.message) || "" });
    return t("app.server_error", { status: res.status });
  }

  // -- announcements (aria-live) ---------------------------------------------------------------------------
  function announce(message, kind) {
    const region = document.getElementById("live-status");
    region.textContent = "";
    region.className = `live-status ${kind || "info"}`;
    // a fresh text node after clearing: screen readers announce the same text twice in a row too
    window.setTimeout(() => { region.textContent = message; }, 30);
  }

  // -- formatting ------------------------------------------------------------------------------------------
  function locale() {
    return I18n.lang === "zh" ? "zh-CN" : "en-GB";
  }

  function dateTime(iso) {
    if (!iso) return t("app.none");
    const date = new Date(iso);
    if (Number.isNaN(date.getTime())) return String(iso);
    return new Intl.DateTimeFormat(locale(), { dateStyle: "medium", timeStyle: "short" }).format(date);
  }

  function dateOnly(iso) {
    if (!iso) return t("app.none");
    const date = new Date(iso.length === 10 ? `${iso}T00:00:00Z` : iso);
    return new Intl.DateTimeFormat(locale(), { dateStyle: "medium", timeZone: "UTC" }).format(date);
  }

  function duration(seconds) {
    const s = Math.abs(seconds);
    if (s >= 2 * 86400) return t("time.days", { n: Math.round(s / 86400) });
    if (s >= 3600) return t("time.hours", { n: Math.round(s / 360) / 10 });
    return t("time.minutes", { n: Math.max(1, Math.round(s / 60)) });
  }

  function number(value, digits) {
    if (value === null || value === undefined) return t("app.none");
    return new Intl.NumberFormat(locale(), { maximumFractionDigits: digits ?? 1 }).format(value);
  }

  function percent(value) {
    if (value === null || value === undefined) return t("app.none");
    return new Intl.NumberFormat(locale(), { style: "percent", maximumFractionDigits: 1 }).format(value);
  }

  // -- SLA states ------------------------------------------------------------------------------------------
  const AT_RISK_SHARE = 0.75; // of a clock's calendar time used (or a warning at that share sent)
  const ORDER = ["breached", "at_risk", "running", "paused", "missed", "met"];

  /** running / at_risk / breached / paused / met / missed for one clock of the API (shared.sla.clock_view). */
  function clockState(clock, now) {
    const at = now || Date.now();
    if (clock.state === "met" || clock.state === "missed" || clock.state === "paused" || clock.state === "breached") {
      return clock.state;
    }
    if (!clock.due_at) return "running";
    const due = Date.parse(clock.due_at);
    if (due <= at) return "breached";
    const started = Date.parse(clock.started_at || "");
    const used = Number.isFinite(started) && due > started ? (at - started) / (due - started) : 0;
    const warned = (clock.warnings_sent || []).some((share) => share >= AT_RISK_SHARE);
    return used >= AT_RISK_SHARE || warned ? "at_risk" : "running";
  }

  /** The state of a case: its worst clock, else from its nearest deadline (lists have due_at only). */
  function caseState(c, now) {
    const at = now || Date.now();
    if (Array.isArray(c.clocks) && c.clocks.length) {
      const states = c.clocks.map((k) => clockState(k, at));
      return ORDER.find((s) => states.includes(s)) || "running";
    }
    if (!c.due_at) return null;
    return clockState({ due_at: c.due_at, started_at: c.received_at }, at);
  }

  function nearestDue(c) {
    if (Array.isArray(c.clocks) && c.clocks.length) {
      const running = c.clocks.filter((k) => k.due_at && !k.stopped_at).map((k) => k.due_at).sort();
      return running[0] || c.due_at || null;
    }
    return c.due_at || null;
  }

  /** A badge with the state's colour AND its words (colour is never the only signal). */
  function slaBadge(state, due) {
    if (!state) return el("span", { className: "sla sla-none" }, t("sla.none"));
    const parts = [t(`sla.${state}`)];
    if (due && (state === "running" || state === "at_risk" || state === "breached")) {
      const left = (Date.parse(due) - Date.now()) / 1000;
      parts.push(left >= 0 ? t("sla.due_in", { time: duration(left) }) : t("sla.overdue", { time: duration(left) }));
    }
    return el("span", { className: `sla sla-${state}`, dataset: { sla: state } }, parts.join(" · "));
  }

  // -- labels ------------------------------------------------------------------------------------------------
  const DEPARTMENTS = ["customer_service", "quality", "logistics", "finance", "privacy"];
  const CATEGORIES = ["product_quality", "food_safety", "delivery_logistics", "service_attitude", "billing_price",
    "refund_after_sales", "privacy_security", "other"];
  const STATUSES = ["received", "classified", "assigned", "in_progress", "waiting_on_customer", "resolution_proposed",
    "resolved", "closed", "rejected", "withdrawn", "merged"];
  const PRIORITIES = ["P1", "P2", "P3", "P4"];
  const CHANNELS = ["web", "app", "hotline", "social", "email"];

  /** The departments one works in: the token's, or every known one for roles that see all of them. */
  function myDepartments(who) {
    if (who && who.departments && who.departments.length) return who.departments;
    return DEPARTMENTS;
  }

  function actorName(actor) {
    if (!actor) return t("app.none");
    if (actor.startsWith("staff:")) return actor.slice(6);
    return actor;
  }

  // -- the router ------------------------------------------------------------------------------------------------
  const routes = {};

  function parseHash() {
    const raw = (window.location.hash || "#/queue").replace(/^#/, "");
    const [path, query] = raw.split("?");
    const parts = path.split("/").filter(Boolean);
    return { view: parts[0] || "queue", arg: parts[1] ? decodeURIComponent(parts[1]) : null,
      params: new URLSearchParams(query || "") };
  }

  function hashFor(view, arg, params) {
    const query = params ? new URLSearchParams(Object.entries(params).filter(([, v]) => v !== null && v !== undefined && v !== "")).toString() : "";
    return `#/${view}${arg ? `/${encodeURIComponent(arg)}` : ""}${query ? `?${query}` : ""}`;
  }

  function go(hash) {
    if (window.location.hash === hash) render();
    else window.location.hash = hash;
  }

  let renderCount = 0;

  /** Render the view of the address; focus moves to its heading (screen readers hear where they are). */
  async function render() {
    const main = document.getElementById("main");
    const who = session();
    const route = parseHash();
    const view = who ? (routes[route.view] ? route.view : "queue") : "sign-in";
    const mine = ++renderCount;
    document.querySelectorAll("[data-nav]").forEach((link) => {
      if (link.dataset.nav === view) link.setAttribute("aria-current", "page");
      else link.removeAttribute("aria-current");
    });
    window.ConsoleApp.header(who);
    main.setAttribute("aria-busy", "true");
    const container = el("div", { className: `view view-${view}` });
    try {
      await routes[view](container, route, who, () => mine === renderCount);
    } finally {
      if (mine === renderCount) {
        main.replaceChildren(container);
        main.setAttribute("aria-busy", "false");
        const heading = container.querySelector("h1");
        if (heading) {
          heading.tabIndex = -1;
          heading.focus({ preventScroll: false });
        }
        document.title = `${heading ? heading.textContent : ""} · ${t("app.title")}`;
      }
    }
  }

  window.ConsoleCore = {
    config, I18n, t, el, field, api, problem, announce, session, signIn, signOut, cognitoLoginUrl, pickUpCognitoToken,
    dateTime, dateOnly, duration, number, percent, clockState, caseState, nearestDue, slaBadge, actorName,
    DEPARTMENTS, CATEGORIES, STATUSES, PRIORITIES, CHANNELS, myDepartments, routes, parseHash, hashFor, go, render,
    setUnauthorizedHandler(fn) { onUnauthorized = fn; },
  };
})();
