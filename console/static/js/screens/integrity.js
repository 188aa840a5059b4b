// The event store's integrity: the store-wide verification and the ledger head.

import { getWithHeaders } from "../api.js";
import { h, show } from "../dom.js";
import { t } from "../i18n.js";
import { companyTime } from "../time.js";

export async function render(main) {
  main.append(h("h1", {}, t("integrity.title")), h("p", { class: "muted" }, t("integrity.intro")));
  const result = h("div", { id: "integrity-result" }, h("p", { class: "muted" }, t("chain.checking")));
  main.append(result);
  const { body, headers } = await getWithHeaders("/audit/integrity");
  const when = companyTime(new Date(headers.get("Date") || Date.now()).toISOString());
  const head = body.ledger_head || {};
  result.replaceChildren(
    h("p", { id: "integrity-status", class: body.ok ? "ok big" : "error big" }, body.ok ? t("integrity.ok") : t("integrity.broken")),
    h(
      "dl",
      { class: "state" },
      [
        ["integrity.checked_at", when],
        ["integrity.events", body.events],
        ["integrity.issues", body.issues],
        ["integrity.sealed", body.sealed],
        ["integrity.unsealed", body.unsealed],
        ["integrity.head_seq", head.seq],
        ["integrity.head_position", head.position],
        ["integrity.head_hash", head.chain_hash],
      ].map(([k, v]) => [h("dt", {}, t(k)), h("dd", { class: k === "integrity.head_hash" ? "hash" : null }, show(v))]),
    ),
  );
  if (body.first_broken_link) result.append(h("pre", { id: "integrity-break" }, JSON.stringify(body.first_broken_link, null, 2)));
}
