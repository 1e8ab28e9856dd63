// A device without an account: "New account" (username, passphrase with a strength meter that refuses weak ones,
// confirmation) or "Sign in" (an existing account, on this new device).

import { busy, byId } from "./dom.js";
import { defaultDeviceName } from "./device-name.js";
import { isNewUsername, limits } from "./limits.js";
import { messageFor } from "./messages.js";
import { estimateStrength } from "./passphrase-strength.js";

// The sign-up rule (ui/limits.js); signing in takes any name and lets the relay judge it.
function checkUsername(value) {
  if (!value) return "Choose a username.";
  if (!isNewUsername(value)) {
    const { new_username_min_length: min, new_username_max_length: max } = limits();
    return `Use ${min} to ${max} letters, digits, or . _ @ + -, starting with a letter or digit.`;
  }
  return null;
}

export class WelcomeScreen {
  #call;
  #whenReady;
  #onRegistered;
  #onSignedIn;
  #tabs = [byId("tab-create"), byId("tab-signin")];
  #panels = [byId("create-form"), byId("signin-form")];

  // onRegistered(result, username); onSignedIn(result, {username, remember})
  constructor({ call, whenReady, onRegistered, onSignedIn }) {
    this.#call = call;
    this.#whenReady = whenReady;
    this.#onRegistered = onRegistered;
    this.#onSignedIn = onSignedIn;
    this.#tabs.forEach((tab, i) => {
      tab.addEventListener("click", () => this.selectTab(i));
      tab.addEventListener("keydown", (event) => {
        const next = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: this.#tabs.length - 1 }[event.key];
        if (next === undefined) return;
        event.preventDefault();
        const index = (next + this.#tabs.length) % this.#tabs.length;
        this.selectTab(index);
        this.#tabs[index].focus();
      });
    });
    const passphrase = byId("create-passphrase");
    passphrase.addEventListener("input", () => this.#showStrength());
    byId("create-username").addEventListener("input", () => passphrase.value && this.#showStrength());
    byId("create-form").addEventListener("submit", (event) => {
      event.preventDefault();
      busy(byId("create-submit"), () => this.#create());
    });
    byId("signin-form").addEventListener("submit", (event) => {
      event.preventDefault();
      busy(byId("signin-submit"), () => this.#signIn());
    });
  }

  selectTab(index) {
    this.#tabs.forEach((tab, i) => {
      tab.setAttribute("aria-selected", String(i === index));
      tab.tabIndex = i === index ? 0 : -1;
      this.#panels[i].hidden = i !== index;
    });
  }

  prefill(username) {
    if (username) {
      byId("signin-username").value = username;
      this.selectTab(1);
    }
  }

  focus() {
    const panel = this.#panels.find((p) => !p.hidden);
    if (panel && !panel.contains(document.activeElement)) panel.querySelector("input")?.focus();
  }

  #showStrength() {
    const strength = estimateStrength(byId("create-passphrase").value, { username: byId("create-username").value });
    const meter = byId("strength");
    meter.dataset.level = String(strength.level);
    meter.setAttribute("aria-valuenow", String(strength.level));
    meter.setAttribute("aria-valuetext", strength.verdict === "empty" ? "Empty" : strength.feedback);
    const text = byId("strength-text");
    text.textContent = strength.feedback;
    text.dataset.verdict = strength.verdict;
    return strength;
  }

  async #create() {
    const error = byId("create-error");
    error.textContent = "";
    const fields = ["create-username", "create-passphrase", "create-confirm"].map(byId);
    for (const field of fields) field.removeAttribute("aria-invalid");
    const [usernameField, passphraseField, confirmField] = fields;
    const username = usernameField.value.trim();
    const fail = (field, text) => {
      field.setAttribute("aria-invalid", "true");
      error.textContent = text;
      field.focus();
    };
    const usernameProblem = checkUsername(username);
    if (usernameProblem) return fail(usernameField, usernameProblem);
    const strength = this.#showStrength();
    if (!strength.acceptable) {
      return fail(passphraseField, strength.verdict === "empty" ? "Choose a passphrase." : strength.feedback);
    }
    if (confirmField.value !== passphraseField.value) {
      return fail(confirmField, "The two passphrases are different. Type the same passphrase twice.");
    }
    if (!(await this.#whenReady())) return fail(passphraseField, messageFor({ code: "worker_unavailable" }));
    try {
      const result = await this.#call("app.register", {
        username,
        passphrase: passphraseField.value,
        device_name: defaultDeviceName(),
      });
      this.clear();
      await this.#onRegistered(result, username);
    } catch (err) {
      const field = err?.code === "username_taken" || err?.code === "account_exists" ? usernameField : passphraseField;
      fail(field, messageFor(err));
    }
    return undefined;
  }

  async #signIn() {
    const error = byId("signin-error");
    error.textContent = "";
    const usernameField = byId("signin-username");
    const passphraseField = byId("signin-passphrase");
    const username = usernameField.value.trim();
    if (!username) {
      error.textContent = "Enter your username.";
      usernameField.focus();
      return;
    }
    if (!passphraseField.value) {
      error.textContent = "Enter your passphrase.";
      passphraseField.focus();
      return;
    }
    if (!(await this.#whenReady())) {
      error.textContent = messageFor({ code: "worker_unavailable" });
      return;
    }
    const remember = byId("signin-remember").checked;
    try {
      const result = await this.#call("app.sign_in", {
        username,
        passphrase: passphraseField.value,
        device_name: defaultDeviceName(),
        remember,
      });
      this.clear();
      await this.#onSignedIn(result, { username, remember });
    } catch (err) {
      error.textContent = messageFor(err);
      passphraseField.select();
      passphraseField.focus();
    }
  }

  // Passphrases never stay in the DOM longer than needed.
  clear() {
    for (const id of ["create-passphrase", "create-confirm", "signin-passphrase"]) byId(id).value = "";
    byId("signin-remember").checked = false;
    byId("create-error").textContent = "";
    byId("signin-error").textContent = "";
    byId("strength").dataset.level = "0";
    byId("strength-text").textContent = "";
  }
}
