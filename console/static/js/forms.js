// Command forms: fields as data, the body built from them, posted with If-Match; a
// problem+json answer is shown next to the field it names (else above the form).

import { ApiError, command } from "./api.js";
import { h } from "./dom.js";
import { label, t } from "./i18n.js";
import * as V from "./vocabulary.js";

// -- field kinds -------------------------------------------------------------------------
export const text = (name, opts = {}) => ({ name, type: "text", ...opts });
export const area = (name, opts = {}) => ({ name, type: "area", ...opts });
export const select = (name, options, opts = {}) => ({ name, type: "select", options, group: name, ...opts });
export const bool = (name, opts = {}) => ({ name, type: "bool", ...opts });
export const int = (name, min, max, opts = {}) => ({ name, type: "int", min, max, ...opts });
export const date = (name, opts = {}) => ({ name, type: "date", ...opts });
export const lines = (name, opts = {}) => ({ name, type: "lines", ...opts });
const optional = { optional: true };

/** The forms of the steps each role does every day, by kind and step (the URL segment). */
export const STEP_FORMS = {
  ticket: {
    dispatch: [select("department", V.DEPARTMENTS), text("assignee")],
    accept: [],
    transfer: [select("department", V.DEPARTMENTS), text("assignee", optional), area("reason")],
    notes: [area("text")],
    resolve: [area("resolution")],
    callback: [
      bool("reached"),
      bool("satisfied", optional),
      int("ratings.speed", 1, 5, optional),
      int("ratings.quality", 1, 5, optional),
      int("ratings.attitude", 1, 5, optional),
      int("rating", 1, 5, optional),
      area("comment", optional),
    ],
    reopen: [area("reason")],
    close: [area("override_reason", optional)],
    cancel: [area("reason")],
    escalate: [select("severity", V.SEVERITIES), area("reason")],
    // the field steps (issue #16)
    arrive: [],
    hold: [area("reason")],
    resume: [area("reason")],
    reclassify: [select("kind", V.TICKET_KINDS, { group: "ticket_kind", optional: true }), text("category", optional), select("priority", V.PRIORITIES, optional), area("reason")],
    reject: [area("reason")],
  },
  inspection: {
    start: [],
    submit: [],
  },
  nonconformance: {
    notice: [select("responsible_department", V.DEPARTMENTS, { group: "department" }), text("responsible_person"), date("due_date", optional)],
    "root-cause": [area("analysis")],
    plan: [lines("corrective_actions"), lines("preventive_actions", optional)],
    "plan-decision": [bool("approved"), area("reason", optional)],
    rectified: [area("summary"), lines("evidence", optional)],
    verification: [bool("effective"), area("notes", optional)],
  },
};

function inputFor(field, id) {
  const common = { id, name: field.name, required: !field.optional && field.type !== "bool" };
  switch (field.type) {
    case "area":
    case "lines":
      return h("textarea", { ...common, rows: field.type === "lines" ? 3 : 2 });
    case "select":
      return h("select", common, h("option", { value: "" }, t("form.choose")), field.options.map((o) => h("option", { value: o }, label(field.group, o))));
    case "bool":
      return h(
        "select",
        { ...common, required: !field.optional },
        h("option", { value: "" }, field.optional ? t("form.unset") : t("form.choose")),
        h("option", { value: "true" }, t("form.yes")),
        h("option", { value: "false" }, t("form.no")),
      );
    case "int":
      return h("input", { ...common, type: "number", min: field.min, max: field.max, step: 1, inputmode: "numeric" });
    case "date":
      return h("input", { ...common, type: "date" });
    default:
      return h("input", { ...common, type: "text", autocomplete: "off" });
  }
}

function valueOf(field, raw) {
  const value = typeof raw === "string" ? raw.trim() : raw;
  if (field.type === "lines" && value === "") return []; // a list the API requires may be empty
  if (value === "" || value === undefined) return undefined;
  switch (field.type) {
    case "bool":
      return value === "true";
    case "int":
      return Number.parseInt(value, 10);
    case "lines":
      return value.split("\n").map((x) => x.trim()).filter(Boolean);
    default:
      return value;
  }
}

function setPath(body, path, value) {
  const parts = path.split(".");
  let target = body;
  for (const part of parts.slice(0, -1)) target = target[part] ||= {};
  target[parts.at(-1)] = value;
}

export function clearProblems(form) {
  for (const p of form.querySelectorAll(".field-error, .form-error")) p.textContent = "";
}

/** Show each of the problem's errors next to its field; the rest above the form. */
export function showProblem(form, error, staleHint) {
  clearProblems(form);
  const top = form.querySelector(".form-error");
  if (!(error instanceof ApiError)) {
    top.textContent = String(error.message || error);
    return;
  }
  if (error.status === 412) {
    top.textContent = t("form.stale", { seen: staleHint ?? "?", current: error.problem.current_version ?? "?" });
    return;
  }
  const unplaced = [];
  for (const e of error.fieldErrors) {
    const path = String(e.path || "");
    const names = [path, path.split(".")[0], path.replace(/\[\d+\]$/, "").replace(/\.\d+$/, "")];
    const slot = names.map((n) => form.querySelector(`.field-error[data-for="${CSS.escape(n)}"]`)).find(Boolean);
    if (slot) slot.textContent = e.message;
    else unplaced.push(`${path}: ${e.message}`);
  }
  const extra = error.status === 409 && Array.isArray(error.problem.allowed_steps) ? ` ${t("form.allowed_now", { steps: error.problem.allowed_steps.join(", ") || "—" })}` : "";
  top.textContent = [error.message + extra, ...unplaced].join(" · ");
}

/**
 * A form that posts `path` with the fields' body. `version()` gives the If-Match to send
 * (null: none); `done(answer)` runs after success.
 */
export function commandForm({ id, path, fields, submitLabel, version, done }) {
  const rows = fields.map((field) => {
    const inputId = `${id}-${field.name.replace(/\./g, "-")}`;
    return h(
      "div",
      { class: `field field-${field.type}` },
      h("label", { for: inputId }, t(`field.${field.name}`), field.optional ? h("span", { class: "muted" }, ` ${t("form.optional")}`) : null),
      inputFor(field, inputId),
      h("p", { class: "field-error", "data-for": field.name, role: "alert" }),
    );
  });
  const button = h("button", { type: "submit", class: "primary" }, submitLabel);
  const form = h("form", { id, class: "command-form", novalidate: false }, rows, h("p", { class: "form-error", role: "alert" }), button);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = {};
    for (const field of fields) {
      const value = valueOf(field, form.elements.namedItem(field.name).value);
      if (value !== undefined) setPath(body, field.name, value);
    }
    button.disabled = true;
    const seen = version ? version() : null;
    try {
      const answer = await command(path, body, seen);
      done(answer);
    } catch (error) {
      showProblem(form, error, seen);
    } finally {
      button.disabled = false;
    }
  });
  return form;
}
