// Sign in with an API token: kept in sessionStorage only, checked against GET /me.

import { ApiError, get, session } from "../api.js";
import { h } from "../dom.js";
import { t } from "../i18n.js";

export function view(onSignedIn, problem) {
  const input = h("input", { id: "token", name: "token", type: "password", autocomplete: "off", required: true, spellcheck: "false" });
  const message = h("p", { class: "error", id: "signin-error", role: "alert" }, problem || "");
  async function submit(event) {
    event.preventDefault();
    message.textContent = "";
    session.signIn(input.value.trim());
    input.value = "";
    try {
      onSignedIn(await get("/me"));
    } catch (error) {
      session.signOut();
      message.textContent = error instanceof ApiError && error.status === 401 ? t("signin.rejected") : String(error.message || error);
    }
  }
  return h(
    "section",
    { class: "signin" },
    h("h1", {}, t("app.title")),
    h("p", { class: "muted" }, t("signin.intro")),
    h(
      "form",
      { id: "signin-form", onsubmit: submit },
      h("label", { for: "token" }, t("signin.token")),
      input,
      h("p", { class: "muted small" }, t("signin.storage")),
      h("button", { type: "submit", id: "signin-submit" }, t("signin.submit")),
      message,
    ),
  );
}
