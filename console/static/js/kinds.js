// The kinds of issue the console shows, and where the API serves each.

export const KINDS = {
  ticket: { path: "/tickets", prefix: "TK-" },
  inspection: { path: "/inspections", prefix: "INS-" },
  nonconformance: { path: "/nonconformances", prefix: "NC-" },
  survey: { path: "/surveys", prefix: "SV-" },
  template: { path: "/checklist-templates", prefix: "CT-" },
};

/** Kind names as the audit trail and trace spell them → the console's. */
const ALIASES = { checklist_template: "template" };

export function consoleKind(kind) {
  return ALIASES[kind] || kind;
}

export function kindOfNumber(ref) {
  const upper = String(ref).toUpperCase();
  return Object.keys(KINDS).find((k) => upper.startsWith(KINDS[k].prefix)) || null;
}

/** The console's address of an issue, or null when the console has no page for its kind. */
export function issueHref(kind, ref) {
  const k = consoleKind(kind);
  return KINDS[k] || k === "project" ? `#/issue/${k}/${encodeURIComponent(ref)}` : null;
}
