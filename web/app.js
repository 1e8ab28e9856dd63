// Vellum's page: screens, and the wiring between them, the crypto worker (ui/engine.js), other tabs
// (ui/tab-coordinator.js), sync (ui/sync-controller.js) and the service worker (ui/app-update.js).
//
// The page holds no key and does no crypto: it shows text and sends text. The worker starts at page load, so
// Pyodide boots while the person is still typing; "Lock" terminates it (the only real wipe of Python's memory) and
// starts a fresh one at once.
//
// Exports read by tests and the benchmark: `worker` (a live binding: the current CryptoWorker), `timing`, `booted`,
// `serviceWorker`.

import { AppUpdates } from "./ui/app-update.js";
import { byId } from "./ui/dom.js";
import { call, restart, whenReady } from "./ui/engine.js";
import {
  checkEviction,
  detectFeatures,
  insecureTransport,
  knownAccount,
  markAccount,
  rememberPending,
  requestPersistence,
} from "./ui/durability.js";
import { IdleLock, autoLockMinutes } from "./ui/idle-lock.js";
import { KeyLifecycle } from "./ui/keys.js";
import { applyLimits } from "./ui/limits.js";
import { isNetworkError, messageFor } from "./ui/messages.js";
import { hideNotice, showNotice } from "./ui/notices.js";
import { NotebookScreen } from "./ui/notebook-screen.js";
import { RecoveryScreen } from "./ui/recovery-screen.js";
import { SettingsScreen } from "./ui/settings-screen.js";
import { SyncController } from "./ui/sync-controller.js";
import { publicStatus, syncStatusText } from "./ui/sync-status.js";
import { TabCoordinator } from "./ui/tab-coordinator.js";
import { clearToasts, showToast } from "./ui/toasts.js";
import { UnlockScreen } from "./ui/unlock-screen.js";
import { WelcomeScreen } from "./ui/welcome-screen.js";

export { booted, timing, worker } from "./ui/engine.js";

const SCREENS = ["boot", "welcome", "recovery", "unlock", "notebook", "settings", "recover"]; // recover: ui/recover-flow.js
const LOCK_FLUSH_MS = 2000;

// What the page knows about the account: names and counts, never a key or a passphrase.
const session = {
  unlocked: false,
  username: null,
  deviceName: null,
  relayOrigin: null,
  fingerprint: null,
  status: publicStatus({}),
};

function showScreen(name) {
  document.documentElement.dataset.screen = name;
  for (const screen of SCREENS) byId(`${screen}-screen`).hidden = screen !== name;
  byId("app-bar").hidden = !(name === "notebook" || name === "settings");
}

// --- sync status -----------------------------------------------------------------------------------------------------

function renderStatus({ syncing = false } = {}) {
  const element = byId("sync-status");
  const status = session.status;
  element.dataset.online = String(status.online ?? "unknown");
  element.dataset.syncing = String(syncing);
  byId("sync-status-text").textContent = syncStatusText(status);
  rememberPending(status.pending_count);
  const problem = status.error_code && !isNetworkError({ code: status.error_code }) && status.online !== false;
  if (keys.statusNotice(status)) {
    hideNotice("sync-error"); // keys: unlock_again and device_revoked have notices with their own actions
  } else if (problem) {
    showNotice("sync-error", {
      kind: "warning",
      title: "Sync did not finish.",
      text: `${messageFor({ code: status.error_code })} Your changes are safe on this device; Vellum will try again.`,
    });
  } else {
    hideNotice("sync-error");
  }
}

function applyStatus(status, { syncing = false } = {}) {
  if (status) session.status = status;
  if (session.unlocked) renderStatus({ syncing });
}

setInterval(() => session.unlocked && renderStatus(), 30_000); // "Last synced 3 minutes ago" keeps moving

// --- screens ---------------------------------------------------------------------------------------------------------

const tabs = new TabCoordinator({
  changed: () => {
    if (!session.unlocked) return;
    notebook.reload().catch(() => undefined);
    if (tabs.leader) sync.soon();
  },
  locked: () => lock({ broadcast: false, reason: "Vellum was locked in another tab." }),
  syncStatus: (status) => {
    if (!tabs.leader) applyStatus(status);
  },
  syncRequest: () => sync.now(),
  activity: () => idle.touch(),
  roleChanged: (leader) => {
    if (leader && session.unlocked) sync.start();
    else sync.stop();
  },
});

const sync = new SyncController({
  call,
  onStatus: (status, { syncing }) => {
    applyStatus(status, { syncing });
    if (status) tabs.post("sync-status", { status });
  },
  onSynced: async () => {
    if (!session.unlocked) return;
    keys.synced(); // keys: a due rotation starts, background key work resumes (leader tab)
    try {
      if (await notebook.reload()) tabs.post("changed");
    } catch {
      // the next sync refreshes it
    }
  },
});

const idle = new IdleLock({
  onIdle: () => {
    const minutes = autoLockMinutes();
    lock({ reason: `Vellum locked itself after ${minutes} ${minutes === 1 ? "minute" : "minutes"} without activity.` });
  },
  share: () => tabs.post("activity"),
});

function localChange() {
  tabs.post("changed");
  if (tabs.leader) sync.soon();
}

const notebook = new NotebookScreen({
  call,
  onChanged: localChange,
  onPending: (count) => {
    session.status = { ...session.status, pending_count: count };
    renderStatus();
  },
});

async function refreshPending() {
  try {
    const { pending_count: pending } = await call("sync.status");
    session.status = { ...session.status, pending_count: pending };
    renderStatus();
  } catch {
    // shown after the next sync
  }
}

const settings = new SettingsScreen({
  call,
  onImported: async () => {
    await notebook.reload();
    await refreshPending();
    localChange();
  },
  deviceActions: (device) => keys.deviceActions(device), // keys: "Revoke"
});

const welcome = new WelcomeScreen({
  call,
  whenReady,
  onRegistered: async (registered, username) => {
    session.unlocked = true; // the worker holds the new account (and, until confirmed, the phrase)
    session.username = username;
    recovery.show({ ...registered, username: registered.username ?? username });
    showScreen("recovery");
    byId("recovery-title").focus?.();
    await markAccount(username);
    await requestPersistence();
  },
  onSignedIn: async (result, { username }) => {
    await markAccount(username);
    await enterNotebook(result);
    await requestPersistence();
  },
});

const recovery = new RecoveryScreen({
  call,
  onConfirmed: async () => {
    let notes = [];
    try {
      ({ notes } = await call("notes.list"));
    } catch {
      // a new account has none
    }
    await enterNotebook({ notes });
    showToast("Your account is ready. Notes you write are encrypted on this device.", { timeout: 6000 });
  },
});

const unlock = new UnlockScreen({
  call,
  whenReady,
  onUnlocked: async (result) => {
    await markAccount(session.username ?? knownAccount()?.username ?? "");
    await enterNotebook(result);
  },
});

// --- key lifecycle: passphrase, recovery, passkeys, revocation, rotation (ui/keys.js) ---
const keys = new KeyLifecycle({
  call,
  whenReady,
  tabs,
  showScreen,
  isUnlocked: () => session.unlocked,
  account: () => ({
    username: session.username,
    device_name: session.deviceName,
    relay_origin: session.relayOrigin,
    fingerprint: session.fingerprint,
  }),
  onSignedIn: async (result, username) => {
    await markAccount(username ?? session.username ?? knownAccount()?.username ?? "");
    await enterNotebook(result);
    await requestPersistence();
  },
  lock: () => lock(),
  requestSync: () => (tabs.leader ? sync.now() : tabs.post("sync-request")),
  refreshDevices: () => settings.refreshDevices(),
});
// --- end key lifecycle ---

async function loadAccount() {
  const status = await call("app.status");
  applyLimits(status.limits);
  session.username = status.username ?? session.username;
  session.deviceName = status.device_name ?? session.deviceName;
  session.relayOrigin = status.relay_origin ?? window.location.origin;
  session.fingerprint = status.fingerprint ?? session.fingerprint;
  return status;
}

async function enterNotebook(result) {
  session.unlocked = true;
  try {
    await loadAccount();
  } catch {
    // names only: the notebook works without them
  }
  notebook.setNotes(result?.notes ?? []);
  showScreen("notebook");
  idle.start();
  tabs.seekLeadership();
  try {
    applyStatus(publicStatus(await call("sync.status")));
  } catch {
    applyStatus(null);
  }
  if (!tabs.leader) tabs.post("sync-request"); // a follower asks the leader for a fresh status
  if (!window.matchMedia("(pointer: coarse)").matches) byId("search").focus(); // no surprise keyboard on phones
}

// Lock this tab (and, unless another tab told us to, every tab): save what is being typed, forget everything on
// screen, terminate the worker and start a fresh one.
let locking = null;
async function lock({ broadcast = true, reason = null } = {}) {
  if (locking) return locking;
  if (!session.unlocked) {
    if (broadcast) tabs.post("locked");
    return undefined;
  }
  locking = (async () => {
    if (broadcast) tabs.post("locked");
    await Promise.race([notebook.editor.flush(), new Promise((resolve) => setTimeout(resolve, LOCK_FLUSH_MS))]);
    session.unlocked = false;
    sync.stop();
    tabs.stepDown();
    idle.stop();
    notebook.clear();
    settings.clear();
    keys.clear();
    recovery.clear();
    clearToasts();
    hideNotice("sync-error");
    session.status = publicStatus({});
    byId("sync-status-text").textContent = "";
    unlock.show({ username: session.username ?? knownAccount()?.username, deviceName: session.deviceName, reason });
    showScreen("unlock");
    unlock.focus();
    await restart();
  })();
  try {
    await locking;
  } finally {
    locking = null;
  }
  return undefined;
}

// --- app bar, keyboard -----------------------------------------------------------------------------------------------

byId("lock").addEventListener("click", () => lock());
byId("sync-now").addEventListener("click", () => {
  if (tabs.leader) sync.now();
  else tabs.post("sync-request");
});
byId("open-settings").addEventListener("click", async () => {
  await notebook.editor.flush();
  showScreen("settings");
  byId("settings-title").focus?.();
  try {
    await loadAccount();
  } catch {
    // shown as far as known
  }
  await settings.show({
    username: session.username,
    device_name: session.deviceName,
    relay_origin: session.relayOrigin,
    fingerprint: session.fingerprint,
  });
});
byId("close-settings").addEventListener("click", () => {
  showScreen("notebook");
  byId("open-settings").focus();
});

document.addEventListener("keydown", (event) => {
  const screen = document.documentElement.dataset.screen;
  if (screen === "settings" && event.key === "Escape") {
    byId("close-settings").click();
    return;
  }
  if (screen !== "notebook") return;
  const typing = /^(INPUT|TEXTAREA|SELECT)$/.test(document.activeElement?.tagName ?? "");
  if ((event.key === "k" && (event.ctrlKey || event.metaKey)) || (event.key === "/" && !typing)) {
    event.preventDefault();
    byId("search").focus();
  } else if (event.key === "n" && event.altKey && !event.ctrlKey && !event.metaKey) {
    event.preventDefault();
    notebook.newNote();
  }
});

// Whatever is being typed is saved before the page goes away or into the background.
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "hidden" && session.unlocked) notebook.editor.flush();
});
window.addEventListener("pagehide", () => session.unlocked && notebook.editor.flush());

// The recovery phrase is shown once: leaving before it is confirmed asks first.
window.addEventListener("beforeunload", (event) => {
  if (document.documentElement.dataset.screen === "recovery") event.preventDefault();
});

// --- start -----------------------------------------------------------------------------------------------------------

const updates = new AppUpdates({
  onAvailable: () =>
    showNotice("update", {
      title: "Update available.",
      text: "A new version of Vellum is ready; reload to use it.",
      actions: [
        {
          label: "Reload",
          run: async () => {
            if (session.unlocked) await notebook.editor.flush();
            updates.apply();
          },
        },
      ],
    }),
});

function warnAboutPlatform(features) {
  if (insecureTransport()) {
    showNotice("insecure", {
      kind: "danger",
      title: "This connection is not secure.",
      text: "Vellum was loaded over plain HTTP, so anyone on the network could change its code and read your notes. Open it with https:// instead.",
    });
  }
  const missing = [];
  if (features.module_worker === false) missing.push("module workers (the encryption engine cannot run)");
  if (features.ed25519 === false) missing.push("Ed25519 keys in WebCrypto (this device cannot sign in)");
  if (features.service_worker === false) missing.push("service workers (Vellum will not open offline)");
  if (missing.length) {
    showNotice("features", {
      kind: "warning",
      title: "This browser is missing something Vellum needs:",
      text: `${missing.join("; ")}. Use a current version of Chrome, Edge, Firefox or Safari.`,
    });
  }
}

async function route(status) {
  if (document.documentElement.dataset.screen === "recover") return; // keys: "Use recovery phrase" was chosen meanwhile
  if (status.state === "new") {
    showScreen("welcome");
    welcome.focus();
    return;
  }
  if (document.documentElement.dataset.screen === "unlock") unlock.describe({ username: status.username, deviceName: status.device_name });
  else unlock.show({ username: status.username, deviceName: status.device_name });
  showScreen("unlock");
  if (status.remembered) {
    try {
      await enterNotebook(await call("app.unlock_device"));
      return;
    } catch (err) {
      unlock.show({ username: status.username, deviceName: status.device_name, reason: messageFor(err) });
    }
  }
  unlock.focus();
}

async function start() {
  // Show the likely screen at once (the engine needs a second or two); forms wait for it when submitted.
  const known = knownAccount();
  if (known) {
    session.username = known.username;
    unlock.show({ username: known.username });
    showScreen("unlock");
    unlock.focus();
  } else {
    showScreen("welcome");
    welcome.focus();
  }
  const ok = await whenReady();
  const features = await detectFeatures({ moduleWorker: ok });
  settings.setFeatures(features);
  warnAboutPlatform(features);
  if (!ok) {
    showNotice("engine", {
      kind: "danger",
      title: "Vellum could not start its encryption engine.",
      text: "Reload the page. If you are offline and this is the first visit, connect once so Vellum can be stored on this device.",
      actions: [{ label: "Reload", run: () => window.location.reload() }],
    });
    return null;
  }
  let status;
  try {
    status = await loadAccount();
  } catch (err) {
    showNotice("engine", { kind: "danger", title: "Vellum could not read this device's data.", text: messageFor(err) });
    return null;
  }
  const eviction = await checkEviction(status.state !== "new");
  if (eviction.lost) {
    const lostChanges = eviction.pending
      ? ` ${eviction.pending} ${eviction.pending === 1 ? "change" : "changes"} made here had not reached the relay and could not be saved.`
      : "";
    showNotice("evicted", {
      kind: eviction.pending ? "danger" : "warning",
      title: "Vellum's data on this device is gone.",
      text: `The browser deleted it, usually to free space.${lostChanges} Sign in to download your notes from the relay.`,
      actions: [{ label: "Dismiss", run: () => hideNotice("evicted") }],
    });
    welcome.prefill(eviction.username);
  } else if (status.state !== "new" && status.username) {
    await markAccount(status.username); // keeps both markers in place
  }
  if (!session.unlocked && !locking) await route(status);
  return status;
}

export const started = start();

// After the engine, so a first visit does not download the runtime twice at the same time.
export const serviceWorker = started.then(() =>
  updates.register().catch((err) => {
    console.warn("service worker not installed:", err);
    return null;
  }),
);
