// Find anything by its number (TK-…, INS-…, NC-…, SV-…, CT-…), UUID or project code.

import { ApiError, get } from "../api.js";
import { h } from "../dom.js";
import { t } from "../i18n.js";
import { KINDS, issueHref, kindOfNumber } from "../kinds.js";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

async function tryGet(path) {
  try {
    return await get(path);
  } catch (error) {
    if (error instanceof ApiError && (error.status === 404 || error.status === 403 || error.status === 422)) return null;
    throw error;
  }
}

/** Where `ref` lives: [kind, number-or-code], or null. */
export async function locate(ref) {
  const byNumber = kindOfNumber(ref);
  const candidates = byNumber ? [byNumber] : UUID.test(ref) ? ["ticket", "nonconformance", "inspection", "survey", "template"] : [];
  for (const kind of candidates) {
    const found = await tryGet(`${KINDS[kind].path}/${encodeURIComponent(ref)}`);
    if (found) return [kind, found.number || found.id];
  }
  if (!byNumber && !UUID.test(ref)) {
    const projects = await tryGet("/projects");
    const project = projects && projects.items.find((p) => p.code.toLowerCase() === ref.toLowerCase());
    if (project) return ["project", project.code];
    const template = await tryGet(`/checklist-templates/${encodeURIComponent(ref)}`);
    if (template) return ["template", template.number || template.id];
  }
  return null;
}

export async function render(main) {
  const input = h("input", { id: "find-ref", name: "ref", type: "search", required: true, autofocus: true, placeholder: "TK-2026-000123", spellcheck: "false" });
  const message = h("p", { id: "find-message", class: "error", role: "alert" });
  async function submit(event) {
    event.preventDefault();
    message.textContent = "";
    const ref = input.value.trim();
    const found = await locate(ref).catch((error) => {
      message.textContent = error.message;
      return undefined;
    });
    if (found === null) message.textContent = t("find.not_found", { ref });
    if (found) location.hash = issueHref(found[0], found[1]);
  }
  main.append(
    h("h1", {}, t("find.title")),
    h(
      "form",
      { id: "find-form", class: "find", onsubmit: submit },
      h("label", { for: "find-ref" }, t("find.label")),
      h("div", { class: "row" }, input, h("button", { type: "submit", id: "find-submit" }, t("find.submit"))),
      message,
    ),
    h("p", { class: "muted" }, t("find.hint")),
    h(
      "ul",
      { class: "quick" },
      ["tickets", "inspections", "nonconformances", "surveys"].map((k) => h("li", {}, h("a", { href: `#/list/${k}` }, t(`nav.${k}`)))),
      h("li", {}, h("a", { href: "#/new/ticket", id: "new-ticket" }, t("receive.title"))),
    ),
  );
}
