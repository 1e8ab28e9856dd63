// Settings: this device's name, the devices list, auto-lock, storage persistence and what this browser lacks, export
// (an encrypted backup Vellum can verify and import; an opt-in plaintext export behind a clear warning) and import.

import { base64urlToBytes, busy, byId, bytesToBase64url, download, h } from "./dom.js";
import { FEATURE_TEXT, persistenceState, requestPersistence } from "./durability.js";
import { autoLockMinutes, setAutoLockMinutes } from "./idle-lock.js";
import { messageFor } from "./messages.js";
import { estimateStrength } from "./passphrase-strength.js";
import { showToast } from "./toasts.js";

const MAX_IMPORT_BYTES = 64 * 1024 * 1024;

function formatDate(ms) {
  if (!ms) return "never";
  return new Date(ms).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

const STORAGE_TEXT = {
  persisted: "Persistent: this browser will keep Vellum's data on this device unless you remove it.",
  refused:
    "Not persistent: the browser may delete Vellum's local data when space runs low. Changes that have not synced would be lost. Installing Vellum or bookmarking it usually helps; sync often.",
  unsupported: "This browser cannot promise to keep local data. Sync often so the relay holds a copy.",
};

export class SettingsScreen {
  #call;
  #onImported;
  #deviceActions;
  #features = {};

  // onImported(count): notes changed (refresh, tell other tabs, sync); deviceActions(device): an element with the
  // actions for one device, or null (keys.js: "Revoke")
  constructor({ call, onImported, deviceActions = () => null }) {
    this.#call = call;
    this.#onImported = onImported;
    this.#deviceActions = deviceActions;
    byId("device-name-form").addEventListener("submit", (event) => {
      event.preventDefault();
      busy(event.submitter ?? event.currentTarget.querySelector("button"), () => this.#rename());
    });
    const autoLock = byId("auto-lock");
    autoLock.addEventListener("change", () => {
      setAutoLockMinutes(Number(autoLock.value));
      showToast(`Vellum now locks after ${autoLock.selectedOptions[0].textContent} without activity.`, { timeout: 4000 });
    });
    byId("storage-persist").addEventListener("click", async () => {
      await requestPersistence();
      await this.#showStorage();
    });
    byId("export-encrypted-form").addEventListener("submit", (event) => {
      event.preventDefault();
      busy(event.currentTarget.querySelector("button[type=submit]"), () => this.#exportEncrypted());
    });
    const ack = byId("export-plain-ack");
    ack.addEventListener("change", () => {
      byId("export-plain").disabled = !ack.checked;
    });
    byId("export-plain-form").addEventListener("submit", (event) => {
      event.preventDefault();
      if (ack.checked) busy(byId("export-plain"), () => this.#exportPlaintext());
    });
    byId("import-form").addEventListener("submit", (event) => {
      event.preventDefault();
      busy(event.currentTarget.querySelector("button[type=submit]"), () => this.#import());
    });
  }

  setFeatures(features) {
    this.#features = features ?? {};
  }

  // account: {username, device_name, relay_origin, fingerprint}
  async show(account) {
    byId("device-name").value = account.device_name ?? "";
    byId("device-name-result").textContent = "";
    byId("settings-username").textContent = account.username ?? "—";
    byId("settings-relay").textContent = account.relay_origin ?? "—";
    byId("settings-fingerprint").textContent = account.fingerprint ?? "Shown after the next unlock";
    byId("auto-lock").value = String(autoLockMinutes());
    this.#showFeatures();
    await Promise.all([this.#showStorage(), this.#showDevices()]);
  }

  async #showStorage() {
    const state = await persistenceState();
    const element = byId("storage-state");
    element.dataset.state = state;
    element.textContent = STORAGE_TEXT[state];
    byId("storage-persist").hidden = state !== "refused";
  }

  #showFeatures() {
    const items = Object.entries(FEATURE_TEXT).map(([key, [name, missing]]) => {
      const value = this.#features[key];
      const ok = value === true ? "true" : value === false ? "false" : "unknown";
      const text = ok === "true" ? `${name}: available` : ok === "false" ? `${name}: missing. ${missing}` : `${name}: could not be checked`;
      return h("li", { class: "feature", dataset: { ok } }, text);
    });
    byId("feature-list").replaceChildren(...items);
  }

  // After a device was revoked (keys.js).
  refreshDevices() {
    return this.#showDevices();
  }

  async #showDevices() {
    const list = byId("device-list");
    try {
      const { devices } = await this.#call("devices.list");
      list.replaceChildren(
        ...devices.map((device) =>
          h(
            "li",
            { class: "device", dataset: { revoked: String(Boolean(device.revoked)) } },
            h(
              "div",
              { class: "grow" },
              h("p", { class: "device-name", id: `device-name-${device.id}` }, device.name || "Unnamed device", device.this_device ? h("span", { class: "badge" }, "This device") : null),
              h(
                "p",
                { class: "device-meta" },
                device.revoked
                  ? "Removed from the account"
                  : `Added ${formatDate(device.added_at)} · last seen ${formatDate(device.last_seen_at)}`,
              ),
            ),
            this.#deviceActions(device),
          ),
        ),
      );
    } catch (err) {
      list.replaceChildren(h("li", { class: "hint" }, `The devices list needs the relay. ${messageFor(err)}`));
    }
  }

  async #rename() {
    const field = byId("device-name");
    const result = byId("device-name-result");
    const name = field.value.trim();
    if (!name) {
      result.textContent = "Give this device a name you will recognise.";
      field.focus();
      return;
    }
    try {
      await this.#call("devices.rename", { name });
      result.textContent = "Saved.";
      await this.#showDevices();
    } catch (err) {
      result.textContent = messageFor(err);
    }
  }

  async #exportEncrypted() {
    const error = byId("export-error");
    const field = byId("export-passphrase");
    error.textContent = "";
    const strength = estimateStrength(field.value);
    if (!strength.acceptable) {
      error.textContent = field.value
        ? `${strength.feedback} The backup is only as safe as this passphrase.`
        : "Choose a passphrase for the backup. You need it to import the file.";
      field.focus();
      return;
    }
    try {
      const { file, filename } = await this.#call("export.encrypted", { passphrase: field.value });
      download(filename || "vellum-backup.vellum", base64urlToBytes(file), "application/octet-stream");
      field.value = "";
      showToast("Encrypted backup downloaded.", { timeout: 4000 });
    } catch (err) {
      error.textContent = messageFor(err);
    }
  }

  async #exportPlaintext() {
    const error = byId("export-plain-error");
    error.textContent = "";
    try {
      const { text, filename } = await this.#call("export.plaintext", { confirm: true });
      download(filename || "vellum-notes.md", text, "text/markdown;charset=utf-8");
      byId("export-plain-ack").checked = false;
      byId("export-plain").disabled = true;
      showToast("Plaintext export downloaded. Delete it when you no longer need it.", { timeout: 6000 });
    } catch (err) {
      error.textContent = messageFor(err);
    }
  }

  async #import() {
    const error = byId("import-error");
    const result = byId("import-result");
    error.textContent = "";
    result.textContent = "";
    const file = byId("import-file").files?.[0];
    const passphrase = byId("import-passphrase").value;
    if (!file) {
      error.textContent = "Choose a Vellum backup file.";
      byId("import-file").focus();
      return;
    }
    if (file.size > MAX_IMPORT_BYTES) {
      error.textContent = "That file is too large to be a Vellum backup.";
      return;
    }
    if (!passphrase) {
      error.textContent = "Enter the passphrase you chose when you made the backup.";
      byId("import-passphrase").focus();
      return;
    }
    try {
      const bytes = new Uint8Array(await file.arrayBuffer());
      const { imported } = await this.#call("import.encrypted", { file: bytesToBase64url(bytes), passphrase });
      result.textContent = `Imported ${imported} ${imported === 1 ? "note" : "notes"}.`;
      byId("import-passphrase").value = "";
      byId("import-file").value = "";
      await this.#onImported(imported);
    } catch (err) {
      error.textContent = err?.code === "decryption_failed" ? "That passphrase does not open this backup. Check it and try again." : messageFor(err);
    }
  }

  clear() {
    for (const id of ["device-name", "export-passphrase", "import-passphrase"]) byId(id).value = "";
    byId("import-file").value = "";
    byId("export-plain-ack").checked = false;
    byId("export-plain").disabled = true;
    byId("device-list").replaceChildren();
    for (const id of ["settings-username", "settings-relay", "settings-fingerprint", "device-name-result", "import-result", "import-error", "export-error", "export-plain-error"]) {
      byId(id).textContent = "";
    }
  }
}
