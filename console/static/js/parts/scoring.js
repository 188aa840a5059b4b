// Scoring an inspection's items: one card per item, sized for a tablet held in one hand.

import { command } from "../api.js";
import { h } from "../dom.js";
import { label, t } from "../i18n.js";
import { clearProblems, showProblem } from "../forms.js";
import { RESULTS } from "../vocabulary.js";

/** `current` holds the inspection's version; each saved score moves it on. */
export function scoringGrid(inspection, current) {
  const cards = inspection.items.map((item) => {
    const id = `score-${item.code}`;
    const rescore = item.result !== null && item.result !== undefined;
    const points = h("input", { id: `${id}-points`, name: "points", type: "number", min: 0, max: item.max_points, step: 0.5, inputmode: "decimal", value: item.points ?? "" });
    const result = h("select", { id: `${id}-result`, name: "result", required: true }, h("option", { value: "" }, t("form.choose")), RESULTS.map((r) => h("option", { value: r, selected: item.result === r }, label("result", r))));
    const finding = h("input", { id: `${id}-finding`, name: "finding", type: "text", value: item.finding || "" });
    const reason = rescore ? h("input", { id: `${id}-reason`, name: "reason", type: "text", required: true }) : null;
    const saved = h("span", { class: "saved muted" }, rescore ? t("score.scored", { points: item.points ?? "—", result: label("result", item.result) }) : "");
    const button = h("button", { type: "submit", class: "primary" }, rescore ? t("score.rescore") : t("score.save"));
    const form = h(
      "form",
      { class: "score-card", id, "data-item": item.code },
      h("div", { class: "score-head" }, h("strong", {}, item.code), " ", h("span", { class: "muted" }, item.section_name), item.critical ? h("span", { class: "badge warn" }, t("score.critical")) : null),
      h("p", { class: "requirement" }, item.requirement),
      h(
        "div",
        { class: "score-inputs" },
        h("label", {}, h("span", {}, t("score.points", { max: item.max_points })), points, h("p", { class: "field-error", "data-for": "points" })),
        h("label", {}, h("span", {}, t("field.result")), result, h("p", { class: "field-error", "data-for": "result" })),
        h("label", { class: "wide" }, h("span", {}, t("field.finding")), finding, h("p", { class: "field-error", "data-for": "finding" })),
        reason ? h("label", { class: "wide" }, h("span", {}, t("field.reason")), reason, h("p", { class: "field-error", "data-for": "reason" })) : null,
      ),
      h("p", { class: "form-error", role: "alert" }),
      h("div", { class: "score-actions" }, button, saved),
    );
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const body = { item: item.code, result: result.value };
      if (points.value !== "") body.points = Number(points.value);
      if (finding.value.trim()) body.finding = finding.value.trim();
      if (reason && reason.value.trim()) body.reason = reason.value.trim();
      button.disabled = true;
      const seen = current.version;
      try {
        const answer = await command(`/inspections/${encodeURIComponent(inspection.number)}/scores`, body, seen);
        current.version = answer.version;
        clearProblems(form);
        saved.textContent = t("score.saved", { version: answer.version });
      } catch (error) {
        showProblem(form, error, seen);
      } finally {
        button.disabled = false;
      }
    });
    return form;
  });
  return h("div", { class: "scoring", id: "scoring" }, cards);
}
