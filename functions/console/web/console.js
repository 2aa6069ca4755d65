/* The console's start: sign-in (dev picker locally, Cognito's hosted UI in AWS), the header (who is
 * signed in, unread alerts, language, sign out) and the router. Loaded last, after the views. */
"use strict";

(function () {
  const C = window.ConsoleCore;
  const { el, t, I18n } = C;
  let inbox = { count: null, more: false };

  // -- sign-in ---------------------------------------------------------------------------------------------
  C.routes["sign-in"] = async function signInView(view) {
    view.append(el("h1", {}, t("signin.heading")), el("p", { className: "lede" }, t("signin.intro")));
    const cognito = C.config.cognito;
    if (cognito) {
      view.append(el("p", {}, el("button", { type: "button", className: "primary", id: "cognito-sign-in",
        on: { click: () => { window.location.assign(C.cognitoLoginUrl()); } } }, t("signin.cognito"))));
    }
    if (C.config.dev) {
      const res = await C.api("/console/dev-token");
      const list = el("ul", { className: "persona-list", id: "personas" });
      if (res.ok) {
        for (const person of res.body.personas) {
          const label = t("signin.as", { name: person.name });
          list.append(el("li", {}, el("button", { type: "button", className: "persona", dataset: { subject: person.subject },
            attrs: { "aria-label": `${label} (${I18n.label("role", person.role)})` },
            on: { click: (event) => devSignIn(person, event.currentTarget) } },
          el("span", { className: "persona-name" }, person.name),
          el("span", { className: "persona-role" }, I18n.label("role", person.role)),
          el("span", { className: "persona-departments" }, person.departments.map((d) => I18n.label("department", d)).join(", ")))));
        }
      } else list.append(el("li", { className: "notice error" }, C.problem(res)));
      view.append(el("section", { className: "panel", attrs: { "aria-labelledby": "dev-heading" } },
        el("h2", { id: "dev-heading" }, t("signin.dev_heading")), el("p", { className: "help" }, t("signin.dev_note")), list));
    }
    if (!cognito && !C.config.dev) view.append(el("p", { className: "notice error" }, t("signin.none")));
  };

  async function devSignIn(person, button) {
    button.disabled = true;
    const res = await C.api("/console/dev-token", { query: { name: person.name, role: person.role } });
    button.disabled = false;
    if (!res.ok || !res.body.token) {
      C.announce(t("signin.failed"), "error");
      return;
    }
    C.signIn(res.body.token);
    C.announce(t("signin.done", { name: person.name }), "success");
    C.go(person.role === "manager" || person.role === "auditor" ? "#/dashboard" : "#/queue");
  }

  function signOut() {
    C.signOut();
    const cognito = C.config.cognito;
    if (cognito && !C.config.dev) {
      window.location.assign(cognito.logout_url);
      return;
    }
    C.go("#/sign-in");
  }

  // -- the header -------------------------------------------------------------------------------------------
  function drawInbox() {
    const badge = document.getElementById("inbox-count");
    if (inbox.count === null) {
      badge.hidden = true;
      return;
    }
    const count = `${inbox.count}${inbox.more ? "+" : ""}`;
    badge.hidden = false;
    badge.textContent = count;
    badge.setAttribute("aria-label", t("app.inbox_unread", { count }));
    badge.title = t("app.inbox_unread", { count });
  }

  window.ConsoleApp = {
    header(who) {
      const user = document.getElementById("user-menu");
      user.hidden = !who;
      document.getElementById("main-nav").hidden = !who;
      if (who) {
        document.getElementById("user-name").textContent = t("app.signed_in_as", { name: who.name, role: I18n.label("role", who.role) });
        const reports = ["manager", "auditor", "lead"].includes(who.role);
        document.querySelector('[data-nav="dashboard"]').parentElement.hidden = !reports;
      }
      drawInbox();
    },
    setInboxCount(count, more) {
      inbox = { count, more };
      drawInbox();
    },
    adjustInboxCount(delta) {
      if (inbox.count !== null) inbox.count = Math.max(0, inbox.count + delta);
      drawInbox();
    },
  };

  // -- start -------------------------------------------------------------------------------------------------
  function start() {
    I18n.apply();
    document.querySelectorAll("[data-set-lang]").forEach((button) => {
      button.addEventListener("click", () => I18n.set(button.dataset.setLang));
    });
    I18n.onChange(() => C.render());
    document.getElementById("sign-out").addEventListener("click", signOut);
    C.setUnauthorizedHandler(() => {
      C.announce(t("app.session_expired"), "error");
      C.go("#/sign-in");
    });
    const picked = C.pickUpCognitoToken();
    if (picked === "state_mismatch") C.announce(t("signin.state_mismatch"), "error");
    window.addEventListener("hashchange", () => C.render());
    C.render();
    window.setInterval(async () => { // unread alerts, every minute while signed in
      if (!C.session()) return;
      const res = await C.api("/staff/inbox", { query: { unread: "true", limit: 25 } });
      if (res.ok) window.ConsoleApp.setInboxCount(res.body.items.length, Boolean(res.body.next_cursor));
    }, 60000);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
