// The trace graph (ticket → NC → re-inspection → next NC; survey response → action) as
// inline SVG built node by node: layers by the links' direction, click a node to open it.

import { h, s } from "../dom.js";
import { label, t } from "../i18n.js";
import { issueHref } from "../kinds.js";

const COL = 310;
const ROW = 72;
const W = 200;
const H = 48;

/** Links recorded by the later issue, pointing back at the earlier one. */
const BACKWARD = new Set(["raised_from", "recurrence_of", "reinspects"]);

/** [earlier, later] issue of a link: the graph reads left to right in the order things happened. */
function flow(l) {
  return BACKWARD.has(l.rel) ? [l.to, l.from] : [l.from, l.to];
}

/** Layer of each node: the longest chain of links leading to it (depth from the root if the links form a cycle). */
export function layers(nodes, links) {
  const layer = Object.fromEntries(nodes.map((n) => [n.id, 0]));
  for (let i = 0; i <= nodes.length; i++) {
    let moved = false;
    for (const l of links) {
      const [a, b] = flow(l);
      if (layer[a.id] === undefined || layer[b.id] === undefined) continue;
      if (layer[b.id] < layer[a.id] + 1) {
        layer[b.id] = layer[a.id] + 1;
        moved = true;
      }
    }
    if (!moved) return layer;
  }
  return Object.fromEntries(nodes.map((n) => [n.id, n.depth || 0]));
}

export function traceGraph(trace) {
  const nodes = [{ id: trace.id, number: trace.number, kind: trace.kind, project: trace.project, depth: 0, root: true }, ...trace.issues];
  if (nodes.length === 1) return h("p", { class: "muted", id: "trace-empty" }, t("trace.none"));
  const layer = layers(nodes, trace.links);
  const rows = {};
  const pos = {};
  for (const n of nodes) {
    const col = layer[n.id];
    rows[col] = (rows[col] || 0) + 1;
    pos[n.id] = { x: 10 + col * COL, y: 10 + (rows[col] - 1) * ROW };
  }
  const width = 20 + (Math.max(...Object.values(layer)) + 1) * COL - (COL - W);
  const height = 20 + Math.max(...Object.values(rows)) * ROW - (ROW - H);
  const defs = s("defs", {}, s("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 10, refY: 5, markerWidth: 8, markerHeight: 8, orient: "auto-start-reverse" }, s("path", { d: "M 0 0 L 10 5 L 0 10 z", class: "arrowhead" })));
  const edges = trace.links.map((l) => {
    const [first, second] = flow(l);
    const a = pos[first.id];
    const b = pos[second.id];
    if (!a || !b) return null;
    const arrow = BACKWARD.has(l.rel) ? { "marker-start": "url(#arrow)" } : { "marker-end": "url(#arrow)" };
    const [x1, y1, x2, y2] = [a.x + W, a.y + H / 2, b.x, b.y + H / 2];
    const bend = x2 > x1 ? `C ${x1 + 40} ${y1}, ${x2 - 40} ${y2}, ${x2} ${y2}` : `C ${x1 + 60} ${y1 + 60}, ${x2 - 60} ${y2 + 60}, ${x2} ${y2}`;
    return s(
      "g",
      { class: "edge", "data-rel": l.rel },
      s("path", { d: `M ${x1} ${y1} ${bend}`, ...arrow }),
      s("text", { x: (x1 + x2) / 2, y: (y1 + y2) / 2 - 6, "text-anchor": "middle", class: "rel" }, label("rel", l.rel)),
    );
  });
  const boxes = nodes.map((n) => {
    const p = pos[n.id];
    const href = issueHref(n.kind, n.number || n.id);
    const box = [
      s("title", {}, `${label("kind", n.kind)} ${n.number || n.id}`),
      s("rect", { x: p.x, y: p.y, width: W, height: H, rx: 6, ry: 6 }),
      s("text", { x: p.x + 10, y: p.y + 20, class: "num" }, n.number || n.id.slice(0, 8)),
      s("text", { x: p.x + 10, y: p.y + 38, class: "kind" }, `${label("kind", n.kind)} · ${n.project || ""}`),
    ];
    const attrs = { class: `node node-${n.kind}${n.root ? " root" : ""}`, "data-number": n.number || n.id, id: `trace-node-${n.number || n.id}` };
    return href && !n.root ? s("a", { ...attrs, href }, box) : s("g", attrs, box);
  });
  return h(
    "div",
    { class: "trace-wrap" },
    s("svg", { id: "trace-graph", class: "trace", width, height, viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": t("trace.title") }, defs, edges, boxes),
  );
}
