// Complaint analysis (投诉分析): a project's monthly analysis from
// GET /projects/{code}/complaints/{month} — totals, a bar chart of complaints per level-1
// category this month and last, the table by level-1 and level-2 category (share,
// month-on-month change, repeats, closure, satisfaction), the repeat complaints and the
// category texts the taxonomy did not know. Filters (project, month) live in the address:
// #/complaints?project=P1&month=2026-03. CSV: the same request with format=csv.

import { ApiError, download, get } from "../api.js";
import { h, show } from "../dom.js";
import { t } from "../i18n.js";

const ECHARTS = "../../vendor/echarts/echarts.esm.min.js";
const FONT = 'system-ui, "PingFang SC", "Microsoft YaHei", "Noto Sans CJK SC", sans-serif';

function thisMonth() {
  const now = new Date();
  return `${now.getFullYear()}-${String(now.getMonth() + 1).padStart(2, "0")}`;
}

async function filterForm(projects, project, month) {
  const field = (key, input) => h("label", { class: "filter" }, h("span", {}, t(key)), input);
  const form = h(
    "form",
    { class: "filters", id: "complaints-filters" },
    field(
      "field.project",
      h(
        "select",
        { id: "complaints-project", name: "project" },
        projects.map((p) => h("option", { value: p.code, selected: p.code === project }, `${p.code} ${p.name}`)),
      ),
    ),
    field("complaints.month", h("input", { id: "complaints-month", name: "month", type: "month", value: month })),
    h("button", { type: "submit", id: "complaints-apply" }, t("list.apply")),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const data = Object.fromEntries([...new FormData(form).entries()].filter(([, v]) => v !== ""));
    location.hash = `#/complaints?${new URLSearchParams(data).toString()}`;
  });
  return form;
}

const pct = (v) => (v === null || v === undefined ? "—" : `${v}%`);
const signed = (v) => (v > 0 ? `+${v}` : String(v));

function totals(a) {
  const x = a.totals;
  const item = (key, value, id) => h("div", { class: "figure" }, h("dt", {}, t(key)), h("dd", { id }, value));
  return h(
    "dl",
    { class: "complaint-totals", id: "complaints-totals" },
    item("complaints.col.complaints", String(x.complaints), "complaints-total"),
    item("complaints.col.change", `${signed(x.change)} (${pct(x.change_pct)}) · ${a.previous_month}: ${x.previous_month}`, "complaints-change"),
    item("complaints.col.repeats", String(x.repeat_complaints), "complaints-repeat-total"),
    item("complaints.col.closure", pct(x.closure_pct)),
    item("complaints.col.satisfaction", pct(x.satisfaction_pct)),
  );
}

function table(a) {
  const cols = ["category", "complaints", "share", "previous", "change", "repeats", "closure", "satisfaction"];
  const rows = [];
  for (const top of a.by_category) {
    rows.push(top);
    // Level-2 rows under their level-1; the level-1 alone (a text naming no level-2) shows
    // as "unspecified" when the category has level-2 rows too.
    const subs = a.by_subcategory.filter((sub) => sub.parent === top.code);
    if (subs.length === 1 && subs[0].code === top.code) continue;
    for (const sub of subs) rows.push(sub.code === top.code ? { ...sub, name: `${sub.name} ${t("complaints.unspecified")}` } : sub);
  }
  return h(
    "table",
    { class: "list", id: "complaints-table" },
    h("thead", {}, h("tr", {}, cols.map((c) => h("th", {}, t(`complaints.col.${c}`))))),
    h(
      "tbody",
      {},
      rows.map((r) =>
        h(
          "tr",
          { "data-code": r.code, "data-level": r.level, class: r.level === 2 ? "sub" : "top" },
          h("td", {}, r.level === 2 ? `└ ${r.name}` : r.name, h("span", { class: "muted small" }, ` ${r.code}`)),
          h("td", { class: "num complaints-count" }, String(r.complaints)),
          h("td", { class: "num" }, pct(r.share_pct)),
          h("td", { class: "num" }, String(r.previous_month)),
          h("td", { class: "num" }, `${signed(r.change)}${r.change_pct === null ? "" : ` (${r.change_pct}%)`}`),
          h("td", { class: "num" }, String(r.repeat_complaints)),
          h("td", { class: "num" }, pct(r.closure_pct)),
          h("td", { class: "num" }, pct(r.satisfaction_pct)),
        ),
      ),
    ),
  );
}

function repeats(a) {
  if (!a.repeats.length) return h("p", { class: "muted", id: "complaints-no-repeats" }, t("complaints.no_repeats"));
  const cols = ["number", "unit", "category", "repeat_of", "days"];
  return h(
    "table",
    { class: "list", id: "complaints-repeats" },
    h("thead", {}, h("tr", {}, cols.map((c) => h("th", {}, t(`complaints.rep.${c}`))))),
    h(
      "tbody",
      {},
      a.repeats.map((r) =>
        h(
          "tr",
          { "data-number": r.number },
          h("td", {}, h("a", { href: `#/issue/ticket/${r.number}` }, r.number)),
          h("td", {}, show(r.unit)),
          h("td", {}, r.category_path),
          h("td", {}, h("a", { href: `#/issue/ticket/${r.repeat_of_number}` }, r.repeat_of_number)),
          h("td", { class: "num" }, String(r.repeat_days)),
        ),
      ),
    ),
  );
}

function unknown(a) {
  if (!a.unknown_texts.length) return h("p", { class: "muted" }, t("complaints.no_unknown"));
  return h(
    "ul",
    { id: "complaints-unknown" },
    a.unknown_texts.map((u) => h("li", {}, `“${u.text}” × ${u.complaints}`)),
  );
}

function chartOption(a) {
  const rows = a.by_category;
  return {
    animation: false,
    textStyle: { fontFamily: FONT },
    tooltip: { trigger: "axis", renderMode: "richText", confine: true, axisPointer: { type: "shadow" } },
    legend: { top: 0 },
    grid: { left: 12, right: 12, top: 40, bottom: 8, containLabel: true },
    xAxis: { type: "category", data: rows.map((r) => r.name), axisLabel: { interval: 0 } },
    yAxis: { type: "value", minInterval: 1, name: t("complaints.unit"), nameTextStyle: { align: "left" } },
    series: [
      { type: "bar", name: a.month, data: rows.map((r) => r.complaints), label: { show: true, position: "top" } },
      { type: "bar", name: a.previous_month, data: rows.map((r) => r.previous_month), itemStyle: { opacity: 0.45 } },
    ],
  };
}

export async function render(main, params, query) {
  let projects = [];
  try {
    projects = (await get("/projects")).items;
  } catch {
    projects = [];
  }
  const project = query.project || (projects[0] && projects[0].code) || "";
  const month = query.month || thisMonth();
  main.append(h("h1", {}, t("complaints.title")), await filterForm(projects, project, month));
  const status = h("p", { class: "chart-status muted small", id: "complaints-status", role: "status" });
  if (!project) {
    status.textContent = t("dash.no_data");
    main.append(status);
    return;
  }
  let a;
  try {
    a = await get(`/projects/${encodeURIComponent(project)}/complaints/${encodeURIComponent(month)}`);
  } catch (error) {
    status.textContent = error instanceof ApiError ? t("error.api", { status: error.status, detail: error.message }) : String(error);
    status.classList.add("error");
    main.append(status);
    return;
  }
  const csv = h("button", { type: "button", class: "csv", id: "complaints-csv" }, t("dash.csv"));
  csv.addEventListener("click", async () => {
    csv.disabled = true;
    try {
      const got = await download(`/projects/${encodeURIComponent(project)}/complaints/${encodeURIComponent(month)}`, "complaints.csv", {
        query: { format: "csv" },
        accept: "text/csv",
        filename: `complaints-${project}-${month}.csv`,
      });
      status.textContent = t("dash.downloaded", { name: got.name, bytes: got.bytes });
    } catch (error) {
      status.textContent = error instanceof ApiError ? t("error.api", { status: error.status, detail: error.message }) : String(error);
    } finally {
      csv.disabled = false;
    }
  });
  const box = h("div", { class: "chart", id: "chart-complaints", "data-points": "" });
  main.append(
    h(
      "section",
      { class: "panel", id: "complaints-analysis", "data-project": project, "data-month": month },
      h("div", { class: "chart-head" }, h("h2", {}, `${a.project.name} · ${a.month}`), csv),
      totals(a),
      box,
      status,
    ),
    h("section", { class: "panel" }, h("h2", {}, t("complaints.by_category")), table(a)),
    h("section", { class: "panel" }, h("h2", {}, t("complaints.repeats")), repeats(a)),
    h("section", { class: "panel" }, h("h2", {}, t("complaints.unknown")), unknown(a)),
  );
  if (!a.by_category.length) {
    box.dataset.points = "0";
    box.classList.add("empty");
    status.textContent = t("dash.no_data");
    return;
  }
  const echarts = await import(ECHARTS);
  const chart = echarts.init(box, null, { renderer: "canvas" });
  const onResize = () => chart.resize();
  window.addEventListener("resize", onResize);
  window.addEventListener(
    "hashchange",
    () => {
      window.removeEventListener("resize", onResize);
      chart.dispose();
    },
    { once: true },
  );
  const option = chartOption(a);
  chart.on("finished", () => {
    box.dataset.points = String(option.series.reduce((n, s) => n + s.data.filter((v) => v !== null).length, 0));
  });
  chart.setOption(option);
}
