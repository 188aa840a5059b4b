// Receive a ticket at the customer service centre (front desk's first step).

import { get } from "../api.js";
import { h } from "../dom.js";
import { area, commandForm, select, text } from "../forms.js";
import { t } from "../i18n.js";
import * as V from "../vocabulary.js";

export async function render(main) {
  const projects = await get("/projects");
  const fields = [
    select("project", projects.items.map((p) => p.code), { group: "project" }),
    select("kind", V.TICKET_KINDS, { group: "ticket_kind" }),
    select("channel", V.CHANNELS),
    select("priority", V.PRIORITIES),
    text("category"),
    area("description"),
    text("reporter.name"),
    text("reporter.unit"),
    text("reporter.phone"),
  ];
  main.append(
    h("h1", {}, t("receive.title")),
    commandForm({
      id: "form-receive",
      path: "/tickets",
      fields,
      submitLabel: t("receive.submit"),
      version: null,
      done: (answer) => {
        location.hash = `#/issue/ticket/${encodeURIComponent(answer.number)}`;
      },
    }),
  );
}
