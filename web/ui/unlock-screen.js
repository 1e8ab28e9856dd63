// A known device, locked: the passphrase (works offline), "Remember this device" (off by default), and the way in
// with the recovery phrase (wired by the key-lifecycle work through the "vellum:use-recovery-phrase" event).

import { busy, byId } from "./dom.js";
import { messageFor } from "./messages.js";

export class UnlockScreen {
  #call;
  #whenReady;
  #onUnlocked;

  // onUnlocked(result, {remember})
  constructor({ call, whenReady, onUnlocked }) {
    this.#call = call;
    this.#whenReady = whenReady;
    this.#onUnlocked = onUnlocked;
    byId("unlock-form").addEventListener("submit", (event) => {
      event.preventDefault();
      busy(byId("unlock-submit"), () => this.#unlock());
    });
    for (const id of ["use-recovery-phrase", "signin-use-recovery-phrase"]) {
      byId(id).addEventListener("click", () => {
        document.dispatchEvent(new CustomEvent("vellum:use-recovery-phrase", { detail: { from: id } }));
      });
    }
  }

  // Who is locked out, and why (auto-lock, another tab). Clears the last error.
  show({ username, deviceName, reason = null }) {
    this.describe({ username, deviceName });
    const reasonText = byId("unlock-reason");
    reasonText.textContent = reason ?? "";
    reasonText.hidden = !reason;
    byId("unlock-error").textContent = "";
  }

  // Only the names (the engine told them after the screen was shown): what the person typed or was told stays.
  describe({ username, deviceName }) {
    byId("unlock-username").value = username ?? "";
    byId("unlock-who").textContent = username
      ? `Signed in as ${username}${deviceName ? ` on ${deviceName}` : ""}. Your notes stay encrypted until you unlock.`
      : "Your notes stay encrypted until you unlock.";
  }

  focus() {
    if (!byId("unlock-form").contains(document.activeElement)) byId("unlock-passphrase").focus();
  }

  async #unlock() {
    const error = byId("unlock-error");
    const field = byId("unlock-passphrase");
    error.textContent = "";
    if (!field.value) {
      error.textContent = "Enter your passphrase.";
      field.focus();
      return;
    }
    if (!(await this.#whenReady())) {
      error.textContent = messageFor({ code: "worker_unavailable" });
      return;
    }
    const remember = byId("unlock-remember").checked;
    try {
      const result = await this.#call("app.unlock", { passphrase: field.value, remember });
      this.clear();
      await this.#onUnlocked(result, { remember });
    } catch (err) {
      error.textContent = messageFor(err);
      field.select();
      field.focus();
    }
  }

  clear() {
    byId("unlock-passphrase").value = "";
    byId("unlock-remember").checked = false;
    byId("unlock-error").textContent = "";
  }
}
