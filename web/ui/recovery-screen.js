// Right after sign-up: the recovery phrase, shown once, with its kit (print or download), then a check that it was
// written down: three of the words, each typed in a field labelled "Word N".

import { busy, byId, h } from "./dom.js";
import { messageFor } from "./messages.js";
import { INSTRUCTIONS, checkTypedWords, downloadKit, pickCheckPositions } from "./recovery-kit.js";

export class RecoveryScreen {
  #call;
  #onConfirmed;
  #kit = null;
  #positions = [];

  // onConfirmed(): the phrase is confirmed (the worker forgot it)
  constructor({ call, onConfirmed }) {
    this.#call = call;
    this.#onConfirmed = onConfirmed;
    byId("kit-print").addEventListener("click", () => window.print());
    byId("kit-download").addEventListener("click", () => this.#kit && downloadKit(this.#kit));
    const form = byId("recovery-confirm-form");
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      busy(form.querySelector("button[type=submit]"), () => this.#confirm());
    });
  }

  // registered: the app.register result
  show(registered) {
    this.#kit = {
      words: registered.recovery_words,
      username: registered.username,
      relay: registered.relay_origin,
      fingerprint: registered.fingerprint,
      createdAt: registered.created_at ?? Date.now(),
    };
    byId("recovery-words").replaceChildren(
      ...this.#kit.words.map((word, i) =>
        h("li", {}, h("span", { class: "n", "aria-hidden": "true" }, String(i + 1)), h("span", { class: "w" }, word)),
      ),
    );
    byId("kit-username").textContent = this.#kit.username;
    byId("kit-relay").textContent = this.#kit.relay;
    byId("kit-fingerprint").textContent = this.#kit.fingerprint;
    byId("kit-date").textContent = new Date(this.#kit.createdAt).toLocaleDateString(undefined, {
      year: "numeric",
      month: "long",
      day: "numeric",
    });
    byId("kit-instructions").replaceChildren(...INSTRUCTIONS.map((line) => h("li", {}, line)));
    this.#positions = pickCheckPositions(this.#kit.words.length);
    byId("word-checks").replaceChildren(
      ...this.#positions.map((n) =>
        h(
          "div",
          { class: "field" },
          h("label", { for: `word-check-${n}` }, `Word ${n}`),
          h("input", {
            id: `word-check-${n}`,
            name: `word-${n}`,
            autocomplete: "off",
            autocapitalize: "none",
            spellcheck: "false",
            dataset: { position: String(n) },
          }),
        ),
      ),
    );
    byId("recovery-error").textContent = "";
  }

  async #confirm() {
    const error = byId("recovery-error");
    const inputs = [...byId("word-checks").querySelectorAll("input")];
    const words = checkTypedWords(inputs, this.#kit.words, error);
    if (!words) return;
    try {
      await this.#call("app.recovery_confirmed", { words });
    } catch (err) {
      error.textContent = messageFor(err);
      return;
    }
    this.clear();
    await this.#onConfirmed();
  }

  clear() {
    this.#kit = null;
    this.#positions = [];
    byId("recovery-words").replaceChildren();
    byId("word-checks").replaceChildren();
    for (const id of ["kit-username", "kit-relay", "kit-fingerprint", "kit-date", "recovery-error"]) byId(id).textContent = "";
  }
}
