// Dispatch suggestions (issue #16 item 6) beside the dispatch and transfer forms: the
// project's staff ranked by the API, each score with its reasons. "Use" only fills the
// form; dispatching stays the dispatcher's decision (they still press submit).

import { ApiError, get } from "../api.js";
import { h } from "../dom.js";
import { label, t } from "../i18n.js";

function reasonLine(r) {
  return h(
    "li",
    { class: `suggest-reason factor-${r.factor}` },
    // A penalty (having rejected this very ticket) reads −40, not +-40.
    r.points < 0
      ? h("span", { class: "points penalty" }, `−${-r.points}`)
      : h("span", { class: "points" }, `+${r.points}`),
    " ",
    h("span", {}, r.explanation_zh),
    " ",
    h("span", { class: "muted" }, r.explanation),
  );
}

function row(item, form) {
  const use = h("button", {
    type: "button",
    class: "use-suggestion",
    "data-staff": item.staff_id,
    onclick: () => {
      form.elements.namedItem("department").value = item.department;
      form.elements.namedItem("assignee").value = item.staff_id;
      form.querySelector("button[type=submit]")?.focus();
    },
  }, t("suggest.use"));
  return h(
    "li",
    { class: "suggestion", "data-rank": item.rank },
    h(
      "div",
      { class: "suggestion-head" },
      h("span", { class: "rank" }, `#${item.rank}`),
      " ",
      h("strong", {}, item.name),
      " ",
      h("span", { class: "muted" }, `${item.staff_id} · ${label("department", item.department)}`),
      " ",
      h("span", { class: "score" }, t("suggest.score", { score: item.score })),
      " ",
      use,
    ),
    h("ul", { class: "reasons" }, item.reasons.map(reasonLine)),
  );
}

/** The suggestions for `ref`, as a block to put beside `form` (filled by "use"). */
export function dispatchSuggestions(ref, form) {
  const box = h("div", { id: "dispatch-suggestions", class: "suggestions", "aria-live": "polite" }, h("h4", {}, t("suggest.title")), h("p", { class: "muted" }, t("app.loading")));
  get(`/tickets/${encodeURIComponent(ref)}/dispatch-suggestions`)
    .then((answer) => {
      const head = h("h4", {}, t("suggest.title"));
      const about = h("p", { class: "muted" }, t("suggest.about", { category: answer.ticket.category_path, code: answer.ticket.category_code }));
      const list = answer.items.length ? h("ol", { class: "suggestion-list" }, answer.items.map((item) => row(item, form))) : h("p", { class: "muted" }, t("suggest.none"));
      box.replaceChildren(head, about, list);
    })
    .catch((error) => {
      if (!(error instanceof ApiError)) throw error;
      box.replaceChildren(h("h4", {}, t("suggest.title")), h("p", { class: "muted denied" }, error.message));
    });
  return box;
}
