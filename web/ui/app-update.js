// The service worker and updates. The worker's URL carries the asset version (/sw.js?v=<version>), so a new build
// installs a new worker with a new cache. It never takes over a running session by itself: it waits, the page shows
// "Update available" with "Reload", and only then is it told to skip waiting; the page reloads once it controls.

import { trustedScriptURL } from "../worker-client.js";

const MANIFEST = "/vendor/asset-manifest.json";
const CHECK_EVERY_MS = 30 * 60_000;

async function currentVersion() {
  // `no-cache`: the running service worker asks the network first for this one file (offline: its cached copy).
  const response = await fetch(MANIFEST, { cache: "no-cache" });
  if (!response.ok) throw new Error(`${MANIFEST}: HTTP ${response.status}`);
  const { version } = await response.json();
  if (typeof version !== "string" || !/^[0-9a-f]{16,64}$/.test(version)) throw new Error("bad asset version");
  return version;
}

export class AppUpdates {
  #registration = null;
  #onAvailable;
  #reloading = false;

  // onAvailable(): show the prompt (called once per waiting worker)
  constructor({ onAvailable }) {
    this.#onAvailable = onAvailable;
  }

  async register() {
    if (!("serviceWorker" in navigator)) return null;
    const registration = await navigator.serviceWorker.register(trustedScriptURL(`/sw.js?v=${await currentVersion()}`), {
      scope: "/",
    });
    this.#registration = registration;
    this.#watch(registration);
    setInterval(() => this.check().catch(() => undefined), CHECK_EVERY_MS);
    document.addEventListener("visibilitychange", () => {
      if (document.visibilityState === "visible") this.check().catch(() => undefined);
    });
    return registration;
  }

  // A new asset version means a new script URL: registering it starts the new worker's install.
  async check() {
    if (!this.#registration) return;
    const version = await currentVersion();
    const active = this.#registration.active?.scriptURL ?? "";
    if (!active.endsWith(`?v=${version}`)) {
      await navigator.serviceWorker.register(trustedScriptURL(`/sw.js?v=${version}`), { scope: "/" });
    }
  }

  #watch(registration) {
    const announce = () => {
      // Only an update: the very first worker has no page to take over from.
      if (registration.waiting && navigator.serviceWorker.controller) this.#onAvailable();
    };
    announce();
    registration.addEventListener("updatefound", () => {
      const installing = registration.installing;
      installing?.addEventListener("statechange", () => {
        if (installing.state === "installed") announce();
      });
    });
  }

  // "Reload": let the waiting worker take over, then reload when it controls the page.
  apply() {
    const waiting = this.#registration?.waiting;
    if (!waiting) {
      window.location.reload();
      return;
    }
    navigator.serviceWorker.addEventListener("controllerchange", () => {
      if (this.#reloading) return;
      this.#reloading = true;
      window.location.reload();
    });
    waiting.postMessage({ type: "skip-waiting" });
  }
}
