// The key-lifecycle half of the app, wired into app.js through a handful of hooks:
//
// - Settings: "Passphrase and recovery", "Ways to unlock" (remember this device, passkeys) and "Key rotation"
//   panels, and "Revoke" on every other device (keys-settings.js, passkey-settings.js);
// - the unlock screen: "Unlock with passkey" when this account has passkeys, and "Use recovery phrase" on it and on
//   the sign-in form (recover-flow.js);
// - background key work after a rotation or a revocation, driven by the leader tab (rotation-runner.js);
// - the sync notices that need an action: `unlock_again` (lock, then unlock with the current passphrase) and
//   `device_revoked`.
//
// The screens follow `html[data-screen]` (app.js sets it): Settings is filled in when it opens, the passkey button
// when the unlock screen shows.

import { busy, byId, h } from "./dom.js";
import { PassphrasePanel, RotationPanel, revokeButton } from "./keys-settings.js";
import { messageFor } from "./messages.js";
import { hideNotice, showNotice } from "./notices.js";
import { closePassphraseDialog } from "./passphrase-dialog.js";
import { PasskeySettings, keyIcon } from "./passkey-settings.js";
import { assertPasskey, passkeySupport, withPrfOutput } from "./passkeys.js";
import { RecoverFlow } from "./recover-flow.js";
import { RotationRunner } from "./rotation-runner.js";
import { showToast } from "./toasts.js";

// Sync errors with a notice of their own here (app.js then skips its generic "Sync did not finish").
const OWN_NOTICES = new Set(["unlock_again", "device_revoked"]);

export class KeyLifecycle {
  #call;
  #whenReady;
  #account;
  #isUnlocked;
  #onSignedIn;
  #lock;
  #requestSync;
  #refreshDevices;
  #runner;
  #recover;
  #passphrase;
  #passkeys;
  #rotation;
  #passkeyOptions = [];
  #passkeyBox;
  #passkeyButton;
  #passkeyHint;
  #unlockToken = 0;

  // call, whenReady: the engine; tabs: TabCoordinator; showScreen(name); isUnlocked(); account(): {username,
  // device_name, relay_origin, fingerprint}; onSignedIn(result, username): enter the notebook (after a recovery or a
  // passkey unlock); lock(): lock every tab; requestSync(): this tab syncs if it leads, else asks the leader;
  // refreshDevices(): Settings re-reads the devices list
  constructor({ call, whenReady, tabs, showScreen, isUnlocked, account, onSignedIn, lock, requestSync, refreshDevices }) {
    this.#call = call;
    this.#whenReady = whenReady;
    this.#account = account;
    this.#isUnlocked = isUnlocked;
    this.#onSignedIn = onSignedIn;
    this.#lock = lock;
    this.#requestSync = requestSync;
    this.#refreshDevices = refreshDevices;
    const changed = (result) => this.#keysChanged(result);
    this.#runner = new RotationRunner({ call, tabs, isUnlocked, onChanged: () => this.#rotationChanged() });
    this.#recover = new RecoverFlow({ call, whenReady, showScreen, onRecovered: (result, username) => this.#recovered(result, username) });
    this.#passphrase = new PassphrasePanel({ call, account, onChanged: changed });
    this.#passkeys = new PasskeySettings({ call, account, onChanged: changed });
    this.#rotation = new RotationPanel({ call, runner: this.#runner, requestSync });
    this.#mountSettings();
    this.#mountUnlock();
    new MutationObserver(() => this.#screenChanged()).observe(document.documentElement, { attributeFilter: ["data-screen"] });
  }

  // --- hooks called by app.js -----------------------------------------------------------------------------------

  // Settings → Devices: the actions for one device (settings-screen.js), or null.
  deviceActions(device) {
    if (device.this_device || device.revoked) return null;
    return revokeButton({
      call: this.#call,
      device,
      onRevoked: async (result) => {
        this.#keysChanged(result);
        await this.#refreshDevices();
      },
    }).button;
  }

  // After every sync attempt in the leader tab: start a due rotation, resume background work.
  synced() {
    if (this.#isUnlocked()) this.#runner.kick();
  }

  // A sync status (any tab): true when a notice of ours shows it (app.js then shows no generic one).
  statusNotice(status) {
    const code = status?.error_code;
    if (code !== "unlock_again") hideNotice("keys-unlock-again");
    if (code !== "device_revoked") hideNotice("keys-revoked");
    if (!OWN_NOTICES.has(code) || status.online === false) return false;
    if (code === "unlock_again") {
      showNotice("keys-unlock-again", {
        kind: "warning",
        title: "Unlock again to keep syncing.",
        text: "Your account keys were replaced on another device (a new passphrase, or a revoked device). Your notes and changes are safe here; lock Vellum, then unlock with your current passphrase.",
        actions: [{ label: "Lock now", run: () => this.#lock() }],
      });
    } else {
      showNotice("keys-revoked", {
        kind: "danger",
        title: "This device was revoked.",
        text: "Another of your devices removed it from your account, so it can no longer sync. Changes made here that had not synced are still on this device: export them from Settings if you need them. To use this browser again, lock Vellum and use your recovery phrase.",
        actions: [{ label: "Lock now", run: () => this.#lock() }],
      });
    }
    return true;
  }

  // On lock: nothing typed, shown or running stays.
  clear() {
    this.#runner.stop();
    closePassphraseDialog();
    this.#passphrase.clear();
    this.#passkeys.clear();
    this.#rotation.clear();
    this.#recover.clear();
    hideNotice("keys-unlock-again");
    hideNotice("keys-revoked");
  }

  // --- settings -------------------------------------------------------------------------------------------------

  #mountSettings() {
    const devices = byId("device-list").closest(".panel");
    devices.after(this.#passphrase.panel(), this.#passkeys.panel(), this.#rotation.panel());
  }

  async #showSettings() {
    let status = {};
    try {
      status = await this.#call("app.status");
    } catch {
      // shown as far as known
    }
    await Promise.all([this.#passkeys.show(status), this.#rotation.show()]);
  }

  #keysChanged(result) {
    if (result?.fingerprint) byId("settings-fingerprint").textContent = result.fingerprint;
    this.#rotation.show();
    // Another tab's worker follows on its next sync; background work (a revocation's re-encryption) starts in the
    // leader, here or there.
    if (!this.#runner.kick({ startDue: false })) this.#requestSync();
  }

  #rotationChanged() {
    if (document.documentElement.dataset.screen === "settings") this.#rotation.show();
  }

  // --- unlock with a passkey ------------------------------------------------------------------------------------

  #mountUnlock() {
    this.#passkeyButton = h("button", { type: "button", class: "button wide", id: "unlock-passkey" }, keyIcon(), "Unlock with passkey");
    this.#passkeyHint = h("p", { class: "hint passkey-hint", hidden: true });
    this.#passkeyBox = h(
      "div",
      { class: "passkey-unlock", id: "passkey-unlock", hidden: true },
      h("p", { class: "divider", "aria-hidden": "true" }, h("span", {}, "or")),
      this.#passkeyButton,
      this.#passkeyHint,
    );
    byId("unlock-form").after(this.#passkeyBox);
    this.#passkeyButton.addEventListener("click", () => busy(this.#passkeyButton, () => this.#unlockWithPasskey()));
  }

  async #refreshPasskeyUnlock() {
    const token = ++this.#unlockToken;
    if (!(await this.#whenReady())) return;
    let passkeys = [];
    try {
      ({ passkeys } = await this.#call("app.passkey_options", { username: byId("unlock-username").value || null }));
    } catch {
      passkeys = [];
    }
    const support = await passkeySupport();
    if (token !== this.#unlockToken) return; // the screen changed meanwhile
    this.#passkeyOptions = passkeys;
    this.#passkeyBox.hidden = passkeys.length === 0;
    this.#passkeyButton.hidden = support === "missing";
    this.#passkeyHint.hidden = support !== "missing";
    this.#passkeyHint.textContent = support === "missing" ? "This account has passkeys, but this browser cannot use them to unlock Vellum. Use your passphrase." : "";
  }

  async #unlockWithPasskey() {
    const error = byId("unlock-error");
    error.textContent = "";
    if (!(await this.#whenReady())) {
      error.textContent = messageFor({ code: "worker_unavailable" });
      return;
    }
    let result;
    try {
      const { slot_id: slotId, prf_output: output } = await assertPasskey(this.#passkeyOptions);
      result = await withPrfOutput(output, (prfOutput) => this.#call("app.unlock_passkey", { slot_id: slotId, prf_output: prfOutput }));
    } catch (err) {
      error.textContent =
        err?.code === "decryption_failed" ? "That passkey does not unlock this account any more. Use your passphrase." : messageFor(err);
      return;
    }
    byId("unlock-passphrase").value = "";
    byId("unlock-remember").checked = false;
    await this.#onSignedIn(result, byId("unlock-username").value || this.#account().username);
  }

  // --- screens --------------------------------------------------------------------------------------------------

  #screenChanged() {
    const screen = document.documentElement.dataset.screen;
    if (screen === "settings" && this.#isUnlocked()) this.#showSettings();
    if (screen === "unlock") this.#refreshPasskeyUnlock();
    else this.#unlockToken += 1;
  }

  async #recovered(result, username) {
    await this.#onSignedIn(result, username);
    showToast("Your new passphrase is set. Your recovery phrase still works; if someone else may have seen it, make a new recovery kit in Settings.", {
      timeout: 9000,
    });
  }
}
