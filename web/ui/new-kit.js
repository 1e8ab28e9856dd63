// Settings → "New recovery kit": after the passphrase (the worker rotates the account key, so the old phrase opens
// nothing current), the 24 new words are shown once, with the same printable / downloadable kit as at sign-up
// (recovery-kit.js), then three of them are typed back ("Word N") before the worker forgets them
// (`app.recovery_confirmed`). Printing prints the kit alone (keys.css: html[data-print="new-kit"]).

import { busy, h } from "./dom.js";
import { messageFor } from "./messages.js";
import { INSTRUCTIONS, checkTypedWords, downloadKit, kitFacts, pickCheckPositions } from "./recovery-kit.js";
import { showToast } from "./toasts.js";

export class NewKitView {
  #call;
  #onDone;
  #element;
  #kit = null;

  // onDone(): the kit was checked and put away
  constructor({ call, onDone = () => undefined }) {
    this.#call = call;
    this.#onDone = onDone;
    this.#element = h("div", { class: "new-kit", id: "new-kit", hidden: true });
  }

  get element() {
    return this.#element;
  }

  get showing() {
    return this.#kit !== null;
  }

  // kit: {words, username, relay, fingerprint, createdAt}
  show(kit) {
    this.#kit = kit;
    const positions = pickCheckPositions(kit.words.length);
    const checks = positions.map((n) => {
      const input = h("input", {
        id: `new-kit-word-${n}`,
        autocomplete: "off",
        autocapitalize: "none",
        spellcheck: "false",
        dataset: { position: String(n) },
      });
      return [h("div", { class: "field" }, h("label", { for: input.id }, `Word ${n}`), input), input];
    });
    const error = h("p", { class: "form-error", role: "alert" });
    const submit = h("button", { type: "submit", class: "button primary" }, "I have written it down");
    const form = h(
      "form",
      { class: "form no-print", novalidate: true },
      h("h4", {}, "Check your copy"),
      h("p", { class: "hint" }, "Type these three words from what you wrote down. Until then, Vellum keeps this phrase on screen."),
      h("div", { class: "word-checks" }, checks.map(([field]) => field)),
      error,
      submit,
    );
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      busy(submit, () => this.#confirm(checks.map(([, input]) => input), error));
    });
    const print = h("button", { type: "button", class: "button" }, "Print kit");
    print.addEventListener("click", () => {
      document.documentElement.dataset.print = "new-kit";
      window.addEventListener("afterprint", () => delete document.documentElement.dataset.print, { once: true });
      window.print();
    });
    const save = h("button", { type: "button", class: "button" }, "Download kit");
    save.addEventListener("click", () => this.#kit && downloadKit(this.#kit));
    const heading = h("h3", { id: "new-kit-title", tabindex: "-1" }, "Your new recovery phrase");
    this.#element.replaceChildren(
      heading,
      h(
        "p",
        { class: "warning-box no-print" },
        h("strong", {}, "Your old recovery phrase no longer works. "),
        "Destroy the old kit and keep this one instead. Vellum shows these words only now.",
      ),
      h(
        "article",
        { class: "recovery-kit", "aria-label": "New recovery kit" },
        h(
          "header",
          { class: "kit-header" },
          h("img", { src: "/favicon.svg", alt: "", width: "32", height: "32" }),
          h("div", {}, h("p", { class: "kit-title" }, "Vellum recovery kit"), h("p", { class: "kit-sub" }, "Anyone with these words can read your notes. Keep it private.")),
        ),
        h(
          "ol",
          { class: "recovery-words", "aria-label": "New recovery phrase" },
          kit.words.map((word, i) => h("li", {}, h("span", { class: "n", "aria-hidden": "true" }, String(i + 1)), h("span", { class: "w" }, word))),
        ),
        h("dl", { class: "kit-facts" }, kitFacts(kit).map(([name, value]) => h("div", {}, h("dt", {}, name), h("dd", { class: name === "Account fingerprint" ? "mono" : null }, value)))),
        h("ul", { class: "kit-instructions" }, INSTRUCTIONS.map((line) => h("li", {}, line))),
      ),
      h("div", { class: "button-row no-print" }, print, save),
      form,
    );
    this.#element.hidden = false;
    heading.focus();
  }

  async #confirm(inputs, error) {
    const words = checkTypedWords(inputs, this.#kit.words, error);
    if (!words) return;
    try {
      await this.#call("app.recovery_confirmed", { words });
    } catch (err) {
      // Already forgotten (a lock in another tab): the kit is still valid; only the check could not run.
      if (err?.code !== "recovery_unavailable") {
        error.textContent = messageFor(err);
        return;
      }
    }
    this.clear();
    this.#onDone();
    showToast("New recovery kit saved. Keep it somewhere safe; the old one no longer works.", { timeout: 6000 });
  }

  clear() {
    this.#kit = null;
    this.#element.replaceChildren();
    this.#element.hidden = true;
    delete document.documentElement.dataset.print;
  }
}
