// One message catalogue for every text the console shows. A new locale is one more file
// in ../i18n/ exporting the same keys; `LOCALE` (or ?lang= in the page URL) picks it.

import zhEn from "../i18n/zh-en.js";

const CATALOGUES = { "zh-en": zhEn };
const LOCALE = new URLSearchParams(location.search).get("lang") || "zh-en";
const messages = CATALOGUES[LOCALE] || zhEn;

/** t("ticket.dispatched", {n: 3}): the message, with {name} placeholders filled in. */
export function t(key, params) {
  let text = messages[key];
  if (text === undefined) {
    console.warn("missing message", key);
    text = key;
  }
  if (params) {
    text = text.replace(/\{(\w+)\}/g, (m, name) => (name in params ? String(params[name]) : m));
  }
  return text;
}

/** The label of a domain value (a status, kind, role…), or the value itself. */
export function label(group, value) {
  if (value === null || value === undefined) return "—";
  const text = messages[`${group}.${value}`];
  return text === undefined ? String(value) : text;
}

export function has(key) {
  return key in messages;
}
