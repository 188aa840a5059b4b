// The fields of each kind shown as its current (or past) state.

import { h, show } from "../dom.js";
import { label, t } from "../i18n.js";
import { maybeTime } from "../time.js";

export const STATE_FIELDS = {
  ticket: ["status", "project", "kind", "channel", "priority", "category", "description", "reporter.name", "reporter.unit", "reporter.phone", "department", "assignee", "received_at", "response_due", "resolution_due", "resolution", "personal_data"],
  nonconformance: ["status", "project", "source", "severity", "description", "department", "responsible_department", "responsible_person", "due_date", "notice_count", "root_cause", "corrective_actions", "preventive_actions", "plan_status", "rectification", "verifications", "overdue"],
  inspection: ["status", "project", "kind", "template_name", "template_version", "planned_for", "inspectors", "score", "grade", "pay_adjustment_pct"],
  survey: ["status", "title", "party", "projects", "period", "target_sample", "target_csi"],
  template: ["status", "name", "latest_version", "draft_revision"],
  project: ["code", "name", "region", "households", "registered_at"],
};

function pick(obj, path) {
  return path.split(".").reduce((o, k) => (o === null || o === undefined ? undefined : o[k]), obj);
}

function display(kind, name, value) {
  if (name === "kind" && typeof value === "string") return label(`${kind}_kind`, value);
  if (name === "status") return h("span", { class: `status status-${value}` }, label("status", value));
  if (name === "source" && value && typeof value === "object") return value.number || value.ref || label("source", value.type);
  if (Array.isArray(value) && value.every((v) => typeof v !== "object")) return value.length ? value.join("; ") : "—";
  if (typeof value === "string" && ["kind", "channel", "priority", "department", "responsible_department", "severity", "party", "personal_data"].includes(name)) return label(name === "responsible_department" ? "department" : name, value);
  return show(maybeTime(value));
}

/** A definition list of the kind's fields; each value cell has id `${prefix}-${field}`. */
export function stateList(kind, data, prefix) {
  const fields = STATE_FIELDS[kind] || Object.keys(data);
  return h(
    "dl",
    { class: "state", id: `${prefix}-fields` },
    fields.map((f) => [h("dt", {}, t(`field.${f}`)), h("dd", { id: `${prefix}-${f.replace(/\./g, "-")}` }, display(kind, f, pick(data, f)))]),
  );
}

/** Every field as returned, as plain text (for what the list above leaves out). */
export function allFields(data) {
  return h("details", { class: "raw" }, h("summary", {}, t("issue.all_fields")), h("pre", {}, JSON.stringify(data, null, 2)));
}
