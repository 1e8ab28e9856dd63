// Settings for the account keys: "Passphrase and recovery" (change the passphrase; a new recovery kit), "Key
// rotation" (the schedule, "Rotate keys now", where the background work is) and, in the Devices list, "Revoke" for
// every other device. "Ways to unlock" (remember this device, passkeys) is passkey-settings.js.

import { busy, h } from "./dom.js";
import { StrengthMeter, checkField, formatDay, passwordField, plural } from "./key-forms.js";
import { messageFor } from "./messages.js";
import { NewKitView } from "./new-kit.js";
import { confirmWithPassphrase } from "./passphrase-dialog.js";
import { showToast } from "./toasts.js";

export const SCHEDULES = [30, 90, 180];
const DEFAULT_SCHEDULE = 90;

// --- passphrase and recovery --------------------------------------------------------------------------------------

export class PassphrasePanel {
  #call;
  #account;
  #onChanged;
  #toggle;
  #form;
  #fields;
  #meter;
  #error;
  #submit;
  #newKit;
  #kitButton;

  // account(): {username, relay_origin, fingerprint}; onChanged(result): fingerprint and rotation status changed
  constructor({ call, account, onChanged }) {
    this.#call = call;
    this.#account = account;
    this.#onChanged = onChanged;
    this.#meter = new StrengthMeter("change-strength", "New passphrase strength");
    const [currentField, current] = passwordField("change-current", "Current passphrase");
    const [newField, next] = passwordField(
      "change-new",
      "New passphrase",
      { autocomplete: "new-password", describedBy: "change-strength-text" },
      this.#meter.meter,
      this.#meter.text,
    );
    const [confirmField, confirm] = passwordField("change-confirm", "Confirm new passphrase", { autocomplete: "new-password" });
    const [knownField, known] = checkField(
      "change-known",
      "My passphrase may be known",
      "Also replaces the account key and identity key: whatever the old passphrase could open stops being current, devices unlocked with it ask for the new one, and the account fingerprint changes. Remembered devices and passkeys keep working.",
    );
    this.#fields = { current, next, confirm, known };
    this.#error = h("p", { class: "form-error", role: "alert" });
    this.#submit = h("button", { type: "submit", class: "button primary" }, "Save new passphrase");
    const cancel = h("button", { type: "button", class: "button ghost" }, "Cancel");
    cancel.addEventListener("click", () => this.#close());
    this.#form = h(
      "form",
      { class: "form subform", id: "change-passphrase-form", novalidate: true, hidden: true },
      currentField,
      newField,
      confirmField,
      knownField,
      h("p", { class: "hint" }, "Other devices keep working. Next time one of them is locked, unlock it with the new passphrase."),
      this.#error,
      h("div", { class: "button-row" }, this.#submit, cancel),
    );
    this.#form.addEventListener("submit", (event) => {
      event.preventDefault();
      busy(this.#submit, () => this.#change());
    });
    next.addEventListener("input", () => this.#meter.update(next.value, this.#account().username ?? ""));
    this.#form.addEventListener("input", () => {
      this.#error.textContent = ""; // an old complaint must not sit under what is now being typed
      for (const input of [current, next, confirm]) input.removeAttribute("aria-invalid");
    });
    this.#toggle = h("button", { type: "button", class: "button", "aria-expanded": "false", "aria-controls": "change-passphrase-form" }, "Change passphrase");
    this.#toggle.addEventListener("click", () => (this.#form.hidden ? this.#open() : this.#close()));
    this.#newKit = new NewKitView({ call, onDone: () => (this.#kitButton.disabled = false) });
    this.#kitButton = h("button", { type: "button", class: "button" }, "New recovery kit");
    this.#kitButton.addEventListener("click", () => this.#makeKit());
  }

  panel() {
    return h(
      "section",
      { class: "panel", id: "passphrase-panel", "aria-labelledby": "passphrase-panel-title" },
      h("h2", { id: "passphrase-panel-title" }, "Passphrase and recovery"),
      h(
        "div",
        { class: "key-row" },
        h("div", {}, h("h3", {}, "Passphrase"), h("p", { class: "hint" }, "Unlocks Vellum and signs in new devices. Nobody can reset it for you.")),
        this.#toggle,
      ),
      this.#form,
      h(
        "div",
        { class: "key-row" },
        h("div", {}, h("h3", {}, "Recovery kit"), h("p", { class: "hint" }, "Its 24 words open your notes if you forget your passphrase. Make a new one if the old kit was lost or seen by someone else.")),
        this.#kitButton,
      ),
      this.#newKit.element,
    );
  }

  #open() {
    this.#form.hidden = false;
    this.#toggle.setAttribute("aria-expanded", "true");
    this.#fields.current.focus();
  }

  #close() {
    this.#resetForm();
    this.#toggle.setAttribute("aria-expanded", "false");
    this.#toggle.focus();
  }

  #resetForm() {
    this.#form.hidden = true;
    for (const input of [this.#fields.current, this.#fields.next, this.#fields.confirm]) {
      input.value = "";
      input.removeAttribute("aria-invalid");
    }
    this.#fields.known.checked = false;
    this.#meter.reset();
    this.#error.textContent = "";
  }

  async #change() {
    const { current, next, confirm, known } = this.#fields;
    this.#error.textContent = "";
    for (const input of [current, next, confirm]) input.removeAttribute("aria-invalid");
    const fail = (input, text) => {
      input.setAttribute("aria-invalid", "true");
      this.#error.textContent = text;
      input.focus();
    };
    if (!current.value) return fail(current, "Enter your current passphrase.");
    const strength = this.#meter.update(next.value, this.#account().username ?? "");
    if (!strength.acceptable) return fail(next, strength.verdict === "empty" ? "Choose a new passphrase." : strength.feedback);
    if (next.value === current.value) return fail(next, "The new passphrase is the same as the current one. Choose another.");
    if (confirm.value !== next.value) return fail(confirm, "The two new passphrases are different. Type the same passphrase twice.");
    let result;
    try {
      result = await this.#call("keys.change_passphrase", { current: current.value, new: next.value, may_be_known: known.checked });
    } catch (err) {
      if (err?.code === "wrong_passphrase") return fail(current, "That is not your current passphrase. Check it (is Caps Lock on?) and try again.");
      return fail(err?.code === "weak_passphrase" ? next : current, messageFor(err));
    }
    this.#resetForm();
    this.#toggle.setAttribute("aria-expanded", "false");
    this.#toggle.focus();
    showToast(
      result.rotated
        ? "Passphrase changed, and the account keys were replaced. Other devices ask for the new passphrase."
        : "Passphrase changed. Use the new one to unlock Vellum on every device.",
      { timeout: 7000 },
    );
    this.#onChanged(result);
    return undefined;
  }

  async #makeKit() {
    const result = await confirmWithPassphrase({
      title: "Make a new recovery kit?",
      text: [
        "Vellum makes a new recovery phrase and shows it once.",
        "Your current recovery phrase and any printed kit stop working as soon as the new one is made.",
      ],
      confirmLabel: "Make new kit",
      run: async (passphrase) => this.#call("keys.new_recovery_kit", { passphrase }),
    });
    if (!result) {
      this.#kitButton.focus();
      return;
    }
    const account = this.#account();
    this.#kitButton.disabled = true; // one kit at a time: this one is on screen until it is checked
    this.#newKit.show({
      words: result.recovery_words,
      username: account.username ?? "",
      relay: account.relay_origin ?? window.location.origin,
      fingerprint: result.fingerprint ?? account.fingerprint ?? "",
      createdAt: Date.now(),
    });
    this.#onChanged(result);
  }

  clear() {
    this.#resetForm();
    this.#toggle.setAttribute("aria-expanded", "false");
    this.#newKit.clear();
    this.#kitButton.disabled = false;
  }
}

// --- key rotation -------------------------------------------------------------------------------------------------

export class RotationPanel {
  #call;
  #runner;
  #requestSync;
  #select;
  #now;
  #facts;
  #result;

  // runner: RotationRunner; requestSync(): ask the leader tab to sync (it then resumes the background work)
  constructor({ call, runner, requestSync }) {
    this.#call = call;
    this.#runner = runner;
    this.#requestSync = requestSync;
    this.#select = h(
      "select",
      { id: "rotation-schedule", "aria-describedby": "rotation-schedule-hint" },
      SCHEDULES.map((days) => h("option", { value: String(days) }, `${days} days`)),
    );
    this.#select.value = String(DEFAULT_SCHEDULE);
    this.#select.addEventListener("change", () => this.#setSchedule());
    this.#now = h("button", { type: "button", class: "button" }, "Rotate keys now");
    this.#now.addEventListener("click", () => busy(this.#now, () => this.#rotate()));
    this.#facts = h("dl", { class: "facts", id: "rotation-facts" });
    this.#result = h("p", { class: "hint", id: "rotation-result", "aria-live": "polite" });
  }

  panel() {
    return h(
      "section",
      { class: "panel", id: "rotation-panel", "aria-labelledby": "rotation-panel-title" },
      h("h2", { id: "rotation-panel-title" }, "Key rotation"),
      h("p", { class: "hint" }, "Vellum seals new notes under fresh keys from time to time, so a key that leaked opens less. Older notes' keys follow in the background; the app stays usable meanwhile."),
      this.#facts,
      h(
        "div",
        { class: "inline-form" },
        h("div", { class: "field grow" }, h("label", { for: "rotation-schedule" }, "Rotate keys every"), this.#select),
        this.#now,
      ),
      h("p", { class: "hint", id: "rotation-schedule-hint" }, "Counted from the last rotation on any of your devices. A rotation that is due starts by itself after Vellum unlocks and syncs."),
      this.#result,
    );
  }

  async show() {
    let status;
    try {
      status = await this.#call("keys.rotation_status");
    } catch (err) {
      this.#facts.replaceChildren(h("div", {}, h("dt", {}, "Current keys"), h("dd", {}, messageFor(err))));
      return;
    }
    if (SCHEDULES.includes(status.every_days)) this.#select.value = String(status.every_days);
    const rows = [
      ["Current keys", `Key epoch ${status.write_epoch}, since ${formatDay(status.last_rotation_at)}`],
      ["Next rotation", status.queued ? "Waiting to reach the relay" : status.due ? "Due now" : formatDay(status.due_at)],
    ];
    if (status.pending) {
      const what = status.kind === "reencrypt" ? "Re-encrypting older notes" : "Updating older notes' keys";
      const where = this.#runner.running || this.#runner.last ? "" : " (runs in the Vellum tab that syncs)";
      const progress = Number.isFinite(status.total) && status.total > 0 ? `: ${plural(status.done, "note")} of ${status.total.toLocaleString()}` : "";
      rows.push(["In the background", status.online === false ? `${what}: waiting for the relay` : `${what}${progress}${where}`]);
    }
    this.#facts.replaceChildren(...rows.map(([name, value]) => h("div", {}, h("dt", {}, name), h("dd", {}, value))));
  }

  async #setSchedule() {
    const days = Number(this.#select.value);
    try {
      const result = await this.#call("keys.set_schedule", { every_days: days });
      this.#result.textContent = result.due
        ? `Keys now rotate every ${days} days. A rotation is due: it starts now.`
        : `Keys now rotate every ${days} days. Next rotation: ${formatDay(result.due_at)}.`;
      if (result.due) this.#kick();
    } catch (err) {
      this.#result.textContent = messageFor(err);
    }
    await this.show();
  }

  async #rotate() {
    this.#result.textContent = "";
    let result;
    try {
      result = await this.#call("keys.rotate", { rewrap: true });
    } catch (err) {
      this.#result.textContent = messageFor(err);
      return;
    }
    if (result.queued) {
      this.#result.textContent = "Vellum cannot reach the relay now. The rotation will start as soon as it can; nothing is sealed under the new keys before that.";
    } else {
      this.#result.textContent = `New notes are now sealed under key epoch ${result.epoch}. Older notes' keys follow in the background.`;
      this.#kick();
    }
    await this.show();
  }

  #kick() {
    if (!this.#runner.kick()) this.#requestSync(); // another tab leads: its next sync picks the work up
  }

  clear() {
    this.#facts.replaceChildren();
    this.#result.textContent = "";
  }
}

// --- devices: revoke ----------------------------------------------------------------------------------------------

// The "Revoke" button for another device in Settings → Devices (settings-screen.js asks for it).
export function revokeButton({ call, device, onRevoked }) {
  const name = device.name || "Unnamed device";
  const nameId = `device-name-${device.id}`;
  const button = h("button", { type: "button", class: "button ghost danger", "aria-describedby": nameId }, "Revoke");
  button.addEventListener("click", async () => {
    const [reencryptField, reencrypt] = checkField(
      "revoke-reencrypt",
      "Re-encrypt all notes",
      "Older notes also get fresh keys, in the background, so keys copied from that device open nothing the relay holds. Vellum stays usable meanwhile.",
    );
    reencrypt.checked = true;
    const result = await confirmWithPassphrase({
      title: `Revoke “${name}”?`,
      text: [
        "That device is signed out at once and can no longer sync. Vellum replaces the account keys, so nothing written from now on can be read with what it kept.",
        "Notes it had already downloaded stay readable on it; Vellum cannot take those back.",
      ],
      confirmLabel: "Revoke device",
      danger: true,
      extra: [reencryptField],
      run: async (passphrase) => call("keys.revoke_device", { passphrase, device_id: device.id, reencrypt: reencrypt.checked }),
    });
    if (!result) {
      if (button.isConnected) button.focus();
      return;
    }
    showToast(`“${name}” was revoked. The account fingerprint is now ${result.fingerprint}.`, { timeout: 8000 });
    await onRevoked(result);
  });
  return { button, nameId };
}
