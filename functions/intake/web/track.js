/* The tracking page: look a complaint up by number and tracking token and show its status and history.
 *
 * The token arrives in the address's fragment (#token=...), which browsers never send to a server,
 * and leaves only in the X-Tracking-Token header of the look-up.
 */
"use strict";

(function () {
  const I18N = window.ComplaintI18n;
  const { t } = I18N;
  const { request, el, formatDateTime, genericError } = window.ComplaintCommon;

  const form = document.getElementById("track-form");
  const numberInput = document.getElementById("t-number");
  const tokenInput = document.getElementById("t-token");
  const button = document.getElementById("track-button");
  const message = document.getElementById("track-message");
  const section = document.getElementById("case");

  let lastCase = null;
  let messageState = null; // {key} or {text}
  const fieldErrors = new Map(); // "number" | "token" -> key
  let loading = false;

  // -- prefill from ?id= and #token= ---------------------------------------------------------------
  const query = new URLSearchParams(location.search);
  const fragment = new URLSearchParams(location.hash.replace(/^#/, ""));
  if (query.get("id")) numberInput.value = query.get("id");
  if (fragment.get("token")) tokenInput.value = fragment.get("token");

  function normaliseNumber(text) {
    return text.replace(/[\s-]+/g, "").toUpperCase();
  }

  // -- messages --------------------------------------------------------------------------------------

  function renderFieldErrors() {
    for (const [name, field] of [["number", numberInput], ["token", tokenInput]]) {
      const key = fieldErrors.get(name);
      document.getElementById(`err-${name}`).textContent = key ? t(key) : "";
      if (key) field.setAttribute("aria-invalid", "true");
      else field.removeAttribute("aria-invalid");
      field.closest(".field").classList.toggle("has-error", Boolean(key));
    }
  }

  function renderMessage() {
    if (!messageState) {
      message.hidden = true;
      message.textContent = "";
      return;
    }
    message.hidden = false;
    message.textContent = messageState.key ? t(messageState.key) : messageState.text;
  }

  function showMessage(state) {
    messageState = state;
    renderMessage();
  }

  // -- the case ---------------------------------------------------------------------------------------

  function label(prefix, value) {
    const key = `${prefix}.${value}`;
    return I18N.has(key) ? t(key) : String(value || "").replace(/_/g, " ");
  }

  function fact(rowId, valueId, text) {
    const row = document.getElementById(rowId);
    if (row) row.hidden = !text;
    document.getElementById(valueId).textContent = text || "";
  }

  function renderCase() {
    if (!lastCase) {
      section.hidden = true;
      return;
    }
    const c = lastCase;
    document.getElementById("case-number").textContent = String(c.complaint_id || "");
    const badge = document.getElementById("case-status");
    badge.textContent = label("status", c.status);
    badge.className = `status-badge status-${String(c.status || "").replace(/[^a-z_]/g, "")}`;

    const title = document.getElementById("case-title");
    title.textContent = c.title ? String(c.title) : "";
    title.hidden = !c.title;
    const description = document.getElementById("case-description");
    description.textContent = c.description ? String(c.description) : "";
    description.hidden = !c.description;

    fact(null, "case-received", formatDateTime(c.received_at));
    fact(null, "case-updated", formatDateTime(c.updated_at));
    fact("case-category-row", "case-category", c.category ? label("category", c.category) : "");
    fact("case-department-row", "case-department", c.department ? label("department", c.department) : "");

    const timeline = document.getElementById("case-timeline");
    const entries = Array.isArray(c.timeline) ? [...c.timeline] : [];
    entries.sort((a, b) => String(b.at).localeCompare(String(a.at))); // newest first
    timeline.replaceChildren(
      ...entries.map((entry) =>
        el(
          "li",
          { className: `timeline-item kind-${String(entry.kind || "").replace(/[^a-z_]/g, "")}` },
          el(
            "div",
            { className: "timeline-head" },
            el("span", { className: "timeline-kind" }, label("kind", entry.kind)),
            entry.status && entry.kind === "status_changed"
              ? el("span", { className: `status-badge small status-${String(entry.status).replace(/[^a-z_]/g, "")}` },
                  label("status", entry.status))
              : null,
            el("time", { className: "timeline-time", dateTime: String(entry.at || "") }, formatDateTime(entry.at)),
          ),
          entry.text ? el("p", { className: "timeline-text" }, String(entry.text)) : null,
        ),
      ),
    );
    if (!entries.length) timeline.append(el("li", { className: "timeline-empty" }, t("track.timeline_empty")));
    section.hidden = false;
  }

  // -- look-up -----------------------------------------------------------------------------------------

  function setLoading(on) {
    loading = on;
    button.disabled = on;
    button.setAttribute("aria-busy", String(on));
    button.textContent = t(on ? "track.loading" : "track.submit");
  }

  async function lookUp() {
    if (loading) return;
    fieldErrors.clear();
    const number = normaliseNumber(numberInput.value);
    const token = tokenInput.value.trim();
    if (!number) fieldErrors.set("number", "validation.required");
    if (!token) fieldErrors.set("token", "validation.required");
    renderFieldErrors();
    if (fieldErrors.size) {
      showMessage(null);
      (number ? tokenInput : numberInput).focus();
      return;
    }
    setLoading(true);
    const answer = await request(`/complaints/${encodeURIComponent(number)}`, {
      method: "GET",
      headers: { "X-Tracking-Token": token, Accept: "application/json" },
    });
    setLoading(false);
    if (answer.ok && answer.body) {
      lastCase = answer.body;
      showMessage(null);
      renderCase();
      document.getElementById("case-heading").focus();
      return;
    }
    lastCase = null;
    renderCase();
    const code = answer.body && answer.body.error;
    if (answer.status === 404) {
      showMessage({ key: "track.not_found" });
    } else if (answer.status === 400 && code === "invalid_complaint_number") {
      fieldErrors.set("number", "track.invalid_number");
      renderFieldErrors();
      showMessage({ key: "track.invalid_number" });
      numberInput.focus();
    } else {
      showMessage({ text: genericError(answer) });
    }
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    lookUp();
  });

  for (const [name, field] of [["number", numberInput], ["token", tokenInput]]) {
    field.addEventListener("input", () => {
      if (fieldErrors.delete(name)) renderFieldErrors();
    });
  }

  I18N.onChange(() => {
    renderFieldErrors();
    renderMessage();
    renderCase();
    button.textContent = t(loading ? "track.loading" : "track.submit");
  });

  if (numberInput.value && tokenInput.value) lookUp();
})();
