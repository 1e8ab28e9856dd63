// "Use recovery phrase": the passphrase is forgotten, the recovery kit is at hand. On any browser, new or one that
// already holds the account:
//
// 1. Username and the 24 words, each in a field "Word N" (pasting the whole phrase into any field fills them all).
//    The worker checks the phrase locally before anything is sent: a mistyped word is named, with suggestions to
//    pick from; a phrase whose checksum fails says so. Then it logs in with the recovery key and opens the account
//    keys (`app.recover_start`), and the account fingerprint is shown to compare with the printed kit.
// 2. A new passphrase (strength meter, typed twice, as at sign-up), optionally "Remember this device" and "My old
//    passphrase may be known" (`app.recover_finish`), then the notebook, after a first sync.

import { busy, byId, h } from "./dom.js";
import { defaultDeviceName } from "./device-name.js";
import { knownAccount } from "./durability.js";
import { StrengthMeter, checkField, passwordField, splitPhrase, textField } from "./key-forms.js";
import { maxLengthOf } from "./limits.js";
import { messageFor } from "./messages.js";

const WORDS = 24;

function buildScreen() {
  const words = [];
  const items = [];
  for (let n = 1; n <= WORDS; n += 1) {
    const input = h("input", {
      id: `recover-word-${n}`,
      name: `word-${n}`,
      autocomplete: "off",
      autocapitalize: "none",
      autocorrect: "off",
      spellcheck: "false",
      enterkeyhint: n === WORDS ? "done" : "next",
      maxlength: "64",
      dataset: { position: String(n) },
    });
    words.push(input);
    items.push(
      h(
        "li",
        {},
        h("label", { for: input.id }, h("span", { class: "visually-hidden" }, "Word "), String(n)),
        input,
      ),
    );
  }
  const [usernameField, username] = textField("recover-username", "Username", {
    autocomplete: "username",
    autocapitalize: "none",
    spellcheck: "false",
    ...maxLengthOf("username_max_length"), // any existing name: the relay's sign-in rule
  });
  const suggestions = h("div", { class: "word-suggestions", id: "recover-suggestions", hidden: true });
  const wordsError = h("p", { class: "form-error", id: "recover-error", role: "alert" });
  const cancel = h("button", { type: "button", class: "button ghost" }, "Cancel");
  const next = h("button", { type: "submit", class: "button primary" }, "Continue");
  const wordsForm = h(
    "form",
    { class: "form", id: "recover-words-form", novalidate: true },
    usernameField,
    h(
      "fieldset",
      { class: "word-fieldset", "aria-describedby": "recover-words-hint" },
      h("legend", { class: "field-label" }, "Recovery phrase"),
      h("p", { class: "hint", id: "recover-words-hint" }, "The 24 words of your recovery kit, in order. Pasting the whole phrase into any field fills them all."),
      h("ol", { class: "word-grid" }, items),
    ),
    wordsError,
    suggestions,
    h("div", { class: "button-row end" }, cancel, next),
  );

  const found = h("div", { class: "info recover-found", id: "recover-found" });
  const meter = new StrengthMeter("recover-strength", "New passphrase strength");
  const [newField, newPassphrase] = passwordField(
    "recover-new",
    "New passphrase",
    { autocomplete: "new-password", describedBy: "recover-strength-text recover-new-hint" },
    meter.meter,
    meter.text,
    h("p", { class: "hint", id: "recover-new-hint" }, "Four or five random words are easy to remember and hard to guess."),
  );
  const [confirmField, confirm] = passwordField("recover-confirm", "Confirm new passphrase", { autocomplete: "new-password" });
  const [rememberField, remember] = checkField(
    "recover-remember",
    "Remember this device",
    "Only on a device you alone use: it opens without your passphrase.",
  );
  const [knownField, mayBeKnown] = checkField(
    "recover-known",
    "My old passphrase may be known",
    "Also replaces the account keys, so the old passphrase opens nothing, even on devices that kept it. Other devices then ask for the new passphrase.",
  );
  const passError = h("p", { class: "form-error", id: "recover-pass-error", role: "alert" });
  const back = h("button", { type: "button", class: "button ghost" }, "Back");
  const finish = h("button", { type: "submit", class: "button primary" }, "Set passphrase and open notes");
  const passForm = h(
    "form",
    { class: "form", id: "recover-passphrase-form", novalidate: true, hidden: true },
    found,
    newField,
    confirmField,
    rememberField,
    knownField,
    passError,
    h("div", { class: "button-row end" }, back, finish),
  );

  const section = h(
    "section",
    { class: "screen", id: "recover-screen", "aria-labelledby": "recover-title", hidden: true },
    h(
      "div",
      { class: "card wide-card" },
      h(
        "div",
        { class: "card-brand" },
        h("img", { src: "/icons/icon-192.png", alt: "", width: "56", height: "56" }),
        h("h1", { id: "recover-title", tabindex: "-1" }, "Recover your account"),
      ),
      h("p", { class: "lede", id: "recover-lede" }, "Forgot your passphrase? The recovery phrase from your kit opens your notes on this or any device. Then you choose a new passphrase."),
      wordsForm,
      passForm,
    ),
  );
  byId("main").append(section);
  return { section, words, username, suggestions, wordsError, cancel, next, wordsForm, found, meter, newPassphrase, confirm, remember, mayBeKnown, passError, back, finish, passForm };
}

export class RecoverFlow {
  #call;
  #whenReady;
  #showScreen;
  #onRecovered;
  #ui;
  #from = "welcome";
  #username = null;

  // showScreen(name); onRecovered(result, username): the notebook opens (app.js marks the account and enters it)
  constructor({ call, whenReady, showScreen, onRecovered }) {
    this.#call = call;
    this.#whenReady = whenReady;
    this.#showScreen = showScreen;
    this.#onRecovered = onRecovered;
    this.#ui = buildScreen();
    const ui = this.#ui;
    ui.words.forEach((input, i) => {
      input.addEventListener("paste", (event) => {
        const words = splitPhrase(event.clipboardData?.getData("text") ?? "");
        if (words.length < 2) return;
        event.preventDefault();
        this.#fill(words, i);
      });
      input.addEventListener("input", () => {
        this.#clearWordError(input);
        const words = splitPhrase(input.value);
        if (words.length > 1 || /\s$/.test(input.value)) this.#fill(words, i); // a space moves to the next word
      });
    });
    ui.wordsForm.addEventListener("submit", (event) => {
      event.preventDefault();
      busy(ui.next, () => this.#start());
    });
    ui.passForm.addEventListener("submit", (event) => {
      event.preventDefault();
      busy(ui.finish, () => this.#finish());
    });
    ui.newPassphrase.addEventListener("input", () => ui.meter.update(ui.newPassphrase.value, this.#username ?? ""));
    ui.passForm.addEventListener("input", () => {
      ui.passError.textContent = ""; // an old complaint must not sit under what is now being typed
      for (const input of [ui.newPassphrase, ui.confirm]) input.removeAttribute("aria-invalid");
    });
    ui.username.addEventListener("input", () => ui.username.removeAttribute("aria-invalid"));
    ui.cancel.addEventListener("click", () => this.#leave());
    ui.back.addEventListener("click", () => this.#step(1));
    document.addEventListener("vellum:use-recovery-phrase", (event) => this.open(event.detail?.from));
  }

  // from: the id of the button that opened it ("use-recovery-phrase" on the unlock screen, or on the sign-in form)
  open(from) {
    this.#from = from === "use-recovery-phrase" ? "unlock" : "welcome";
    this.clear();
    const ui = this.#ui;
    const typed = this.#from === "welcome" ? byId("signin-username").value.trim() : byId("unlock-username").value;
    ui.username.value = typed || knownAccount()?.username || "";
    this.#step(1);
    this.#showScreen("recover");
    (ui.username.value ? ui.words[0] : ui.username).focus();
  }

  #step(n) {
    const ui = this.#ui;
    ui.wordsForm.hidden = n !== 1;
    ui.passForm.hidden = n !== 2;
    byId("recover-lede").hidden = n !== 1;
    byId("recover-title").textContent = n === 1 ? "Recover your account" : "Choose a new passphrase";
    if (n === 2) ui.newPassphrase.focus();
  }

  #leave() {
    this.clear();
    this.#showScreen(this.#from);
    byId(this.#from === "unlock" ? "use-recovery-phrase" : "signin-use-recovery-phrase").focus();
  }

  // Spread `words` over the fields from `start` (a whole phrase always starts at word 1), then move on.
  #fill(words, start) {
    const ui = this.#ui;
    if (!words.length) {
      ui.words[start].value = "";
      return;
    }
    const from = words.length >= WORDS ? 0 : start;
    words.slice(0, WORDS - from).forEach((word, k) => {
      ui.words[from + k].value = word;
      this.#clearWordError(ui.words[from + k]);
    });
    const last = Math.min(from + words.length, WORDS) - 1;
    if (words.length > WORDS) {
      ui.wordsError.textContent = `That was ${words.length} words; a recovery phrase has 24. The first 24 are filled in: check them against your kit.`;
    }
    (ui.words[last + 1] ?? ui.next).focus();
  }

  #clearWordError(input) {
    if (input.getAttribute("aria-invalid") !== "true") return;
    input.removeAttribute("aria-invalid");
    input.removeAttribute("aria-describedby");
    this.#ui.wordsError.textContent = "";
    this.#ui.suggestions.hidden = true;
    this.#ui.suggestions.replaceChildren();
  }

  #wordError(position, text, suggestions = []) {
    const ui = this.#ui;
    const input = ui.words[position - 1];
    input.setAttribute("aria-invalid", "true");
    input.setAttribute("aria-describedby", "recover-error");
    ui.wordsError.textContent = text;
    ui.suggestions.replaceChildren(
      ...(suggestions.length ? [h("span", { class: "hint", "aria-hidden": "true" }, "Did you mean:")] : []),
      ...suggestions.map((word) =>
        h(
          "button",
          {
            type: "button",
            class: "button chip",
            "aria-label": `Use ${word} for word ${position}`,
            onclick: () => {
              input.value = word;
              this.#clearWordError(input);
              (ui.words[position] ?? ui.next).focus();
            },
          },
          word,
        ),
      ),
    );
    ui.suggestions.hidden = !suggestions.length;
    input.focus();
    input.select();
  }

  async #start() {
    const ui = this.#ui;
    ui.wordsError.textContent = "";
    ui.username.removeAttribute("aria-invalid");
    for (const input of ui.words) this.#clearWordError(input);
    const username = ui.username.value.trim();
    if (!username) {
      ui.username.setAttribute("aria-invalid", "true");
      ui.wordsError.textContent = "Enter your username: it is printed on your recovery kit.";
      ui.username.focus();
      return;
    }
    const words = ui.words.map((input) => input.value.trim().toLowerCase());
    const empty = words.findIndex((word) => !word);
    if (empty >= 0) {
      this.#wordError(empty + 1, `Word ${empty + 1} is empty. Type all 24 words, in the order of your kit.`);
      return;
    }
    if (!(await this.#whenReady())) {
      ui.wordsError.textContent = messageFor({ code: "worker_unavailable" });
      return;
    }
    const known = knownAccount()?.username;
    try {
      const started = await this.#call("app.recover_start", {
        username,
        words,
        ...(known && known.toLowerCase() === username.toLowerCase() ? {} : { device_name: defaultDeviceName() }),
      });
      this.#username = started.username ?? username;
      ui.found.replaceChildren(
        h("p", {}, "Recovery phrase accepted for ", h("strong", {}, this.#username), "."),
        h("p", { class: "hint" }, "Account fingerprint (compare it with your printed kit):"),
        h("p", { class: "mono fingerprint", id: "recover-fingerprint" }, started.fingerprint ?? "—"),
      );
      this.#step(2);
    } catch (err) {
      this.#showStartError(err);
    }
  }

  #showStartError(err) {
    const ui = this.#ui;
    const position = err?.details?.position;
    if (err?.code === "unknown_word" && Number.isInteger(position) && position >= 1 && position <= WORDS) {
      const suggestions = Array.isArray(err.details.suggestions) ? err.details.suggestions.filter((s) => typeof s === "string").slice(0, 3) : [];
      const typed = ui.words[position - 1].value.trim();
      const hint = suggestions.length
        ? ` Did you mean ${suggestions.slice(0, -1).join(", ")}${suggestions.length > 1 ? " or " : ""}${suggestions.at(-1)}?`
        : " Check its spelling against your kit.";
      this.#wordError(position, `Word ${position} (“${typed}”) is not a recovery-phrase word.${hint}`, suggestions);
      return;
    }
    if (err?.code === "wrong_passphrase" || err?.code === "login_failed" || err?.code === "unknown_account") {
      ui.wordsError.textContent = "No account with this username matches this recovery phrase. Check the username printed on your kit.";
    } else {
      ui.wordsError.textContent = messageFor(err);
    }
    if (err?.code === "bad_username") ui.username.focus();
    else ui.words[0].focus();
  }

  async #finish() {
    const ui = this.#ui;
    ui.passError.textContent = "";
    for (const input of [ui.newPassphrase, ui.confirm]) input.removeAttribute("aria-invalid");
    const fail = (input, text) => {
      input.setAttribute("aria-invalid", "true");
      ui.passError.textContent = text;
      input.focus();
    };
    const strength = ui.meter.update(ui.newPassphrase.value, this.#username ?? "");
    if (!strength.acceptable) return fail(ui.newPassphrase, strength.verdict === "empty" ? "Choose a new passphrase." : strength.feedback);
    if (ui.confirm.value !== ui.newPassphrase.value) {
      return fail(ui.confirm, "The two passphrases are different. Type the same passphrase twice.");
    }
    let result;
    try {
      result = await this.#call("app.recover_finish", {
        new_passphrase: ui.newPassphrase.value,
        remember: ui.remember.checked,
        may_be_known: ui.mayBeKnown.checked,
      });
    } catch (err) {
      if (err?.code === "recovery_not_started") {
        this.#step(1);
        ui.wordsError.textContent = messageFor(err);
        return undefined;
      }
      return fail(ui.newPassphrase, messageFor(err));
    }
    const username = this.#username;
    this.clear();
    await this.#onRecovered(result, username);
    return undefined;
  }

  // Words and passphrases never stay in the page longer than needed.
  clear() {
    const ui = this.#ui;
    for (const input of [...ui.words, ui.newPassphrase, ui.confirm]) {
      input.value = "";
      input.removeAttribute("aria-invalid");
      input.removeAttribute("aria-describedby");
    }
    ui.remember.checked = false;
    ui.mayBeKnown.checked = false;
    ui.meter.reset();
    ui.found.replaceChildren();
    ui.suggestions.replaceChildren();
    ui.suggestions.hidden = true;
    ui.wordsError.textContent = "";
    ui.passError.textContent = "";
    this.#username = null;
  }
}
