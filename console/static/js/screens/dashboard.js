// The dashboard: charts of the public KPI API (GET /kpis/<kind>), filtered by region,
// project and period (months). Each chart draws the rows of one KPI query and offers that
// same query as CSV (`format=csv`, fetched with the bearer token, saved from a Blob).
// Apache ECharts (vendor/echarts, loaded only on this screen) draws on canvas; tooltips
// are drawn on the canvas too (`renderMode: "richText"`), so the page's CSP needs no
// inline style. Each chart's container gets `data-points` = the data points it drew.

import { ApiError, download, get } from "../api.js";
import { h } from "../dom.js";
import { label, t } from "../i18n.js";

const ECHARTS = "../../vendor/echarts/echarts.esm.min.js";
const FONT = 'system-ui, "PingFang SC", "Microsoft YaHei", "Noto Sans CJK SC", sans-serif';
const FILTERS = ["region", "project", "from", "to"];
const GRADES = ["a", "b", "c", "d", "e"];

const months = (rows) => [...new Set(rows.map((r) => r.month))].sort();
const values = (rows, field) => rows.map((r) => r[field] ?? null);

function base(extra) {
  return {
    animation: false,
    textStyle: { fontFamily: FONT },
    tooltip: { trigger: "axis", renderMode: "richText", confine: true },
    legend: { top: 0, type: "scroll" },
    grid: { left: 12, right: 12, top: 64, bottom: 8, containLabel: true },
    ...extra,
  };
}

const valueAxis = (name, extra) => ({ type: "value", name, nameTextStyle: { align: "left" }, ...extra });
const pctAxis = (name) => valueAxis(name, { min: 0, max: 100, splitLine: { show: false }, nameTextStyle: { align: "right" } });

/** A vertical interval (95% CI) per category, drawn as an error bar. */
function errorBars(name, data) {
  return {
    type: "custom",
    name,
    data,
    z: 10,
    itemStyle: { color: "#243b53" },
    encode: { x: 0, y: [1, 2] },
    renderItem(params, api) {
      const lo = api.coord([api.value(0), api.value(1)]);
      const hi = api.coord([api.value(0), api.value(2)]);
      const half = Math.min(12, api.size([1, 0])[0] * 0.12);
      const style = { stroke: "#243b53", lineWidth: 1.5 };
      return {
        type: "group",
        children: [
          { type: "line", shape: { x1: lo[0], y1: lo[1], x2: hi[0], y2: hi[1] }, style },
          { type: "line", shape: { x1: lo[0] - half, y1: lo[1], x2: lo[0] + half, y2: lo[1] }, style },
          { type: "line", shape: { x1: hi[0] - half, y1: hi[1], x2: hi[0] + half, y2: hi[1] }, style },
        ],
      };
    },
  };
}

/** The charts: id, title key, KPI query (kind, group_by) and rows -> ECharts option. */
export const CHARTS = [
  {
    id: "tickets-volume",
    kind: "tickets",
    group_by: "month",
    option: (rows) =>
      base({
        xAxis: { type: "category", data: values(rows, "month") },
        yAxis: [valueAxis(t("dash.unit.tickets")), pctAxis(t("dash.unit.pct"))],
        series: [
          { type: "bar", name: t("dash.m.received"), data: values(rows, "received") },
          { type: "bar", name: t("dash.m.closed"), data: values(rows, "closed") },
          { type: "line", name: t("dash.m.sla_met_pct"), yAxisIndex: 1, data: values(rows, "sla_met_pct") },
        ],
      }),
  },
  {
    id: "tickets-times",
    kind: "tickets",
    group_by: "month",
    option: (rows) =>
      base({
        xAxis: { type: "category", data: values(rows, "month") },
        yAxis: [valueAxis(t("dash.unit.minutes")), valueAxis(t("dash.unit.hours"), { splitLine: { show: false }, nameTextStyle: { align: "right" } })],
        series: [
          { type: "line", name: t("dash.m.response_median_minutes"), data: values(rows, "response_median_minutes") },
          { type: "line", name: t("dash.m.resolution_median_hours"), yAxisIndex: 1, data: values(rows, "resolution_median_hours") },
        ],
      }),
  },
  {
    id: "inspection-scores",
    kind: "inspections",
    group_by: "project,month",
    option: (rows) => {
      const x = months(rows);
      const projects = [...new Set(rows.map((r) => r.project))].sort();
      return base({
        xAxis: { type: "category", data: x },
        yAxis: valueAxis(t("dash.unit.score"), { scale: true }),
        series: projects.map((p) => {
          const byMonth = new Map(rows.filter((r) => r.project === p).map((r) => [r.month, r.score_avg ?? null]));
          return { type: "line", name: p, connectNulls: true, data: x.map((m) => byMonth.get(m) ?? null) };
        }),
      });
    },
  },
  {
    id: "inspection-grades",
    kind: "inspections",
    group_by: "project",
    option: (rows) =>
      base({
        xAxis: { type: "category", data: values(rows, "project") },
        yAxis: valueAxis(t("dash.unit.inspections"), { minInterval: 1 }),
        series: GRADES.map((g) => ({
          type: "bar",
          stack: "grades",
          name: t("dash.m.grade", { grade: g.toUpperCase() }),
          data: values(rows, `grade_${g}`),
        })),
      }),
  },
  {
    id: "failed-items",
    kind: "inspections",
    group_by: "item",
    option: (rows) => {
      // Most failed first, at the top; ties by code.
      const sorted = [...rows].sort((a, b) => (b.items_failed ?? 0) - (a.items_failed ?? 0) || String(a.item).localeCompare(String(b.item)));
      return base({
        tooltip: { trigger: "axis", renderMode: "richText", confine: true, axisPointer: { type: "shadow" } },
        xAxis: [valueAxis("", { minInterval: 1 }), pctAxis("")],
        yAxis: { type: "category", inverse: true, data: values(sorted, "item") },
        series: [
          { type: "bar", name: t("dash.m.items_failed"), data: values(sorted, "items_failed") },
          { type: "scatter", name: t("dash.m.item_fail_rate_pct"), xAxisIndex: 1, symbol: "diamond", symbolSize: 10, data: values(sorted, "item_fail_rate_pct") },
        ],
      });
    },
  },
  {
    id: "survey-csi",
    kind: "surveys",
    group_by: "campaign",
    option: (rows) => {
      const x = values(rows, "campaign");
      return base({
        xAxis: { type: "category", data: x },
        yAxis: valueAxis(t("dash.unit.index"), { min: 0, max: 100 }),
        series: [
          { type: "bar", name: t("dash.m.csi"), barMaxWidth: 48, data: values(rows, "csi") },
          errorBars(
            t("dash.m.csi_ci95"),
            rows.map((r, i) => [i, r.csi_ci95_low ?? null, r.csi_ci95_high ?? null]),
          ),
          { type: "line", name: t("dash.m.cli"), symbol: "diamond", symbolSize: 10, data: values(rows, "cli") },
        ],
      });
    },
  },
  {
    id: "nc-trend",
    kind: "nonconformances",
    group_by: "month,source",
    wide: true,
    option: (rows) => {
      const x = months(rows);
      const sources = [...new Set(rows.map((r) => r.source))].sort();
      const panels = ["open", "overdue", "closed_on_time"];
      const width = 100 / panels.length;
      return base({
        legend: { top: 0, type: "scroll", data: sources.map((s) => label("source", s)) },
        title: panels.map((m, i) => ({ text: t(`dash.m.${m}`), left: `${i * width + 1}%`, top: 26, textStyle: { fontSize: 13, fontFamily: FONT } })),
        grid: panels.map((m, i) => ({ left: `${i * width + 1}%`, width: `${width - 3}%`, top: 56, bottom: 8, containLabel: true })),
        xAxis: panels.map((m, i) => ({ type: "category", gridIndex: i, data: x })),
        yAxis: panels.map((m, i) => valueAxis("", { gridIndex: i, minInterval: 1 })),
        series: panels.flatMap((m, i) =>
          sources.map((s) => {
            const byMonth = new Map(rows.filter((r) => r.source === s).map((r) => [r.month, r[m] ?? null]));
            return { type: "line", name: label("source", s), xAxisIndex: i, yAxisIndex: i, data: x.map((mo) => byMonth.get(mo) ?? null) };
          }),
        ),
      });
    },
  },
];

/** How many data points an option draws (non-null values over every series). */
function pointsOf(option) {
  return option.series.reduce((n, s) => n + s.data.filter((v) => (Array.isArray(v) ? v.slice(1).every((x) => x !== null) : v !== null)).length, 0);
}

function queryOf(chart, filters) {
  return { ...filters, group_by: chart.group_by };
}

async function choices(path, query) {
  try {
    return (await get(path, query)).items;
  } catch {
    return null; // the filter then takes a typed code
  }
}

function select(name, items, value, text) {
  if (items === null) return h("input", { id: `dash-${name}`, name, type: "text", value: value || "" });
  return h(
    "select",
    { id: `dash-${name}`, name },
    h("option", { value: "" }, t("list.any")),
    items.map((it) => h("option", { value: it.code, selected: it.code === value }, `${it.code} ${text(it)}`)),
  );
}

async function filterForm(query) {
  const [regions, projects] = await Promise.all([choices("/regions"), choices("/projects", { region: query.region })]);
  const field = (key, input) => h("label", { class: "filter" }, h("span", {}, t(key)), input);
  const form = h(
    "form",
    { class: "filters", id: "dash-filters" },
    field("field.region", select("region", regions, query.region, (r) => r.name)),
    field("field.project", select("project", projects, query.project, (p) => p.name)),
    field("dash.from", h("input", { id: "dash-from", name: "from", type: "month", value: query.from || "" })),
    field("dash.to", h("input", { id: "dash-to", name: "to", type: "month", value: query.to || "" })),
    h("button", { type: "submit", id: "dash-apply" }, t("list.apply")),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const data = Object.fromEntries([...new FormData(form).entries()].filter(([, v]) => v !== ""));
    const qs = new URLSearchParams(data).toString();
    location.hash = `#/dashboard${qs ? `?${qs}` : ""}`;
  });
  return form;
}

function card(chart, filters) {
  const status = h("p", { class: "chart-status muted small", id: `status-${chart.id}`, role: "status" });
  const box = h("div", { class: "chart", id: `chart-${chart.id}`, "data-points": "" });
  const button = h("button", { type: "button", class: "csv", id: `csv-${chart.id}` }, t("dash.csv"));
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      const got = await download(`/kpis/${chart.kind}`, `${chart.id}.csv`, {
        query: { ...queryOf(chart, filters), format: "csv" },
        accept: "text/csv",
        filename: `kpis-${chart.id}.csv`,
      });
      status.textContent = t("dash.downloaded", { name: got.name, bytes: got.bytes });
    } catch (error) {
      status.textContent = error instanceof ApiError ? t("error.api", { status: error.status, detail: error.message }) : String(error);
    } finally {
      button.disabled = false;
    }
  });
  const node = h(
    "section",
    { class: chart.wide ? "chart-card panel wide" : "chart-card panel", id: `card-${chart.id}` },
    h("div", { class: "chart-head" }, h("h2", {}, t(`dash.chart.${chart.id}`)), button),
    box,
    status,
  );
  return { node, box, status };
}

export async function render(main, params, query) {
  const filters = Object.fromEntries(FILTERS.filter((k) => query[k]).map((k) => [k, query[k]]));
  main.append(h("h1", {}, t("dash.title")), await filterForm(query));
  const cards = CHARTS.map((chart) => [chart, card(chart, filters)]);
  main.append(h("div", { class: "charts", id: "dash-charts" }, cards.map(([, c]) => c.node)));

  const echarts = await import(ECHARTS);
  const instances = [];
  const onResize = () => instances.forEach((c) => c.resize());
  window.addEventListener("resize", onResize);
  window.addEventListener(
    "hashchange",
    () => {
      window.removeEventListener("resize", onResize);
      instances.forEach((c) => c.dispose());
    },
    { once: true },
  );

  // One request per distinct query (two ticket charts share theirs).
  const answers = new Map();
  const rowsOf = (chart) => {
    const key = `${chart.kind}?${chart.group_by}`;
    if (!answers.has(key)) answers.set(key, get(`/kpis/${chart.kind}`, queryOf(chart, filters)));
    return answers.get(key);
  };
  await Promise.all(
    cards.map(async ([chart, { box, status }]) => {
      let rows;
      try {
        rows = (await rowsOf(chart)).rows;
      } catch (error) {
        status.textContent = error instanceof ApiError ? t("error.api", { status: error.status, detail: error.message }) : String(error);
        status.classList.add("error");
        box.dataset.points = "0";
        box.classList.add("empty");
        return;
      }
      if (!rows.length) {
        status.textContent = t("dash.no_data");
        box.dataset.points = "0";
        box.classList.add("empty");
        return;
      }
      const option = chart.option(rows);
      const instance = echarts.init(box, null, { renderer: "canvas" });
      instances.push(instance);
      instance.on("finished", () => {
        box.dataset.points = String(pointsOf(option));
      });
      instance.setOption(option);
    }),
  );
}
