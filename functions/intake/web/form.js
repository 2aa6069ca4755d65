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
  const { request, el, formatBytes, uuid, genericError, url } = window.ComplaintCommon;

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
  let attachments = []; // {file, state, percent, attachmentId, error, node}
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

  // -- attachments --------------------------------------------------------------------------------

  function activeAttachments() {
    return attachments.filter((item) => item.state !== "rejected");
  }

  function renderAttachmentHelp() {
    document.getElementById("help-attachments").textContent = t("form.attachments_help", { max: MAX_FILES });
    const count = activeAttachments().length;
    document.getElementById("attachment-count").textContent = count
      ? t("form.attachments_count", { count, max: MAX_FILES })
      : t("form.attachments_none");
  }

  function renderAttachment(item) {
    const stateText = {
      requesting: t("upload.requesting"),
      uploading: t("upload.uploading", { percent: Math.round(item.percent) }),
      done: t("upload.done"),
      failed: t("upload.failed"),
      rejected: t("upload.rejected"),
    }[item.state];
    const name = item.file.name;
    const row = el(
      "li",
      { className: `attachment state-${item.state}` },
      el(
        "div",
        { className: "attachment-main" },
        el("span", { className: "attachment-name", title: name }, name),
        el("span", { className: "attachment-size" }, formatBytes(item.file.size)),
        el("span", { className: "attachment-state" }, stateText),
      ),
      item.state === "uploading" || item.state === "requesting"
        ? el("progress", {
            max: 100,
            value: item.state === "uploading" ? item.percent : 0,
            attrs: { "aria-label": `${name}: ${stateText}` },
          })
        : null,
      item.error ? el("p", { className: "field-error attachment-error", attrs: { role: "alert" } }, item.error) : null,
      el(
        "div",
        { className: "attachment-actions" },
        item.state === "failed"
          ? el(
              "button",
              { type: "button", className: "button button-link", on: { click: () => startUpload(item) } },
              t("upload.retry"),
            )
          : null,
        el(
          "button",
          {
            type: "button",
            className: "button button-link",
            attrs: { "aria-label": t("upload.remove_label", { name }) },
            on: { click: () => removeAttachment(item) },
          },
          t("upload.remove"),
        ),
      ),
    );
    if (item.node) item.node.replaceWith(row);
    else fileList.append(row);
    item.node = row;
  }

  function renderAttachments() {
    renderAttachmentHelp();
    for (const item of attachments) renderAttachment(item);
  }

  function removeAttachment(item) {
    item.removed = true;
    if (item.xhr) item.xhr.abort();
    attachments = attachments.filter((other) => other !== item);
    item.node?.remove();
    if (errors.has("attachments")) setError("attachments", null);
    renderAttachmentHelp();
    fileInput.focus();
  }

  function update(item, changes) {
    Object.assign(item, changes);
    if (!item.removed) renderAttachment(item);
    renderAttachmentHelp();
  }

  /** POST the file to storage: the presigned form fields first, the file last as "file". */
  function postToStorage(item, upload) {
    return new Promise((resolve) => {
      const data = new FormData();
      for (const [key, fieldValue] of Object.entries(upload.fields || {})) data.append(key, fieldValue);
      data.append(upload.file_field || "file", item.file); // last: S3 ignores fields after the file
      const xhr = new XMLHttpRequest();
      item.xhr = xhr;
      xhr.open("POST", upload.url);
      xhr.upload.addEventListener("progress", (event) => {
        if (event.lengthComputable) update(item, { percent: (100 * event.loaded) / event.total });
      });
      xhr.addEventListener("load", () => resolve({ status: xhr.status, text: xhr.responseText || "" }));
      xhr.addEventListener("error", () => resolve({ status: 0, text: "" }));
      xhr.addEventListener("abort", () => resolve({ status: 0, text: "", aborted: true }));
      xhr.addEventListener("timeout", () => resolve({ status: 0, text: "" }));
      xhr.send(data);
    });
  }

  /** S3 answers errors in XML: <Error><Code>EntityTooLarge</Code><Message>...</Message></Error>. */
  function storageMessage(text, maxBytes) {
    try {
      const xml = new DOMParser().parseFromString(text, "application/xml");
      const code = xml.querySelector("Code")?.textContent;
      if (code === "EntityTooLarge" && maxBytes) return t("upload.too_large", { max: formatBytes(maxBytes) });
      return xml.querySelector("Message")?.textContent || "";
    } catch (_) {
      return "";
    }
  }

  async function startUpload(item) {
    update(item, { state: "requesting", percent: 0, error: "", attachmentId: null });
    const answer = await request("/complaints/attachments", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({
        filename: item.file.name,
        content_type: item.file.type || "application/octet-stream",
        size: item.file.size,
      }),
    });
    if (item.removed) return;
    if (!answer.ok) {
      const retryable = answer.networkError || answer.status >= 500 || answer.status === 429;
      const problem = answer.body && answer.body.details && answer.body.details[0] && answer.body.details[0].problem;
      const general = genericError(answer);
      const message = retryable || !problem || general.includes(problem) ? general : `${general}: ${problem}`;
      update(item, { state: retryable ? "failed" : "rejected", error: message });
      return;
    }
    const { attachment_id: attachmentId, upload, max_bytes: maxBytes } = answer.body || {};
    if (!attachmentId || !upload || !upload.url) {
      update(item, { state: "failed", error: t("common.server_error") });
      return;
    }
    if (maxBytes && item.file.size > maxBytes) {
      update(item, { state: "rejected", error: t("upload.too_large", { max: formatBytes(maxBytes) }) });
      return;
    }
    update(item, { state: "uploading", percent: 0 });
    const stored = await postToStorage(item, upload);
    item.xhr = null;
    if (item.removed || stored.aborted) return;
    if (stored.status >= 200 && stored.status < 300) {
      update(item, { state: "done", percent: 100, attachmentId });
    } else if (stored.status === 0) {
      update(item, { state: "failed", error: t("upload.network") });
    } else {
      const detail = storageMessage(stored.text, maxBytes);
      update(item, { state: stored.status >= 500 ? "failed" : "rejected", error: detail || t("upload.failed") });
    }
  }

  fileInput.addEventListener("change", () => {
    setError("attachments", null);
    for (const file of Array.from(fileInput.files || [])) {
      if (activeAttachments().length >= MAX_FILES) {
        setError("attachments", { key: "upload.too_many", params: { max: MAX_FILES, name: file.name } });
        continue;
      }
      const item = { file, state: "requesting", percent: 0, attachmentId: null, error: "", node: null };
      attachments.push(item);
      startUpload(item);
    }
    fileInput.value = ""; // choosing the same file again fires "change" again
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
    const ids = attachments.filter((item) => item.state === "done").map((item) => item.attachmentId);
    if (ids.length) body.attachment_ids = ids;
    return body;
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
    if (attachments.some((item) => item.state !== "done")) {
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
    for (const item of attachments) item.node?.remove();
    attachments = [];
    renderAttachmentHelp();
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
    renderAttachments();
    submitButton.textContent = t(submitting ? "form.submitting" : "form.submit");
    if (copyStatus.dataset.key && copyStatus.textContent) copyStatus.textContent = t(copyStatus.dataset.key);
  });
  renderAttachmentHelp();
})();
