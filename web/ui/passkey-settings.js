// Settings → "Ways to unlock": "Remember this device" on and off, and the account's passkeys (add, list, remove).
// Each change asks for the passphrase first (passphrase-dialog.js): it is a new version of the account keys that the
// relay accepts only with a step-up signed by the passphrase's login key.

import { busy, h } from "./dom.js";
import { textField } from "./key-forms.js";
import { maxLengthOf } from "./limits.js";
import { confirmWithPassphrase } from "./passphrase-dialog.js";
import { PasskeyError, createPasskey, forgetPasskey, passkeyOutput, passkeySupport, withPrfOutput } from "./passkeys.js";
import { messageFor } from "./messages.js";
import { showToast } from "./toasts.js";

const SUPPORT_TEXT = {
  missing: "This browser cannot use passkeys to unlock Vellum (it lacks WebAuthn's PRF extension). Your passphrase still works; a current Chrome, Edge, Safari or Firefox can.",
  unknown: "This browser may not support the passkey extension Vellum needs; if adding one fails, your passphrase still works.",
};

export class PasskeySettings {
  #call;
  #account;
  #onChanged;
  #remember;
  #list;
  #support;
  #add;
  #remembered = false;
  #passkeys = [];

  // account(): {username, device_name}; onChanged(result): the account keys changed (fingerprint, rotation status)
  constructor({ call, account, onChanged }) {
    this.#call = call;
    this.#account = account;
    this.#onChanged = onChanged;
    this.#remember = h("input", { type: "checkbox", id: "keys-remember", "aria-describedby": "keys-remember-hint" });
    this.#list = h("ul", { class: "passkey-list", id: "passkey-list", "aria-label": "Passkeys" });
    this.#support = h("p", { class: "info", id: "passkey-support", hidden: true });
    this.#add = h("button", { type: "button", class: "button", id: "add-passkey" }, keyIcon(), "Add a passkey");
    this.#remember.addEventListener("change", () => this.#toggleRemember());
    this.#add.addEventListener("click", () => busy(this.#add, () => this.#addPasskey()));
  }

  panel() {
    return h(
      "section",
      { class: "panel", id: "unlock-methods-panel", "aria-labelledby": "unlock-methods-title" },
      h("h2", { id: "unlock-methods-title" }, "Ways to unlock"),
      h(
        "div",
        { class: "check-field" },
        h("label", { class: "check" }, this.#remember, h("span", {}, "Remember this device")),
        h("p", { class: "hint", id: "keys-remember-hint" }, "Vellum opens here without your passphrase. Only on a device you alone use: anyone who can open this browser can read your notes."),
      ),
      h("div", { class: "subsection" },
        h("h3", {}, "Passkeys"),
        h("p", { class: "hint" }, "Unlock with your fingerprint, face, screen lock or security key instead of typing your passphrase. The passkey stays on your authenticator; Vellum asks it for a key that only it can make."),
        this.#support,
        this.#list,
        this.#add,
      ),
    );
  }

  // status: app.status (remembered); called whenever Settings opens
  async show(status) {
    this.#remembered = Boolean(status?.remembered);
    this.#remember.checked = this.#remembered;
    const support = await passkeySupport();
    this.#support.hidden = support === "available";
    this.#support.textContent = SUPPORT_TEXT[support] ?? "";
    this.#support.dataset.support = support;
    this.#add.disabled = support === "missing";
    await this.refresh();
  }

  async refresh() {
    try {
      ({ passkeys: this.#passkeys } = await this.#call("keys.passkeys"));
    } catch (err) {
      this.#list.replaceChildren(h("li", { class: "hint" }, messageFor(err)));
      return;
    }
    if (!this.#passkeys.length) {
      this.#list.replaceChildren(h("li", { class: "list-empty-line" }, "No passkeys yet."));
      return;
    }
    this.#list.replaceChildren(
      ...this.#passkeys.map((passkey, i) => {
        const nameId = `passkey-name-${i}`;
        const remove = h("button", { type: "button", class: "button ghost danger", "aria-describedby": nameId }, "Remove");
        remove.addEventListener("click", () => this.#removePasskey(passkey, remove));
        return h(
          "li",
          { class: "passkey" },
          keyIcon(),
          h("div", { class: "grow" }, h("p", { class: "device-name", id: nameId }, passkey.name || "Passkey"), h("p", { class: "device-meta" }, `For ${passkey.rp_id || window.location.hostname}`)),
          remove,
        );
      }),
    );
  }

  async #toggleRemember() {
    const on = this.#remember.checked;
    this.#remember.checked = this.#remembered; // until the passphrase confirms it
    const done = await confirmWithPassphrase({
      title: on ? "Remember this device?" : "Stop remembering this device?",
      text: on
        ? "Vellum will open on this device without your passphrase. Anyone who can use this browser profile can then read your notes."
        : "This device will ask for your passphrase again. Vellum also replaces the account key, so the key kept here opens nothing new.",
      confirmLabel: on ? "Remember" : "Stop remembering",
      run: async (passphrase) => this.#call("keys.remember", { passphrase, on }),
    });
    if (!done) {
      this.#remember.focus();
      return;
    }
    this.#remembered = Boolean(done.remembered);
    this.#remember.checked = this.#remembered;
    this.#remember.focus();
    showToast(this.#remembered ? "This device is remembered: it opens without your passphrase." : "This device is no longer remembered.", { timeout: 5000 });
    this.#onChanged(done);
  }

  async #addPasskey() {
    const account = this.#account();
    const [nameField, nameInput] = textField("passkey-name", "Passkey name", { ...maxLengthOf("passkey_name_max_length"), autocomplete: "off" });
    nameInput.value = account.device_name ? `Passkey on ${account.device_name}` : "Passkey";
    let made = null; // {credential_id, prf_salt, rp_id}: one credential per dialog, even after a wrong passphrase
    const done = await confirmWithPassphrase({
      title: "Add a passkey",
      text: "After your passphrase, your browser asks you to create the passkey (fingerprint, face, screen lock or security key).",
      confirmLabel: "Continue",
      extra: [nameField],
      run: async (passphrase) => {
        let output;
        if (made) {
          output = await passkeyOutput(made);
        } else {
          const created = await createPasskey({ username: account.username ?? "Vellum", displayName: nameInput.value.trim() || "Vellum" });
          ({ prf_output: output, ...made } = created);
        }
        return withPrfOutput(output, (prfOutput) =>
          this.#call("keys.add_passkey", { passphrase, name: nameInput.value.trim(), prf_output: prfOutput, ...made }),
        );
      },
      describeError: (err) => (err instanceof PasskeyError ? messageFor(err) : null),
    });
    if (!done && made) forgetPasskey(made); // made, never added: do not leave it on the authenticator
    if (!done) return;
    showToast("Passkey added. Use “Unlock with passkey” when Vellum is locked.", { timeout: 5000 });
    await this.refresh();
    this.#onChanged(done);
  }

  async #removePasskey(passkey, button) {
    const name = passkey.name || "Passkey";
    const done = await confirmWithPassphrase({
      title: `Remove “${name}”?`,
      text: "It will no longer unlock Vellum. Vellum also replaces the account key, so the passkey opens nothing new.",
      confirmLabel: "Remove passkey",
      danger: true,
      run: async (passphrase) => this.#call("keys.remove_passkey", { passphrase, slot_id: passkey.slot_id }),
    });
    if (!done) {
      button.focus();
      return;
    }
    showToast(`“${name}” no longer unlocks Vellum.`, { timeout: 5000 });
    await this.refresh();
    this.#onChanged(done);
  }

  clear() {
    this.#passkeys = [];
    this.#list.replaceChildren();
  }
}

// A key, drawn like app.css's other line icons (stroke, no fill).
export function keyIcon() {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("class", "icon");
  svg.setAttribute("aria-hidden", "true");
  const circle = document.createElementNS(ns, "circle");
  circle.setAttribute("cx", "8");
  circle.setAttribute("cy", "15.5");
  circle.setAttribute("r", "4.5");
  const path = document.createElementNS(ns, "path");
  path.setAttribute("d", "M11.2 12.3 20 3.5M16.5 7l2.8 2.8M14 9.5l2 2");
  svg.append(circle, path);
  return svg;
}
