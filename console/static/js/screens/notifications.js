// The caller's notifications and the company-wide circulars (全公司通报), each marked read
// with one click (a circular's read is a receipt in its audit history).

import { command, get } from "../api.js";
import { h, show } from "../dom.js";
import { t } from "../i18n.js";
import { issueHref } from "../kinds.js";
import { companyTime } from "../time.js";

export async function render(main) {
  main.append(h("h1", {}, t("notify.title")));
  const circulars = h("section", { id: "circulars" }, h("h2", {}, t("notify.circulars")));
  const mine = h("section", { id: "my-notifications" }, h("h2", {}, t("notify.mine")));
  main.append(circulars, mine);
  await Promise.all([fillCirculars(circulars), fillMine(mine)]);
}

async function fillCirculars(section) {
  const page = await get("/circulars", { limit: 50 });
  if (!page.items.length) return section.append(h("p", { class: "muted" }, t("notify.none")));
  section.append(
    h(
      "ul",
      { class: "notifications" },
      page.items.map((c) =>
        h(
          "li",
          { class: c.read ? "read" : "unread", "data-number": c.number },
          h("code", {}, c.number),
          " ",
          h("strong", {}, c.title),
          h("span", { class: "muted" }, ` ${companyTime(c.raised_at)} · ${show(c.raised_by)}`),
          h("p", {}, c.text),
          c.read
            ? h("span", { class: "muted" }, t("notify.read"))
            : h("button", { type: "button", onclick: (e) => markCircular(e, c) }, t("notify.mark_read")),
          c.receipts ? h("p", { class: "muted" }, t("notify.receipts", { n: c.receipts.length })) : null,
        ),
      ),
    ),
  );
}

async function fillMine(section) {
  const page = await get("/me/notifications", { limit: 50 });
  section.append(h("p", { class: "muted", id: "unread-count" }, t("notify.unread", { n: page.unread })));
  if (!page.items.length) return section.append(h("p", { class: "muted" }, t("notify.none")));
  section.append(
    h(
      "ul",
      { class: "notifications" },
      page.items.map((n) =>
        h(
          "li",
          { class: n.read_at ? "read" : "unread" },
          link(n.issue_kind, n.issue_number),
          " ",
          h("span", {}, n.title),
          h("span", { class: "muted" }, ` ${companyTime(n.occurred_at)}`),
          " ",
          n.read_at
            ? h("span", { class: "muted" }, t("notify.read"))
            : h("button", { type: "button", onclick: (e) => markMine(e, n) }, t("notify.mark_read")),
        ),
      ),
    ),
  );
}

function link(kind, number) {
  if (!number) return null;
  const href = issueHref(kind, number);
  return href ? h("a", { href }, number) : h("code", {}, number);
}

async function markCircular(event, c) {
  event.target.disabled = true;
  await command(`/circulars/${encodeURIComponent(c.number)}/read`, {});
  event.target.replaceWith(h("span", { class: "muted" }, t("notify.read")));
}

async function markMine(event, n) {
  event.target.disabled = true;
  await command(`/me/notifications/${n.id}/read`, {});
  event.target.replaceWith(h("span", { class: "muted" }, t("notify.read")));
}

/** The header's badge: how many of the caller's notifications are unread. */
export async function unreadBadge() {
  try {
    const page = await get("/me/notifications", { unread: "true", limit: 1 });
    return page.unread;
  } catch {
    return null;
  }
}
