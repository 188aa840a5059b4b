// The timeline: every event with actor, company time, summary, reason, and what the
// event changed against the values recorded before it.

import { h, show } from "../dom.js";
import { label, t } from "../i18n.js";
import { companyTime, maybeTime } from "../time.js";

function same(a, b) {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** [field, before, after] for each field of `data` that differs from `known`. */
export function changes(known, data) {
  const out = [];
  for (const [key, value] of Object.entries(data || {})) {
    if (!same(known[key], value)) out.push([key, known[key], value]);
    known[key] = value;
  }
  return out;
}

function diffTable(rows) {
  if (!rows.length) return null;
  return h(
    "table",
    { class: "diff" },
    h("tbody", {}, rows.map(([k, before, after]) => h("tr", {}, h("th", {}, k), h("td", { class: "before" }, show(maybeTime(before))), h("td", { class: "arrow" }, "→"), h("td", { class: "after" }, show(maybeTime(after)))))),
  );
}

export function timeline(history) {
  const known = {};
  return h(
    "ol",
    { class: "timeline", id: "timeline" },
    history.events.map((e) =>
      h(
        "li",
        { class: "event", "data-version": e.version, "data-type": e.type },
        h(
          "div",
          { class: "event-head" },
          h("span", { class: "version" }, `v${e.version}`),
          h("strong", { class: "type" }, label("event", e.type)),
          h("time", { datetime: e.occurred_at }, companyTime(e.occurred_at)),
          h("span", { class: "actor" }, `${e.actor.name} (${label("role", e.actor.role)})`),
        ),
        h("p", { class: "summary" }, e.summary),
        e.reason ? h("p", { class: "reason" }, `${t("field.reason")}: ${e.reason}`) : null,
        diffTable(changes(known, e.data)),
      ),
    ),
  );
}
