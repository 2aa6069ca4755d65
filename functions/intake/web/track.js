/* The tracking page: look a complaint up by number and tracking token, follow the conversation,
 * and answer: a message with attachments, accepting or disputing the resolution, the survey.
 *
 * The token arrives in the address's fragment (#token=...), which browsers never send to a server,
 * and leaves only in the X-Tracking-Token header of the API calls. Every answer of the customer's
 * routes is the tracking view itself (functions/intake/views.py), so the page shows the case again
 * as it now stands. ?survey=1 (the survey email's link) opens the survey.
 */
"use strict";

(function () {
  const I18N = window.ComplaintI18n;
  const { t } = I18N;
  const { request, el, formatDateTime, genericError, uuid, locale } = window.ComplaintCommon;

  const form = document.getElementById("track-form");
  const numberInput = document.getElementById("t-number");
  const tokenInput = document.getElementById("t-token");
  const button = document.getElementById("track-button");
  const message = document.getElementById("track-message");
  const actionStatus = document.getElementById("action-status");
  const section = document.getElementById("case");

  let lastCase = null;
  let token = ""; // the token the case was found with: the customer's actions send it again
  let messageState = null; // {key} or {text}
  let statusKey = null; // the last action's confirmation ("Your message was sent.")
  const fieldErrors = new Map(); // "number" | "token" -> key
  let loading = false;

  // -- prefill from ?id= and #token= ---------------------------------------------------------------
  const query = new URLSearchParams(location.search);
  const fragment = new URLSearchParams(location.hash.replace(/^#/, ""));
  const wantsSurvey = query.get("survey") === "1";
  // the resolution email's links: ?respond=accept|dispute opens that answer (it never answers by itself)
  const wantsResponse = query.get("respond");
  if (query.get("id")) numberInput.value = query.get("id");
  if (fragment.get("token")) tokenInput.value = fragment.get("token");

  function normaliseNumber(text) {
    return text.replace(/[\s-]+/g, "").toUpperCase();
  }

  function charCount(text) {
    return Array.from(text).length; // code points, as the server (Python) counts them
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

  function renderStatus() {
    actionStatus.hidden = !statusKey;
    actionStatus.textContent = statusKey ? t(statusKey) : "";
  }

  function showStatus(key) {
    statusKey = key;
    renderStatus();
    if (key) actionStatus.focus();
  }

  /**
   * An error shown in one place (under a field, or in a form's notice box), kept as {key, params} or
   * {text} so that it follows a language switch. field: the control marked aria-invalid.
   */
  const slots = [];

  function slot(boxId, fields) {
    const s = { box: document.getElementById(boxId), fields: fields || [], error: null };
    slots.push(s);
    return s;
  }

  function renderSlot(s) {
    const text = s.error ? (s.error.key ? t(s.error.key, s.error.params) : s.error.text) : "";
    s.box.textContent = text;
    if (s.box.classList.contains("notice")) s.box.hidden = !text;
    for (const field of typeof s.fields === "function" ? s.fields() : s.fields) {
      if (text) field.setAttribute("aria-invalid", "true");
      else field.removeAttribute("aria-invalid");
      field.closest(".field, fieldset")?.classList.toggle("has-error", Boolean(text));
    }
  }

  function setSlot(s, error) {
    s.error = error;
    renderSlot(s);
  }

  // -- labels ----------------------------------------------------------------------------------------

  function label(prefix, value) {
    const key = `${prefix}.${value}`;
    return I18N.has(key) ? t(key) : String(value || "").replace(/_/g, " ");
  }

  function cssName(value) {
    return String(value || "").replace(/[^a-z_]/g, "");
  }

  function money(amount, currency) {
    const value = Number(amount);
    if (!currency || !Number.isFinite(value)) return String(amount || "");
    try {
      return new Intl.NumberFormat(locale(), { style: "currency", currency }).format(value);
    } catch (_) {
      return `${amount} ${currency}`;
    }
  }

  // -- the case ---------------------------------------------------------------------------------------

  function fact(rowId, valueId, text) {
    const row = rowId ? document.getElementById(rowId) : null;
    if (row) row.hidden = !text;
    document.getElementById(valueId).textContent = text || "";
  }

  function entryKind(entry) {
    if (entry.kind === "staff_reply" && entry.requests_information) return "information_request";
    return entry.kind;
  }

  function timelineItem(entry) {
    const kind = entryKind(entry);
    const attachments = Array.isArray(entry.attachments) ? entry.attachments : [];
    return el(
      "li",
      { className: `timeline-item kind-${cssName(kind)} from-${cssName(entry.from)}` },
      el(
        "div",
        { className: "timeline-head" },
        el("span", { className: "timeline-kind" }, label("kind", kind)),
        entry.status && entry.kind === "status_changed"
          ? el("span", { className: `status-badge small status-${cssName(entry.status)}` }, label("status", entry.status))
          : null,
        el("time", { className: "timeline-time", dateTime: String(entry.at || "") }, formatDateTime(entry.at)),
      ),
      entry.text ? el("p", { className: "timeline-text" }, String(entry.text)) : null,
      attachments.length
        ? el(
            "ul",
            { className: "timeline-files", attrs: { "aria-label": t("track.attached_files") } },
            ...attachments.map((a) => el("li", {}, String(a.filename || ""))),
          )
        : null,
    );
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
    badge.className = `status-badge status-${cssName(c.status)}`;

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
    fact("case-closed-row", "case-closed", c.closed_at ? formatDateTime(c.closed_at) : "");

    document.getElementById("case-merged").hidden = !c.merged;
    const closure = document.getElementById("case-closure");
    const closureKey = c.closure && !c.merged ? `closure.${c.closure}` : null;
    closure.hidden = !closureKey || !I18N.has(closureKey);
    closure.textContent = closureKey && I18N.has(closureKey) ? t(closureKey) : "";
    const waiting = document.getElementById("case-waiting");
    waiting.hidden = c.status !== "waiting_on_customer";
    waiting.textContent = t("track.waiting_note");

    const timeline = document.getElementById("case-timeline");
    // newest first; entries of one instant (a confirmation and the status it closes) in reverse order too
    const entries = (Array.isArray(c.timeline) ? c.timeline : []).map((entry, index) => ({ entry, index }));
    entries.sort((a, b) => String(b.entry.at).localeCompare(String(a.entry.at)) || b.index - a.index);
    timeline.replaceChildren(...entries.map(({ entry }) => timelineItem(entry)));
    if (!entries.length) timeline.append(el("li", { className: "timeline-empty" }, t("track.timeline_empty")));
    section.hidden = false;
  }

  function render() {
    renderCase();
    renderPlan();
    renderReply();
    renderSurvey();
  }

  // -- look-up -----------------------------------------------------------------------------------------

  function setLoading(on) {
    loading = on;
    button.disabled = on;
    button.setAttribute("aria-busy", String(on));
    button.textContent = t(on ? "track.loading" : "track.submit");
  }

  function caseRequest(number, usedToken) {
    return request(`/complaints/${encodeURIComponent(number)}`, {
      method: "GET",
      headers: { "X-Tracking-Token": usedToken, Accept: "application/json" },
    });
  }

  async function lookUp() {
    if (loading) return;
    fieldErrors.clear();
    const number = normaliseNumber(numberInput.value);
    const typed = tokenInput.value.trim();
    if (!number) fieldErrors.set("number", "validation.required");
    if (!typed) fieldErrors.set("token", "validation.required");
    renderFieldErrors();
    if (fieldErrors.size) {
      showMessage(null);
      (number ? tokenInput : numberInput).focus();
      return;
    }
    setLoading(true);
    const answer = await caseRequest(number, typed);
    setLoading(false);
    showStatus(null);
    if (answer.ok && answer.body) {
      if (!lastCase || lastCase.complaint_id !== answer.body.complaint_id) resetDrafts();
      lastCase = answer.body;
      token = typed;
      showMessage(null);
      render();
      if (wantsSurvey && !document.getElementById("survey-section").hidden) {
        const heading = document.getElementById("survey-heading");
        heading.focus();
        heading.scrollIntoView({ block: "start" });
      } else if (wantsResponse && lastCase.actions && lastCase.actions.confirm) {
        openResponse(wantsResponse);
      } else {
        document.getElementById("case-heading").focus();
      }
      return;
    }
    lastCase = null;
    token = "";
    render();
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

  /** Read the case again (after a conflict: somebody changed it meanwhile). */
  async function refresh() {
    if (!lastCase) return;
    const answer = await caseRequest(lastCase.complaint_id, token);
    if (answer.ok && answer.body) {
      lastCase = answer.body;
      render();
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

  // -- the customer's actions ------------------------------------------------------------------------------

  /**
   * POST one of the customer's actions; on success the answer is the case as it now stands.
   * errors: {box: slot for general messages, fields: {server field prefix: slot}}. Returns true when done.
   */
  async function act(path, body, errors, extraHeaders) {
    for (const s of [errors.box, ...Object.values(errors.fields)]) setSlot(s, null);
    const answer = await request(`/complaints/${encodeURIComponent(lastCase.complaint_id)}${path}`, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-Tracking-Token": token, ...(extraHeaders || {}) },
      body: JSON.stringify(body),
    });
    if (answer.ok) {
      if (answer.body && answer.body.complaint_id) {
        lastCase = answer.body;
        render();
      } else {
        await refresh();
      }
      return true;
    }
    const details = (answer.body && Array.isArray(answer.body.details) && answer.body.details) || [];
    let placed = false;
    if (answer.status === 400 || answer.status === 422) {
      for (const detail of details) {
        const field = String(detail.field || "");
        const prefix = Object.keys(errors.fields).find((p) => field === p || field.startsWith(`${p}.`) ||
          field.startsWith(`${p}_`));
        if (prefix) {
          setSlot(errors.fields[prefix], { text: String(detail.problem || answer.body.message || "") });
          placed = true;
        }
      }
    }
    if (answer.status === 404) {
      setSlot(errors.box, { key: "track.not_found" });
    } else if (answer.status === 409) {
      // the case moved on (answered elsewhere, reopened by our team): show it as it is now
      setSlot(errors.box, { text: (answer.body && answer.body.message) || t("track.conflict") });
      await refresh();
    } else if (!placed) {
      setSlot(errors.box, { text: genericError(answer) });
    }
    return false;
  }

  function busy(buttons, on) {
    for (const b of buttons) {
      b.disabled = on;
      b.setAttribute("aria-busy", String(on));
    }
  }

  /** A text the customer typed: required (requiredKey) and at most max characters; else the error, focused. */
  function textOk(errorSlot, textarea, text, max, requiredKey) {
    let error = null;
    if (requiredKey && !text) error = { key: requiredKey };
    else if (max && charCount(text) > max) error = { key: "validation.max_length", params: { max, count: charCount(text) } };
    if (!error) return true;
    setSlot(errorSlot, error);
    textarea.focus();
    return false;
  }

  function renderCounter(counter, textarea, max) {
    const n = charCount(textarea.value);
    counter.textContent = max ? t("track.counter", { count: n, max }) : "";
    counter.classList.toggle("over", Boolean(max) && n > max);
  }

  // -- the plan and the confirmation ------------------------------------------------------------------------

  const planSection = document.getElementById("plan-section");
  const confirmBox = document.getElementById("confirm-box");
  const acceptButton = document.getElementById("accept-button");
  const disputeButton = document.getElementById("dispute-button");
  const disputeForm = document.getElementById("dispute-form");
  const disputeReason = document.getElementById("dispute-reason");
  const disputeSubmit = document.getElementById("dispute-submit");
  const disputeCounter = document.getElementById("dispute-counter");
  const confirmErrors = {
    box: slot("confirm-message"),
    fields: { reason: slot("err-dispute-reason", [disputeReason]) },
  };

  function resolutionText(c) {
    const resolved = (c.timeline || []).filter((e) => e.kind === "status_changed" && e.status === "resolved" && e.text);
    return resolved.length ? String(resolved[resolved.length - 1].text) : "";
  }

  function renderPlan() {
    const c = lastCase;
    const confirm = c && c.actions && c.actions.confirm;
    const plan = c && c.plan;
    planSection.hidden = !(plan || confirm);
    if (planSection.hidden) return;
    document.getElementById("plan-heading").textContent = t(plan ? "track.plan_heading" : "track.resolution_heading");
    const state = document.getElementById("plan-state");
    state.hidden = !plan;
    state.textContent = plan ? label("planstate", plan.state) : "";
    state.className = `status-badge small planstate-${cssName(plan && plan.state)}`;
    const components = plan && Array.isArray(plan.components) ? plan.components : [];
    document.getElementById("plan-components").replaceChildren(
      ...components.map((x) =>
        el(
          "li",
          { className: `plan-component type-${cssName(x.type)}` },
          el("span", { className: "plan-type" }, label("plan", x.type)),
          x.amount ? el("span", { className: "plan-amount" }, money(x.amount, x.currency)) : null,
          x.description ? el("span", { className: "plan-description" }, String(x.description)) : null,
        ),
      ),
    );
    const explanation = document.getElementById("plan-explanation");
    const text = plan ? String(plan.explanation || "") : resolutionText(c);
    explanation.textContent = text;
    explanation.hidden = !text;

    confirmBox.hidden = !confirm;
    if (!confirm) {
      disputeForm.hidden = true;
      return;
    }
    const subject = confirm.subject === "plan" ? "plan" : "resolution";
    document.getElementById("confirm-question").textContent = t(`track.confirm_${subject}_question`);
    acceptButton.textContent = t(`track.accept_${subject}`);
    disputeButton.textContent = t(`track.dispute_${subject}`);
    document.getElementById("confirm-due").textContent = confirm.confirmation_due_at
      ? t("track.confirm_due", { date: formatDateTime(confirm.confirmation_due_at) })
      : "";
    disputeButton.setAttribute("aria-expanded", String(!disputeForm.hidden));
    renderCounter(disputeCounter, disputeReason, confirm.reason_max_length);
  }

  function openResponse(which) {
    if (which === "dispute") {
      disputeForm.hidden = false;
      disputeButton.setAttribute("aria-expanded", "true");
      disputeReason.focus();
    } else {
      acceptButton.focus();
    }
    acceptButton.scrollIntoView({ block: "center" });
  }

  acceptButton.addEventListener("click", async () => {
    busy([acceptButton, disputeButton, disputeSubmit], true);
    const done = await act("/confirmation", { accept: true }, confirmErrors);
    busy([acceptButton, disputeButton, disputeSubmit], false);
    if (done) {
      disputeForm.hidden = true;
      showStatus("track.accepted");
    }
  });

  disputeButton.addEventListener("click", () => {
    disputeForm.hidden = !disputeForm.hidden;
    disputeButton.setAttribute("aria-expanded", String(!disputeForm.hidden));
    if (!disputeForm.hidden) disputeReason.focus();
  });

  document.getElementById("dispute-cancel").addEventListener("click", () => {
    disputeForm.hidden = true;
    disputeButton.setAttribute("aria-expanded", "false");
    setSlot(confirmErrors.fields.reason, null);
    disputeButton.focus();
  });

  disputeReason.addEventListener("input", () => {
    const confirm = lastCase && lastCase.actions && lastCase.actions.confirm;
    renderCounter(disputeCounter, disputeReason, confirm && confirm.reason_max_length);
    if (confirmErrors.fields.reason.error) setSlot(confirmErrors.fields.reason, null);
  });

  disputeForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const confirm = lastCase && lastCase.actions && lastCase.actions.confirm;
    const reason = disputeReason.value.trim();
    const max = (confirm && confirm.reason_max_length) || 2000;
    if (!textOk(confirmErrors.fields.reason, disputeReason, reason, max, "track.dispute_reason_required")) return;
    busy([acceptButton, disputeButton, disputeSubmit], true);
    const done = await act("/confirmation", { accept: false, reason }, confirmErrors);
    busy([acceptButton, disputeButton, disputeSubmit], false);
    if (done) {
      disputeReason.value = "";
      disputeForm.hidden = true;
      showStatus("track.disputed");
    } else if (confirmErrors.fields.reason.error) {
      disputeReason.focus();
    }
  });

  // -- replying ------------------------------------------------------------------------------------------

  const replySection = document.getElementById("reply-section");
  const replyForm = document.getElementById("reply-form");
  const replyText = document.getElementById("reply-text");
  const replyButton = document.getElementById("reply-button");
  const replyCounter = document.getElementById("reply-counter");
  const replyFiles = document.getElementById("reply-attachments");
  const replyErrors = {
    box: slot("reply-message"),
    fields: { text: slot("err-reply-text", [replyText]), attachment: slot("err-reply-attachments", [replyFiles]) },
  };
  let replyKey = uuid(); // one per message: a retry after a network error is not sent twice
  let replying = false;

  function replyLimits() {
    return (lastCase && lastCase.actions && lastCase.actions.reply) || { max_length: 20000, max_attachments: 10 };
  }

  const uploads = window.ComplaintUploads.create({
    input: replyFiles,
    list: document.getElementById("reply-attachment-list"),
    count: document.getElementById("reply-attachment-count"),
    help: document.getElementById("help-reply-attachments"),
    maxFiles: replyLimits().max_attachments,
    keys: { help: "track.attachments_help", count: "form.attachments_count", none: "form.attachments_none" },
    onError: (error) => setSlot(replyErrors.fields.attachment, error),
  });

  function renderReply() {
    const allowed = Boolean(lastCase && lastCase.actions && lastCase.actions.reply);
    replySection.hidden = !allowed;
    if (!allowed) return;
    const waiting = lastCase.status === "waiting_on_customer";
    document.getElementById("reply-heading").textContent = t(waiting ? "track.reply_heading_answer" : "track.reply_heading");
    renderCounter(replyCounter, replyText, replyLimits().max_length);
    replyButton.textContent = t(replying ? "track.sending" : "track.reply_submit");
  }

  function resetDrafts() {
    replyText.value = "";
    uploads.reset();
    replyKey = uuid();
    disputeReason.value = "";
    disputeForm.hidden = true;
    survey = { rating: null, aspects: {} };
    document.getElementById("survey-comment").value = "";
    for (const s of slots) setSlot(s, null);
  }

  replyText.addEventListener("input", () => {
    renderCounter(replyCounter, replyText, replyLimits().max_length);
    if (replyErrors.fields.text.error) setSlot(replyErrors.fields.text, null);
    replyKey = uuid(); // a changed message is a new message
  });

  replyForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (replying) return;
    const text = replyText.value.trim();
    const max = replyLimits().max_length;
    setSlot(replyErrors.box, null);
    if (!textOk(replyErrors.fields.text, replyText, text, max, "validation.required")) return;
    if (uploads.unfinished()) {
      setSlot(replyErrors.box, { key: "form.summary_uploads" });
      return;
    }
    replying = true;
    busy([replyButton], true);
    replyButton.textContent = t("track.sending");
    const body = { text, attachment_ids: uploads.ids() };
    const done = await act("/messages", body, replyErrors, { "Idempotency-Key": replyKey });
    replying = false;
    busy([replyButton], false);
    replyButton.textContent = t("track.reply_submit");
    if (done) {
      replyText.value = "";
      uploads.reset();
      replyKey = uuid();
      renderReply();
      showStatus("track.reply_sent");
    } else if (replyErrors.fields.text.error) {
      replyText.focus();
    }
  });

  // -- the survey -------------------------------------------------------------------------------------------

  const surveySection = document.getElementById("survey-section");
  const surveyForm = document.getElementById("survey-form");
  const surveyButton = document.getElementById("survey-button");
  const surveyComment = document.getElementById("survey-comment");
  const commentCounter = document.getElementById("comment-counter");
  const starsBox = document.getElementById("rating-stars");
  const aspectsBox = document.getElementById("survey-aspects");
  let survey = { rating: null, aspects: {} }; // the customer's choices, kept across re-renders
  const surveyErrors = {
    box: slot("survey-message"),
    fields: {
      rating: slot("err-rating", () => Array.from(starsBox.querySelectorAll("input"))),
      aspects: slot("err-aspects"),
      comment: slot("err-survey-comment", [surveyComment]),
    },
  };

  function feedbackAction() {
    return lastCase && lastCase.actions && lastCase.actions.feedback;
  }

  function renderStars(action) {
    const min = action.rating_min || 1;
    const max = action.rating_max || 5;
    const stars = [];
    for (let n = min; n <= max; n += 1) {
      const id = `rating-${n}`;
      const inputEl = el("input", {
        type: "radio",
        name: "rating",
        id,
        value: String(n),
        className: "star-input visually-hidden",
        checked: survey.rating === n,
        on: {
          change: () => {
            survey.rating = n;
            setSlot(surveyErrors.fields.rating, null);
            lightStars();
          },
        },
      });
      const labelEl = el(
        "label",
        { htmlFor: id, className: "star", title: t(`rating.${n}`) },
        el("span", { attrs: { "aria-hidden": "true" } }, "★"),
        el("span", { className: "visually-hidden" }, t("track.rating_label", { n, max, text: t(`rating.${n}`) })),
      );
      stars.push(inputEl, labelEl);
    }
    starsBox.replaceChildren(...stars);
    lightStars();
  }

  function lightStars() {
    for (const star of starsBox.querySelectorAll("label.star")) {
      const n = Number(star.htmlFor.replace("rating-", ""));
      star.classList.toggle("lit", survey.rating !== null && n <= survey.rating);
    }
    const action = feedbackAction();
    const max = (action && action.rating_max) || 5;
    document.getElementById("rating-value").textContent =
      survey.rating !== null ? t("track.rating_chosen", { n: survey.rating, max, text: t(`rating.${survey.rating}`) }) : "";
  }

  function renderAspects(action) {
    const lang = I18N.lang;
    aspectsBox.replaceChildren(
      ...(action.aspects || []).map((aspect) => {
        const name = `aspect-${aspect.aspect_id}`;
        const legend = (aspect.labels && aspect.labels[lang]) || aspect.label || aspect.aspect_id;
        const choices = [["good", "track.aspect_good"], ["bad", "track.aspect_bad"], ["", "track.aspect_skip"]];
        return el(
          "fieldset",
          { className: "aspect" },
          el("legend", {}, legend),
          el(
            "div",
            { className: "choice-row" },
            ...choices.map(([value, key]) => {
              const id = `${name}-${value || "skip"}`;
              return el(
                "span",
                { className: `choice choice-${value || "skip"}` },
                el("input", {
                  type: "radio",
                  name,
                  id,
                  value,
                  checked: (survey.aspects[aspect.aspect_id] || "") === value,
                  on: {
                    change: () => {
                      if (value) survey.aspects[aspect.aspect_id] = value;
                      else delete survey.aspects[aspect.aspect_id];
                    },
                  },
                }),
                el("label", { htmlFor: id }, t(key)),
              );
            }),
          ),
        );
      }),
    );
  }

  function renderSurvey() {
    const c = lastCase;
    const action = feedbackAction();
    const given = c && c.feedback;
    surveySection.hidden = !c || !(action || given || wantsSurvey);
    if (surveySection.hidden) return;
    surveyForm.hidden = !action;
    document.getElementById("survey-thanks").hidden = !given;
    document.getElementById("survey-given").textContent = given
      ? t("track.survey_given", { n: given.rating, max: 5 })
      : "";
    const unavailable = document.getElementById("survey-unavailable");
    unavailable.hidden = Boolean(action || given);
    unavailable.textContent = c.status === "closed" || c.merged || ["rejected", "withdrawn"].includes(c.status)
      ? t("track.survey_closed")
      : t("track.survey_not_yet");
    if (!action) return;
    renderStars(action);
    renderAspects(action);
    renderCounter(commentCounter, surveyComment, action.comment_max_length);
    surveyButton.textContent = t("track.survey_submit");
  }

  surveyComment.addEventListener("input", () => {
    const action = feedbackAction();
    renderCounter(commentCounter, surveyComment, action && action.comment_max_length);
    if (surveyErrors.fields.comment.error) setSlot(surveyErrors.fields.comment, null);
  });

  surveyForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const action = feedbackAction();
    if (!action) return;
    const comment = surveyComment.value.trim();
    const max = action.comment_max_length || 2000;
    setSlot(surveyErrors.box, null);
    if (survey.rating === null) {
      setSlot(surveyErrors.fields.rating, { key: "track.rating_required" });
      starsBox.querySelector("input")?.focus();
      return;
    }
    if (!textOk(surveyErrors.fields.comment, surveyComment, comment, max, null)) return;
    const body = { rating: survey.rating, aspects: { ...survey.aspects } };
    if (comment) body.comment = comment;
    busy([surveyButton], true);
    const done = await act("/feedback", body, surveyErrors);
    busy([surveyButton], false);
    if (done) {
      surveyComment.value = "";
      showStatus("track.feedback_sent");
    }
  });

  // -- language ----------------------------------------------------------------------------------------------

  I18N.onChange(() => {
    renderFieldErrors();
    renderMessage();
    renderStatus();
    render();
    for (const s of slots) renderSlot(s);
    uploads.render();
    button.textContent = t(loading ? "track.loading" : "track.submit");
  });

  if (numberInput.value && tokenInput.value) lookUp();
})();
