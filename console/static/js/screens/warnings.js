// Early warnings (风险预警): the list in the caller's scope, filtered by status and project
// (in the address: #/warnings?status=raised), with the figures that triggered each rule,
// and acknowledge / resolve forms (If-Match: the version the row showed).

import { ApiError, command, get } from "../api.js";
import { append, h, show } from "../dom.js";
import { label, t } from "../i18n.js";
import { maybeTime } from "../time.js";

const STATUSES = ["raised", "acknowledged", "resolved"];
/** Who may do what: the permission matrix's `warning.acknowledge` / `warning.resolve`
 * (application/security.py). The API decides; this only spares a button that would get 403. */
const MAY = {
  acknowledge: ["project_manager", "quality_manager"],
  resolve: ["quality_manager"],
};

function figures(row) {
  const f = row.figures || {};
  return h(
    "dl",
    { class: "figures" },
    Object.entries(f).map(([k, v]) => [h("dt", {}, k), h("dd", {}, show(v))]),
  );
}

function stepForm(row, step, done) {
  const note = h("textarea", { name: "note", rows: 2, id: `warning-note-${row.number}`, required: step === "resolve" });
  const error = h("p", { class: "error", role: "alert", hidden: true });
  const form = h(
    "form",
    { class: "warning-step", id: `warning-${step}-form-${row.number}` },
    h("label", {}, h("span", {}, t(step === "resolve" ? "warnings.resolution" : "warnings.note")), note),
    h("button", { type: "submit", class: "primary", id: `warning-${step}-submit-${row.number}` }, t(`warnings.${step}`)),
    error,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = note.value.trim() ? { note: note.value.trim() } : {};
    try {
      await command(`/warnings/${row.id}/${step}`, body, row.version);
      done();
    } catch (e) {
      error.hidden = false;
      error.textContent = e instanceof ApiError ? t("error.api", { status: e.status, detail: e.message }) : String(e);
    }
  });
  return form;
}

function actions(row, role, rerender) {
  const cell = h("td", { class: "warning-actions" });
  const steps = [];
  if (row.status === "raised" && MAY.acknowledge.includes(role)) steps.push("acknowledge");
  if (row.status !== "resolved" && MAY.resolve.includes(role)) steps.push("resolve");
  for (const step of steps) {
    cell.append(
      h(
        "button",
        {
          type: "button",
          class: `warning-${step}`,
          id: `warning-${step}-${row.number}`,
          onclick: () => {
            cell.querySelectorAll("form").forEach((f) => f.remove());
            cell.append(stepForm(row, step, rerender));
          },
        },
        t(`warnings.${step}`),
      ),
    );
  }
  return cell;
}

export async function render(main, params, query, ctx) {
  const rerender = () => {
    main.replaceChildren();
    render(main, params, query, ctx);
  };
  const form = h(
    "form",
    { class: "filters", id: "warning-filters" },
    h(
      "label",
      { class: "filter" },
      h("span", {}, t("field.status")),
      h("select", { name: "status", id: "filter-status" }, h("option", { value: "" }, t("list.any")), STATUSES.map((s) => h("option", { value: s, selected: s === query.status }, label("status", s)))),
    ),
    h("label", { class: "filter" }, h("span", {}, t("field.project")), h("input", { name: "project", id: "filter-project", type: "text", value: query.project || "" })),
    h("button", { type: "submit", id: "warning-apply" }, t("list.apply")),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const data = Object.fromEntries([...new FormData(form).entries()].filter(([, v]) => v !== ""));
    const qs = new URLSearchParams(data).toString();
    location.hash = `#/warnings${qs ? `?${qs}` : ""}`;
  });
  const page = await get("/warnings", { status: query.status, project: query.project, limit: 100 });
  const role = ctx.me ? ctx.me.role : "";
  const table = h(
    "table",
    { class: "list", id: "warnings-table" },
    h("thead", {}, h("tr", {}, ["number", "severity", "title", "project", "period", "message", "status", "raised_at", "actions"].map((c) => h("th", {}, t(`warnings.col.${c}`))))),
    h(
      "tbody",
      {},
      page.items.map((row) =>
        h(
          "tr",
          { class: `warning warning-${row.severity}`, dataset: { number: row.number } },
          h("td", { class: "warning-number" }, row.number),
          h("td", {}, h("span", { class: `badge severity-${row.severity}` }, label("severity", row.severity))),
          h("td", {}, row.title),
          h("td", {}, show(row.project)),
          h("td", {}, row.period),
          h("td", {}, h("div", { class: "warning-message" }, row.message), figures(row)),
          h("td", {}, h("span", { class: `status status-${row.status} warning-status` }, label("status", row.status))),
          h("td", {}, show(maybeTime(row.raised_at))),
          actions(row, role, rerender),
        ),
      ),
    ),
  );
  append(main, [
    h("h1", {}, t("nav.warnings")),
    h("p", { class: "muted" }, t("warnings.intro")),
    form,
    page.items.length ? table : h("p", { class: "muted", id: "warnings-empty" }, t("list.empty")),
  ]);
}
