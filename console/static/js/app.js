// The console's shell: sign-in gate, header (who am I), navigation and a hash router.
// To add a screen: write a module exporting `render(container, params, query, ctx)`,
// add a route below and, if it belongs in the menu, a NAV entry (its label in the catalogue).

import { ApiError, get, session } from "./api.js";
import { clear, h } from "./dom.js";
import { label, t } from "./i18n.js";
import { setTimeZone } from "./time.js";
import * as complaints from "./screens/complaints.js";
import * as dashboard from "./screens/dashboard.js";
import * as find from "./screens/find.js";
import * as integrity from "./screens/integrity.js";
import * as issue from "./screens/issue.js";
import * as lists from "./screens/lists.js";
import * as notifications from "./screens/notifications.js";
import * as receive from "./screens/receive.js";
import * as signin from "./screens/signin.js";
import * as warnings from "./screens/warnings.js";

/** [pattern over the path after "#", screen]; named groups become `params`. */
export const ROUTES = [
  [/^\/?$/, find],
  [/^\/list\/(?<kind>tickets|inspections|nonconformances|surveys)$/, lists],
  [/^\/issue\/(?<kind>[a-z_]+)\/(?<ref>[^/]+)$/, issue],
  [/^\/new\/ticket$/, receive],
  [/^\/integrity$/, integrity],
  [/^\/dashboard$/, dashboard],
  [/^\/notifications$/, notifications],
  [/^\/warnings$/, warnings],
  [/^\/complaints$/, complaints],
];

/** The menu: [message key, hash]. */
export const NAV = [
  ["nav.find", "#/"],
  ["nav.tickets", "#/list/tickets"],
  ["nav.inspections", "#/list/inspections"],
  ["nav.nonconformances", "#/list/nonconformances"],
  ["nav.surveys", "#/list/surveys"],
  ["nav.dashboard", "#/dashboard"],
  ["nav.warnings", "#/warnings"],
  ["nav.complaints", "#/complaints"],
  ["nav.integrity", "#/integrity"],
  ["nav.notifications", "#/notifications"],
  ["nav.api_docs", "/docs"],
];

const root = document.getElementById("app");
const ctx = { me: null, config: { timezone: "Asia/Shanghai" } };

function parseHash() {
  const raw = decodeURIComponent(location.hash.replace(/^#/, ""));
  const [path, qs] = raw.split("?", 2);
  return { path: path || "/", query: Object.fromEntries(new URLSearchParams(qs || "")) };
}

function scopeText(me) {
  const parts = [...me.projects.map((p) => t("scope.project", { code: p })), ...me.regions.map((r) => t("scope.region", { code: r }))];
  return parts.length ? parts.join(", ") : t("scope.company");
}

function header(me) {
  const current = `#${parseHash().path}`;
  return h(
    "header",
    { class: "top" },
    h("a", { class: "brand", href: "#/" }, t("app.title")),
    h(
      "nav",
      { "aria-label": t("nav.label") },
      NAV.map(([key, href]) => h("a", { href, class: current === href ? "active" : null }, t(key))),
    ),
    h(
      "div",
      { class: "who", id: "who" },
      h("span", { class: "who-name", id: "who-name" }, me.name),
      h("span", { class: "who-role", id: "who-role" }, label("role", me.role)),
      h("span", { class: "who-scope", id: "who-scope" }, scopeText(me)),
      h("button", { type: "button", class: "link", id: "sign-out", onclick: signOut }, t("signin.sign_out")),
    ),
  );
}

function signOut() {
  session.signOut();
  ctx.me = null;
  route();
}

let generation = 0;

async function route() {
  const mine = ++generation;
  if (!session.token) {
    clear(root).append(signin.view(onSignedIn));
    return;
  }
  if (!ctx.me) {
    try {
      ctx.me = await get("/me");
    } catch (error) {
      session.signOut();
      clear(root).append(signin.view(onSignedIn, error instanceof ApiError ? error.message : String(error)));
      return;
    }
  }
  if (mine !== generation) return;
  const { path, query } = parseHash();
  const main = h("main", { id: "screen" });
  clear(root).append(header(ctx.me), main);
  notifications.unreadBadge().then((n) => {
    const link = root.querySelector('nav a[href="#/notifications"]');
    if (link && n) link.append(" ", h("span", { class: "badge", id: "unread-badge" }, String(n)));
  });
  const match = ROUTES.map(([re, screen]) => [re.exec(path), screen]).find(([m]) => m);
  if (!match) {
    main.append(h("p", { class: "error" }, t("app.not_found")));
    return;
  }
  const [m, screen] = match;
  try {
    await screen.render(main, m.groups || {}, query, ctx);
  } catch (error) {
    main.append(h("p", { class: "error", role: "alert" }, error instanceof ApiError ? t("error.api", { status: error.status, detail: error.message }) : String(error)));
  }
}

function onSignedIn(me) {
  ctx.me = me;
  route();
}

window.addEventListener("hashchange", route);
window.addEventListener("qt:unauthorized", () => {
  if (ctx.me) {
    session.signOut();
    ctx.me = null;
    route();
  }
});

async function start() {
  try {
    const response = await fetch("/console/config.json", { credentials: "omit" });
    if (response.ok) ctx.config = await response.json();
  } catch {
    // the defaults above
  }
  setTimeZone(ctx.config.timezone);
  document.title = t("app.title");
  route();
}

start();
