// One issue: current state, allowed steps (as forms), timeline, as-of slider, trace graph,
// audit pack and the integrity of its chain. Sections the caller's role may not read
// say so (the API answered 403); nothing is fetched any other way.

import { ApiError, download, get, getWithHeaders, objectUrl } from "../api.js";
import { h } from "../dom.js";
import { STEP_FORMS, commandForm } from "../forms.js";
import { label, t } from "../i18n.js";
import { KINDS } from "../kinds.js";
import { allFields, stateList } from "../parts/fields.js";
import { scoringGrid } from "../parts/scoring.js";
import { dispatchSuggestions } from "../parts/suggestions.js";
import { timeline } from "../parts/timeline.js";
import { traceGraph } from "../parts/trace.js";
import { companyTime } from "../time.js";

/** A message for the next render of a page (after a command re-renders it). */
let flash = null;

function section(id, title, ...content) {
  return h("section", { id, class: "panel" }, h("h2", {}, title), ...content);
}

function denied(error) {
  return h("p", { class: "muted denied" }, error.status === 403 ? t("error.forbidden", { detail: error.message }) : t("error.api", { status: error.status, detail: error.message }));
}

function refresh() {
  window.dispatchEvent(new Event("hashchange"));
}

async function renderProject(main, code) {
  const projects = await get("/projects");
  const project = projects.items.find((p) => p.code === code);
  if (!project) throw new ApiError(404, { detail: t("find.not_found", { ref: code }) });
  main.append(
    h("h1", {}, `${label("kind", "project")} ${project.code}`),
    section("state", t("issue.state"), stateList("project", project, "state")),
    section("project-lists", t("issue.lists"), h("ul", { class: "quick" }, ["tickets", "inspections", "nonconformances", "surveys"].map((k) => h("li", {}, h("a", { href: `#/list/${k}?project=${encodeURIComponent(code)}` }, t(`nav.${k}`)))))),
  );
}

/** The evidence files its steps named (docs/attachments.md): photos as thumbnails, fetched
 * with the token; each downloadable. Nothing when there are none. */
function attachmentsSection(issue) {
  const files = issue.attachments || [];
  if (!files.length) return null;
  const figures = files.map((f) => {
    const picture = f.thumbnail_url
      ? h("img", { class: "thumb", alt: t("attachments.photo", { step: label("step", f.step) }), width: 160 })
      : h("span", { class: "chip" }, "PDF");
    if (f.thumbnail_url) objectUrl(f.thumbnail_url).then((u) => (picture.src = u)).catch(() => picture.remove());
    return h(
      "figure",
      { class: "attachment", "data-digest": f.digest },
      picture,
      h("figcaption", {}, `${label("step", f.step)} · ${f.media_type} · ${f.size} B`),
      h("button", { type: "button", class: "download", onclick: () => download(f.url, f.digest) }, t("attachments.download")),
      h("code", { class: "digest", title: "SHA-256" }, `${f.digest.slice(0, 16)}…`),
    );
  });
  return section("attachments", t("attachments.title", { n: files.length }), h("div", { class: "attachments" }, figures));
}

function stepsSection(kind, issue, current) {
  const forms = STEP_FORMS[kind] || {};
  const slot = h("div", { id: "step-form" });
  const allowed = issue.allowed_steps || [];
  const buttons = allowed.map((step) => {
    const fields = forms[step];
    if (kind === "inspection" && step === "scores") return h("a", { class: "button", href: "#", onclick: (e) => (e.preventDefault(), document.getElementById("scoring")?.scrollIntoView()) }, label("step", step));
    if (!fields) return h("span", { class: "chip", title: t("steps.elsewhere") }, label("step", step));
    return h(
      "button",
      {
        type: "button",
        class: "step",
        id: `step-${step}`,
        onclick: () => {
          const form = commandForm({
            id: `form-${step}`,
            path: `${KINDS[kind].path}/${encodeURIComponent(issue.number || issue.id)}/${step}`,
            fields,
            submitLabel: t("form.submit_step", { step: label("step", step) }),
            version: () => current.version,
            done: (answer) => {
              flash = t("form.done", { step: label("step", step), version: answer.version, status: label("status", answer.status) });
              refresh();
            },
          });
          // dispatch suggestions (issue #16 item 6): beside the forms that choose an assignee
          const assigning = kind === "ticket" && (step === "dispatch" || step === "transfer");
          slot.replaceChildren(h("h3", {}, label("step", step)), form, assigning ? dispatchSuggestions(issue.number || issue.id, form) : null);
          slot.querySelector("input, select, textarea")?.focus();
        },
      },
      label("step", step),
    );
  });
  const content = [allowed.length ? h("div", { class: "steps" }, buttons) : h("p", { class: "muted" }, t("steps.none")), slot];
  if (kind === "inspection" && allowed.includes("scores")) content.push(h("h3", {}, t("score.title")), scoringGrid(issue, current));
  return section("steps", t("issue.steps"), ...content);
}

function asOfSection(kind, ref, history) {
  const events = history.events;
  const max = events.length;
  const slider = h("input", { id: "asof-slider", type: "range", min: 1, max, step: 1, value: max, "aria-label": t("asof.title") });
  const caption = h("p", { id: "asof-caption", class: "muted" });
  const state = h("div", { id: "asof-state" });
  const describe = (v) => {
    const e = events[v - 1];
    caption.textContent = e ? t("asof.caption", { version: v, time: companyTime(e.occurred_at), type: label("event", e.type) }) : "";
  };
  const load = async () => {
    const v = Number(slider.value);
    describe(v);
    state.setAttribute("aria-busy", "true");
    try {
      const { body, headers } = await getWithHeaders(`/audit/${encodeURIComponent(ref)}/as-of`, { version: v });
      state.replaceChildren(stateList(kind, body, "asof"));
      state.dataset.version = headers.get("X-As-Of-Version") || String(body.version);
    } catch (error) {
      state.replaceChildren(denied(error));
    } finally {
      state.removeAttribute("aria-busy");
    }
  };
  slider.addEventListener("input", () => describe(Number(slider.value)));
  slider.addEventListener("change", load);
  describe(max);
  load();
  return section("asof", t("asof.title"), h("div", { class: "slider" }, h("span", {}, "v1"), slider, h("span", {}, `v${max}`)), caption, state);
}

function auditSection(ref, issueId) {
  const result = h("p", { id: "pack-result", class: "muted" });
  const chain = h("p", { id: "chain-result", class: "muted" });
  const packButton = h("button", { type: "button", id: "download-pack" }, t("pack.download"));
  packButton.addEventListener("click", async () => {
    result.textContent = t("pack.preparing");
    try {
      const got = await download(`/audit/${encodeURIComponent(ref)}/pack`, `audit-pack-${ref}.json`);
      result.textContent = t("pack.done", { name: got.name, bytes: got.bytes, sha: got.sha256 || "—" });
    } catch (error) {
      result.textContent = error.message;
    }
  });
  const verifyButton = h("button", { type: "button", id: "verify-chain" }, t("chain.verify"));
  verifyButton.addEventListener("click", async () => {
    chain.textContent = t("chain.checking");
    chain.className = "muted";
    try {
      const { body, headers } = await getWithHeaders("/audit/integrity");
      const breaks = (body.broken_links || []).filter((b) => b.issue_id === issueId);
      const when = companyTime(new Date(headers.get("Date") || Date.now()).toISOString());
      if (breaks.length) {
        chain.className = "error";
        chain.textContent = t("chain.broken", { version: breaks[0].version ?? "?", detail: breaks[0].detail, when });
      } else {
        chain.className = "ok";
        chain.textContent = t(body.ok ? "chain.intact" : "chain.intact_store_broken", { when, events: body.events });
      }
    } catch (error) {
      chain.replaceChildren(denied(error));
    }
  });
  return section("audit-pack", t("pack.title"), h("div", { class: "row" }, packButton, verifyButton), result, chain);
}

export async function render(main, params) {
  const kind = params.kind;
  const ref = params.ref;
  if (kind === "project") return renderProject(main, ref);
  if (!KINDS[kind]) throw new ApiError(404, { detail: t("find.not_found", { ref }) });
  const { body: issue, headers } = await getWithHeaders(`${KINDS[kind].path}/${encodeURIComponent(ref)}`);
  const current = { version: Number((headers.get("ETag") || "").replace(/\D/g, "")) || issue.version };
  const number = issue.number || issue.id;
  main.append(
    h(
      "div",
      { class: "issue-head" },
      h("h1", {}, h("span", { class: "muted" }, label("kind", kind)), " ", h("span", { id: "issue-number" }, number)),
      h("span", { id: "issue-status", class: `status status-${issue.status}` }, label("status", issue.status)),
      h("span", { id: "issue-version", class: "version" }, t("issue.version", { version: issue.version })),
    ),
  );
  if (flash) {
    main.append(h("p", { class: "flash ok", id: "flash", role: "status" }, flash));
    flash = null;
  }
  const columns = h("div", { class: "columns" });
  const left = h("div", { class: "col" }, section("state", t("issue.state"), stateList(kind, issue, "state"), allFields(issue)), attachmentsSection(issue), stepsSection(kind, issue, current));
  const right = h("div", { class: "col" });
  columns.append(left, right);
  main.append(columns);

  let history;
  try {
    history = await get(`/audit/${encodeURIComponent(number)}`);
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    right.append(section("timeline-panel", t("timeline.title"), denied(error)));
    return;
  }
  right.append(section("timeline-panel", t("timeline.title", {}), h("p", { class: "muted" }, t("timeline.count", { n: history.events.length })), timeline(history)));
  const traceSlot = section("trace", t("trace.title"), h("p", { class: "muted" }, t("app.loading")));
  right.append(traceSlot, asOfSection(kind, number, history), auditSection(number, issue.id));
  try {
    const trace = await get(`/audit/${encodeURIComponent(number)}/trace`);
    traceSlot.replaceChildren(h("h2", {}, t("trace.title")), traceGraph(trace));
  } catch (error) {
    traceSlot.replaceChildren(h("h2", {}, t("trace.title")), denied(error));
  }
}
