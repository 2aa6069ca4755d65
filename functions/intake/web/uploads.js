/* Attachments straight to storage, shared by the complaint form and the tracking page's reply box.
 *
 * Each chosen file asks the API for a presigned upload (POST /complaints/attachments), then posts
 * the file to storage with the form fields it got back; the list shows each file's progress, errors,
 * and Retry / Remove buttons. ids() gives the uploaded files' attachment ids for the message that
 * uses them.
 */
"use strict";

(function () {
  const { t } = window.ComplaintI18n;
  const { request, el, formatBytes, genericError } = window.ComplaintCommon;

  /**
   * options: {input, list, count, help: elements; maxFiles; keys: {help, count, none} (i18n keys of the
   * help line and the file count); onError(error | null): a {key, params} error to show by the picker}.
   */
  function create(options) {
    const { input, list, count, help, maxFiles, keys, onError } = options;
    let items = []; // {file, state, percent, attachmentId, error, node}

    function active() {
      return items.filter((item) => item.state !== "rejected");
    }

    function renderHelp() {
      help.textContent = t(keys.help, { max: maxFiles });
      const n = active().length;
      count.textContent = n ? t(keys.count, { count: n, max: maxFiles }) : t(keys.none);
    }

    function renderItem(item) {
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
                { type: "button", className: "button button-link", on: { click: () => start(item) } },
                t("upload.retry"),
              )
            : null,
          el(
            "button",
            {
              type: "button",
              className: "button button-link",
              attrs: { "aria-label": t("upload.remove_label", { name }) },
              on: { click: () => remove(item) },
            },
            t("upload.remove"),
          ),
        ),
      );
      if (item.node) item.node.replaceWith(row);
      else list.append(row);
      item.node = row;
    }

    function render() {
      renderHelp();
      for (const item of items) renderItem(item);
    }

    function remove(item) {
      forget(item);
      items = items.filter((other) => other !== item);
      onError(null);
      renderHelp();
      input.focus();
    }

    function forget(item) {
      item.removed = true;
      if (item.xhr) item.xhr.abort();
      item.node?.remove();
    }

    function update(item, changes) {
      Object.assign(item, changes);
      if (!item.removed) renderItem(item);
      renderHelp();
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

    async function start(item) {
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

    input.addEventListener("change", () => {
      onError(null);
      for (const file of Array.from(input.files || [])) {
        if (active().length >= maxFiles) {
          onError({ key: "upload.too_many", params: { max: maxFiles, name: file.name } });
          continue;
        }
        const item = { file, state: "requesting", percent: 0, attachmentId: null, error: "", node: null };
        items.push(item);
        start(item);
      }
      input.value = ""; // choosing the same file again fires "change" again
    });

    renderHelp();
    return {
      render,
      /** Forget every file (after the message that used them was sent). */
      reset() {
        for (const item of items) forget(item);
        items = [];
        renderHelp();
      },
      /** The attachment ids of the files uploaded. */
      ids() {
        return items.filter((item) => item.state === "done").map((item) => item.attachmentId);
      },
      /** True while a file is still uploading, or failed and was not removed. */
      unfinished() {
        return items.some((item) => item.state !== "done");
      },
    };
  }

  window.ComplaintUploads = { create };
})();
