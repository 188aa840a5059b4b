// Lists with filters, paged with the API's opaque cursor. The filters live in the
// address (#/list/tickets?status=received), so a filtered list can be bookmarked.

import { get } from "../api.js";
import { append, h, show } from "../dom.js";
import { label, t } from "../i18n.js";
import { issueHref } from "../kinds.js";
import { maybeTime } from "../time.js";
import * as V from "../vocabulary.js";

const text = (name) => ({ name, type: "text" });
const choice = (name, options, group) => ({ name, type: "select", options, group: group || name });

export const LISTS = {
  tickets: {
    kind: "ticket",
    filters: [text("project"), choice("status", V.TICKET_STATUSES), choice("kind", V.TICKET_KINDS, "ticket_kind"), choice("priority", V.PRIORITIES), choice("department", V.DEPARTMENTS)],
    columns: ["number", "status", "project", "kind", "priority", "category", "department", "assignee", "received_at", "resolution_due"],
  },
  inspections: {
    kind: "inspection",
    filters: [text("project"), choice("kind", V.INSPECTION_KINDS, "inspection_kind"), choice("status", V.INSPECTION_STATUSES), { name: "month", type: "text", placeholder: "2026-03" }],
    columns: ["number", "status", "project", "kind", "planned_for", "score", "grade"],
  },
  nonconformances: {
    kind: "nonconformance",
    filters: [text("project"), choice("status", V.NC_STATUSES), choice("source", V.NC_SOURCES), choice("severity", V.SEVERITIES), choice("overdue", ["true", "false"], "bool"), choice("department", V.DEPARTMENTS)],
    columns: ["number", "status", "project", "source", "severity", "department", "responsible_person", "due_date", "overdue"],
  },
  surveys: {
    kind: "survey",
    filters: [choice("status", V.SURVEY_STATUSES), choice("party", V.PARTIES), text("project")],
    columns: ["number", "status", "title", "party", "projects", "target_csi"],
  },
};

function filterInput(f, value) {
  const id = `filter-${f.name}`;
  const input =
    f.type === "select"
      ? h("select", { id, name: f.name }, h("option", { value: "" }, t("list.any")), f.options.map((o) => h("option", { value: o, selected: o === value }, label(f.group, o))))
      : h("input", { id, name: f.name, type: "text", value: value || "", placeholder: f.placeholder || "" });
  return h("label", { class: "filter" }, h("span", {}, t(`field.${f.name}`)), input);
}

/** Columns whose values are vocabulary (shown through the catalogue). */
const LABELLED = ["kind", "priority", "department", "source", "severity", "party", "channel"];

function cell(column, row, kind) {
  const value = row[column];
  if (column === "number") {
    const href = issueHref(kind, row.number || row.id);
    return h("td", {}, href ? h("a", { href, class: "issue-link" }, row.number || row.id) : show(value));
  }
  if (column === "status") return h("td", {}, h("span", { class: `status status-${value}` }, label("status", value)));
  if (LABELLED.includes(column) && typeof value === "string") return h("td", {}, label(column === "kind" ? `${kind}_kind` : column, value));
  if (column === "overdue") return h("td", {}, value ? h("span", { class: "badge warn" }, t("field.overdue")) : "");
  return h("td", {}, show(maybeTime(value)));
}

export async function render(main, params, query) {
  const spec = LISTS[params.kind];
  const form = h(
    "form",
    { class: "filters", id: "list-filters" },
    spec.filters.map((f) => filterInput(f, query[f.name])),
    h("button", { type: "submit", id: "list-apply" }, t("list.apply")),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const data = Object.fromEntries([...new FormData(form).entries()].filter(([, v]) => v !== ""));
    const qs = new URLSearchParams(data).toString();
    location.hash = `#/list/${params.kind}${qs ? `?${qs}` : ""}`;
  });
  const filters = Object.fromEntries(spec.filters.map((f) => [f.name, query[f.name]]));
  const page = await get(`/${params.kind}`, { ...filters, limit: 50, cursor: query.cursor });
  const table = h(
    "table",
    { class: "list", id: "list-table" },
    h("thead", {}, h("tr", {}, spec.columns.map((c) => h("th", {}, t(`field.${c}`))))),
    h("tbody", {}, page.items.map((row) => h("tr", {}, spec.columns.map((c) => cell(c, row, spec.kind))))),
  );
  const pager = h("div", { class: "pager" });
  if (query.cursor) {
    const first = { ...query };
    delete first.cursor;
    pager.append(h("a", { href: `#/list/${params.kind}?${new URLSearchParams(first)}`, id: "list-first" }, t("list.first")));
  }
  if (page.next_cursor) {
    pager.append(h("a", { href: `#/list/${params.kind}?${new URLSearchParams({ ...query, cursor: page.next_cursor })}`, id: "list-next" }, t("list.next")));
  }
  append(main, [
    h("h1", {}, t(`nav.${params.kind}`)),
    params.kind === "tickets" ? h("p", {}, h("a", { href: "#/new/ticket", class: "button" }, t("receive.title"))) : null,
    form,
    page.items.length ? table : h("p", { class: "muted", id: "list-empty" }, t("list.empty")),
    pager,
  ]);
}
