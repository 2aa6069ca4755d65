/* Helpers shared by the form and the tracking page: API calls, DOM building, formatting.
 *
 * User-provided text only ever reaches the page through textContent and DOM APIs (never
 * innerHTML), so a "<script>" typed into a complaint is shown as text.
 */
"use strict";

(function () {
  const BASE = document.body.dataset.base || "";

  /** An absolute path under the app's base (API Gateway's stage prefix, or nothing locally). */
  function url(path) {
    return BASE + path;
  }

  /**
   * fetch() that always resolves: {ok, status, body, networkError}. body is the parsed JSON answer
   * when there is one (errors follow {"error", "message", "details": [{"field", "problem"}]}).
   */
  async function request(path, options) {
    let response;
    try {
      response = await fetch(url(path), { credentials: "same-origin", cache: "no-store", ...options });
    } catch (error) {
      return { ok: false, status: 0, body: null, networkError: true };
    }
    let body = null;
    const text = await response.text().catch(() => "");
    if (text) {
      try {
        body = JSON.parse(text);
      } catch (_) {
        body = null;
      }
    }
    return { ok: response.ok, status: response.status, body, networkError: false };
  }

  /** Build an element: el("li", {className: "x", dataset: {...}, attrs: {...}}, "text", child...). */
  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (value === undefined || value === null) continue;
      if (key === "dataset") Object.assign(node.dataset, value);
      else if (key === "attrs") for (const [name, v] of Object.entries(value)) node.setAttribute(name, v);
      else if (key === "on") for (const [name, fn] of Object.entries(value)) node.addEventListener(name, fn);
      else node[key] = value;
    }
    for (const child of children) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function locale() {
    return window.ComplaintI18n.lang === "zh" ? "zh-CN" : "en";
  }

  /** An ISO timestamp in the reader's time zone, e.g. "12 Mar 2025, 14:05". */
  function formatDateTime(iso) {
    if (!iso) return "";
    const date = new Date(iso);
    if (Number.isNaN(date.getTime())) return String(iso);
    return new Intl.DateTimeFormat(locale(), { dateStyle: "medium", timeStyle: "short" }).format(date);
  }

  function formatBytes(bytes) {
    if (!Number.isFinite(bytes)) return "";
    const units = ["B", "KB", "MB", "GB"];
    let value = bytes;
    let unit = 0;
    while (value >= 1024 && unit < units.length - 1) {
      value /= 1024;
      unit += 1;
    }
    return `${value >= 10 || unit === 0 ? Math.round(value) : value.toFixed(1)} ${units[unit]}`;
  }

  /** A random UUID v4; crypto.randomUUID needs a secure context, getRandomValues does not. */
  function uuid() {
    if (window.crypto && typeof crypto.randomUUID === "function") return crypto.randomUUID();
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  }

  /** The message for a failed request that has no more specific handling. */
  function genericError(result) {
    const t = window.ComplaintI18n.t;
    if (result.networkError) return t("common.network_error");
    if (result.status === 429) return t("common.rate_limited");
    if (result.status >= 500 || !result.body || !result.body.message) return t("common.server_error");
    return String(result.body.message);
  }

  /** Keep the navigation links on the current language when there is a ?lang= in the address. */
  function keepLanguageInLinks() {
    const lang = new URLSearchParams(location.search).get("lang");
    if (!lang) return;
    for (const link of document.querySelectorAll("a[data-nav]")) {
      const target = new URL(link.getAttribute("href"), location.href);
      target.searchParams.set("lang", window.ComplaintI18n.lang);
      link.setAttribute("href", target.pathname + target.search);
    }
  }
  keepLanguageInLinks();
  window.ComplaintI18n.onChange(keepLanguageInLinks);

  window.ComplaintCommon = { url, request, el, formatDateTime, formatBytes, uuid, genericError, locale };
})();
