// Right after sign-up: the recovery phrase, shown once, with its kit (print or download), then a check that it was
// written down: three of the words, each typed in a field labelled "Word N".

import { busy, byId, h } from "./dom.js";
import { messageFor } from "./messages.js";
import { INSTRUCTIONS, downloadKit, pickCheckPositions } from "./recovery-kit.js";

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
    error.textContent = "";
    const inputs = [...byId("word-checks").querySelectorAll("input")];
    for (const input of inputs) input.removeAttribute("aria-invalid");
    const empty = inputs.find((input) => !input.value.trim());
    if (empty) {
      error.textContent = `Type word ${empty.dataset.position} from your written copy.`;
      empty.focus();
      return;
    }
    // Checked here first (the words are on screen anyway) so a typo gets a precise answer; the worker checks again.
    const wrong = inputs.find((input) => input.value.trim().toLowerCase() !== this.#kit.words[Number(input.dataset.position) - 1]);
    if (wrong) {
      wrong.setAttribute("aria-invalid", "true");
      error.textContent = `Word ${wrong.dataset.position} does not match. Look at your written copy and try again.`;
      wrong.focus();
      return;
    }
    const words = Object.fromEntries(inputs.map((input) => [input.dataset.position, input.value.trim().toLowerCase()]));
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
