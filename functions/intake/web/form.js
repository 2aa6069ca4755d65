/* The complaint form: client-side validation from the server's rules, attachment uploads straight
 * to storage, submission with an idempotency key, and the confirmation with number and token.
 *
 * Validation reads the rules the server embeds in <script id="form-rules"> (shared.models.FORM_RULES),
 * so both sides enforce the same limits; the server's own answer (details[].field) is shown inline too.
 */
"use strict";

(function () {
  const I18N = window.ComplaintI18n;
  const { t } = I18N;
  const { request, el, uuid, genericError, url } = window.ComplaintCommon;

  const RULES = JSON.parse(document.getElementById("form-rules").textContent || "{}");
  const MAX_FILES = (RULES.attachments && RULES.attachments.max_count) || 10;
  const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@.]+$/;

  const form = document.getElementById("complaint-form");
  const formSection = document.getElementById("form-section");
  const summary = document.getElementById("form-summary");
  const submitButton = document.getElementById("submit-button");
  const fileInput = document.getElementById("f-attachments");
  const fileList = document.getElementById("attachment-list");
  const languageSelect = form.elements["customer.preferred_language"];
  const resultSection = document.getElementById("result-section");

  // Field errors as {key, params} (client) or {problem} (server), re-rendered on a language switch.
  const errors = new Map();
  let summaryState = null; // {kind: "invalid" | "server" | "message", ...}
  let idempotencyKey = uuid(); // one per form fill; kept for a retry after a network error
  let submitting = false;
  let languageTouched = false;
  let attempted = false;

  // -- fields ----------------------------------------------------------------------------------

  function input(name) {
    const found = form.elements.namedItem(name);
    return found instanceof Element ? found : null;
  }

  function labelOf(name) {
    const field = input(name);
    const label = field && form.querySelector(`label[for="${CSS.escape(field.id)}"]`);
    return label ? label.textContent.replace(/\*/g, "").trim() : name;
  }

  function value(name) {
    const field = input(name);
    return field ? field.value.trim() : "";
  }

  function charCount(text) {
    return Array.from(text).length; // code points, as the server (Python) counts them
  }

  function today() {
    const now = new Date();
    const pad = (n) => String(n).padStart(2, "0");
    return `${now.getFullYear()}-${pad(now.getMonth() + 1)}-${pad(now.getDate())}`;
  }

  function describe(field, ids) {
    const existing = new Set((field.getAttribute("aria-describedby") || "").split(/\s+/).filter(Boolean));
    for (const id of ids) if (document.getElementById(id)) existing.add(id);
    field.setAttribute("aria-describedby", [...existing].join(" "));
  }

  /** The rule-driven check of one field; returns an error {key, params} or null. */
  function checkField(name) {
    const rule = RULES[name];
    const field = input(name);
    if (!field) return null;
    const text = value(name);
    if (field.type === "date") {
      if (field.validity && field.validity.badInput) return { key: "validation.date" };
      if (text && text > today()) return { key: "validation.future" };
    }
    if (!rule || typeof rule !== "object" || Array.isArray(rule)) return null;
    if (rule.required && !text) return { key: "validation.required" };
    if (!text) return null;
    if (rule.max_length && charCount(text) > rule.max_length) {
      return { key: "validation.max_length", params: { max: rule.max_length, count: charCount(text) } };
    }
    if (rule.format === "email" && !EMAIL.test(text)) return { key: "validation.email" };
    if (rule.pattern) {
      let pattern = null;
      try {
        pattern = new RegExp(rule.pattern);
      } catch (_) {
        pattern = null; // a server-only regex dialect: leave it to the server
      }
      if (pattern && !pattern.test(text)) {
        return { key: I18N.has(`validation.pattern.${name}`) ? `validation.pattern.${name}` : "validation.pattern" };
      }
    }
    if (rule.min_digits || rule.max_digits) {
      const digits = text.replace(/[^0-9]/g, "").length;
      const min = rule.min_digits || 0;
      const max = rule.max_digits || Infinity;
      if (digits < min || digits > max) return { key: "validation.digits", params: { min, max } };
    }
    return null;
  }

  /** Group rules ({one_of: [...]}) such as "customer.contact": one of the fields must be filled. */
  function checkGroup(name) {
    const rule = RULES[name];
    if (!rule || !Array.isArray(rule.one_of)) return null;
    const present = rule.one_of.filter((member) => input(member));
    if (!present.length) return null;
    return present.some((member) => value(member)) ? null : { key: `validation.${name.split(".").pop()}` };
  }

  function fieldNames() {
    const names = new Set();
    for (const element of form.elements) {
      if (element.name && element.type !== "hidden" && element.type !== "file") names.add(element.name);
    }
    return [...names];
  }

  function groupNames() {
    return Object.keys(RULES).filter((name) => RULES[name] && Array.isArray(RULES[name].one_of));
  }

  function membersOf(name) {
    const rule = RULES[name];
    return rule && Array.isArray(rule.one_of) ? rule.one_of : [name];
  }

  // -- showing errors ---------------------------------------------------------------------------

  function errorText(error) {
    if (!error) return "";
    if (error.problem !== undefined) return t("validation.server", { problem: error.problem });
    return t(error.key, error.params);
  }

  function renderError(name) {
    const box = document.getElementById(`err-${name}`);
    const error = errors.get(name);
    if (box) box.textContent = errorText(error);
    for (const member of membersOf(name)) {
      const field = input(member);
      if (!field) continue;
      const invalid = [member, ...groupNames().filter((g) => membersOf(g).includes(member))].some((n) =>
        errors.has(n),
      );
      if (invalid) field.setAttribute("aria-invalid", "true");
      else field.removeAttribute("aria-invalid");
      field.closest(".field")?.classList.toggle("has-error", invalid);
    }
  }

  function setError(name, error) {
    if (error) errors.set(name, error);
    else errors.delete(name);
    renderError(name);
  }

  function renderSummary() {
    summary.replaceChildren();
    if (!summaryState) {
      summary.hidden = true;
      return;
    }
    summary.hidden = false;
    if (summaryState.kind === "message") {
      summary.append(el("p", {}, t(summaryState.key, summaryState.params)));
      return;
    }
    if (summaryState.kind === "text") {
      summary.append(el("p", {}, summaryState.text));
      return;
    }
    const heading =
      summaryState.kind === "server"
        ? t("form.summary_server")
        : t("form.summary_invalid", { count: errors.size });
    const list = el("ul", {});
    for (const [name, error] of errors) {
      const target = input(membersOf(name)[0]) || (name === "attachments" ? fileInput : null);
      const label = name === "attachments"
        ? t("form.attachments")
        : membersOf(name).filter((member) => input(member)).map(labelOf).join(" / ") || name;
      const text = `${label}${/[?？:：]$/.test(label) ? " " : t("common.colon")}${errorText(error)}`;
      if (target) {
        list.append(
          el("li", {}, el("a", { href: `#${target.id}`, on: { click: (event) => focusField(event, target) } }, text)),
        );
      } else {
        list.append(el("li", {}, text));
      }
    }
    for (const text of summaryState.extra || []) list.append(el("li", {}, text));
    summary.append(el("p", {}, heading));
    if (list.children.length) summary.append(list);
  }

  function focusField(event, target) {
    event.preventDefault();
    target.focus();
    target.scrollIntoView({ block: "center", behavior: "smooth" });
  }

  function showSummary(state) {
    summaryState = state;
    renderSummary();
  }

  function clearAllErrors() {
    for (const name of [...errors.keys()]) setError(name, null);
    summaryState = null;
    renderSummary();
  }

  function validateAll() {
    for (const name of fieldNames()) setError(name, checkField(name));
    for (const name of groupNames()) setError(name, checkGroup(name));
    return errors.size === 0;
  }

  /** Map the server's details[].field ("customer.email", "customer", "attachment_ids.0") to inputs. */
  function showServerErrors(body) {
    const extra = [];
    for (const detail of (body && body.details) || []) {
      const field = String(detail.field || "");
      const problem = String(detail.problem || body.message || "");
      let name = null;
      if (input(field) && input(field).type !== "hidden") name = field;
      else if (field === "customer" || field === "customer.contact") name = groupNames()[0] || null;
      else if (field.startsWith("attachment")) name = "attachments";
      else {
        const parent = field.split(".").slice(0, 2).join(".");
        if (input(parent)) name = parent;
      }
      if (name) setError(name, { problem });
      else extra.push(field ? `${field}: ${problem}` : problem);
    }
    if (!errors.size && !extra.length && body && body.message) extra.push(String(body.message));
    showSummary({ kind: "server", extra });
  }

  // -- counters and live re-validation -----------------------------------------------------------

  function renderCounter(name) {
    const counter = document.getElementById(`count-${name}`);
    const rule = RULES[name];
    if (!counter || !rule || !rule.max_length) return;
    const count = charCount(input(name).value.trim());
    counter.textContent = `${count} / ${rule.max_length}`;
    counter.classList.toggle("over", count > rule.max_length);
  }

  function revalidate(name) {
    setError(name, checkField(name));
    for (const group of groupNames()) {
      if (membersOf(group).includes(name) && (errors.has(group) || attempted)) setError(group, checkGroup(group));
    }
    if (summaryState && summaryState.kind === "invalid") {
      if (errors.size === 0) showSummary(null);
      else renderSummary();
    }
  }

  for (const name of fieldNames()) {
    const field = input(name);
    describe(field, [`help-${name}`, `err-${name}`]);
    for (const group of groupNames()) {
      if (membersOf(group).includes(name)) describe(field, [`help-contact`, `err-${group}`]);
    }
    if (field.type === "date") field.max = today();
    field.addEventListener("input", () => {
      renderCounter(name);
      if (errors.has(name) || [...errors.keys()].some((g) => membersOf(g).includes(name))) revalidate(name);
    });
    field.addEventListener("blur", () => {
      if (attempted || value(name)) revalidate(name);
    });
    renderCounter(name);
  }

  languageSelect.value = I18N.lang;
  languageSelect.addEventListener("change", () => {
    languageTouched = true;
  });

  // -- attachments (web/uploads.js) ------------------------------------------------------------------

  const uploads = window.ComplaintUploads.create({
    input: fileInput,
    list: fileList,
    count: document.getElementById("attachment-count"),
    help: document.getElementById("help-attachments"),
    maxFiles: MAX_FILES,
    keys: { help: "form.attachments_help", count: "form.attachments_count", none: "form.attachments_none" },
    onError: (error) => setError("attachments", error),
  });

  // -- submission -----------------------------------------------------------------------------------

  function complaintBody() {
    const optional = (target, key, name) => {
      const text = value(name);
      if (text) target[key] = text;
    };
    const body = { description: value("description"), channel: "web" };
    optional(body, "title", "title");
    const customer = { name: value("customer.name"), preferred_language: languageSelect.value || I18N.lang };
    for (const key of ["email", "phone", "member_id"]) optional(customer, key, `customer.${key}`);
    body.customer = customer;
    const product = {};
    for (const key of ["name", "sku", "batch", "purchase_channel", "purchased_at", "order_id"]) {
      optional(product, key, `product.${key}`);
    }
    if (Object.keys(product).length) body.product = product;
    optional(body, "expected_resolution", "expected_resolution");
    optional(body, "occurred_at", "occurred_at");
    const ids = uploads.ids();
    if (ids.length) body.attachment_ids = ids;
    // the honeypot (people never see it: only a bot fills it) and the bot challenge's one-time token,
    // when the page shows a challenge widget (it puts the token in a field named challenge_token)
    const honeypot = form.elements.namedItem("website");
    if (honeypot && honeypot.value) body.website = honeypot.value;
    const challenge = form.elements.namedItem("challenge_token");
    if (challenge && challenge.value) body.challenge_token = challenge.value;
    return body;
  }

  function resetChallenge() {
    // a challenge token is good for one submission: a refused one needs a new one
    if (window.turnstile && typeof window.turnstile.reset === "function") window.turnstile.reset();
  }

  function setSubmitting(on) {
    submitting = on;
    submitButton.disabled = on;
    submitButton.setAttribute("aria-busy", String(on));
    submitButton.textContent = t(on ? "form.submitting" : "form.submit");
    form.setAttribute("aria-busy", String(on));
  }

  function focusSummary() {
    summary.focus();
    summary.scrollIntoView({ block: "start", behavior: "smooth" });
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (submitting) return;
    attempted = true;
    clearAllErrors();
    if (!validateAll()) {
      showSummary({ kind: "invalid" });
      const first = form.querySelector("[aria-invalid='true']");
      if (first) first.focus();
      return;
    }
    if (uploads.unfinished()) {
      showSummary({ kind: "message", key: "form.summary_uploads" });
      focusSummary();
      return;
    }
    setSubmitting(true);
    const answer = await request("/complaints", {
      method: "POST",
      headers: { "Content-Type": "application/json", "Idempotency-Key": idempotencyKey },
      body: JSON.stringify(complaintBody()),
    });
    setSubmitting(false);
    if (answer.ok && answer.body && answer.body.complaint_id) {
      showResult(answer.body);
      return;
    }
    resetChallenge();
    if (answer.networkError || answer.status >= 500 || answer.status === 429) {
      // The complaint may have been stored: a retry reuses the same key, so it is not stored twice.
      showSummary({ kind: "text", text: genericError(answer) });
    } else if (answer.status === 409) {
      showSummary({ kind: "text", text: (answer.body && answer.body.message) || t("form.conflict") });
    } else {
      // Rejected, so nothing was stored: the corrected form is a new submission with a new key.
      idempotencyKey = uuid();
      showServerErrors(answer.body);
    }
    focusSummary();
  });

  // -- confirmation ---------------------------------------------------------------------------------

  const resultNumber = document.getElementById("result-number");
  const resultToken = document.getElementById("result-token");
  const resultLink = document.getElementById("result-link");
  const copyStatus = document.getElementById("copy-status");

  function showResult(body) {
    const number = String(body.complaint_id);
    const token = String(body.tracking_token || "");
    resultNumber.textContent = number;
    resultToken.textContent = token;
    // The token travels in the fragment, which browsers never send to the server.
    resultLink.href = `${url("/track")}?id=${encodeURIComponent(number)}#token=${encodeURIComponent(token)}`;
    copyStatus.textContent = "";
    formSection.hidden = true;
    resultSection.hidden = false;
    window.scrollTo({ top: 0 });
    document.getElementById("result-heading").focus();
  }

  document.getElementById("copy-token").addEventListener("click", async () => {
    const token = resultToken.textContent;
    let copied = false;
    try {
      if (navigator.clipboard && window.isSecureContext) {
        await navigator.clipboard.writeText(token);
        copied = true;
      }
    } catch (_) {
      copied = false;
    }
    if (!copied) {
      selectToken();
      try {
        copied = document.execCommand("copy");
      } catch (_) {
        copied = false;
      }
    }
    copyStatus.dataset.key = copied ? "result.copied" : "result.copy_failed";
    copyStatus.textContent = t(copyStatus.dataset.key);
  });

  function selectToken() {
    const range = document.createRange();
    range.selectNodeContents(resultToken);
    const selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }

  resultToken.addEventListener("focus", selectToken);

  document.getElementById("new-complaint").addEventListener("click", () => {
    form.reset();
    uploads.reset();
    clearAllErrors();
    attempted = false;
    languageTouched = false;
    languageSelect.value = I18N.lang;
    idempotencyKey = uuid();
    for (const name of fieldNames()) renderCounter(name);
    resultSection.hidden = true;
    formSection.hidden = false;
    window.scrollTo({ top: 0 });
    document.getElementById("form-heading").focus();
  });

  // -- language ---------------------------------------------------------------------------------------

  I18N.onChange((lang) => {
    if (!languageTouched) languageSelect.value = lang;
    for (const name of errors.keys()) renderError(name);
    renderSummary();
    uploads.render();
    submitButton.textContent = t(submitting ? "form.submitting" : "form.submit");
    if (copyStatus.dataset.key && copyStatus.textContent) copyStatus.textContent = t(copyStatus.dataset.key);
  });
})();
