// Sync, run by the leader tab only: at unlock, soon after local changes, when the network comes back, when the
// window is shown again, on "Sync now", and on a timer (every 30 s online; backing off from 3 s to 15 s while the
// relay cannot be reached, so waiting changes go out by themselves when it comes back).

import { publicStatus } from "./sync-status.js";

const ONLINE_EVERY_MS = 30_000;
const OFFLINE_FIRST_MS = 3_000;
const OFFLINE_MAX_MS = 15_000;
const AFTER_CHANGE_MS = 1_500;

export class SyncController {
  #call;
  #onStatus;
  #onSynced;
  #timer = null;
  #running = null;
  #again = false;
  #backoff = OFFLINE_FIRST_MS;
  #active = false;
  #due = 0;
  #listeners = [];

  // onStatus(publicStatus, {syncing}); onSynced(): after each attempt (refresh the list)
  constructor({ call, onStatus, onSynced }) {
    this.#call = call;
    this.#onStatus = onStatus;
    this.#onSynced = onSynced;
  }

  start() {
    if (this.#active) return;
    this.#active = true;
    const online = () => this.soon(0);
    const visible = () => document.visibilityState === "visible" && this.soon(0);
    window.addEventListener("online", online);
    document.addEventListener("visibilitychange", visible);
    this.#listeners = [() => window.removeEventListener("online", online), () => document.removeEventListener("visibilitychange", visible)];
    this.soon(0);
  }

  stop() {
    this.#active = false;
    clearTimeout(this.#timer);
    this.#timer = null;
    for (const remove of this.#listeners) remove();
    this.#listeners = [];
  }

  get active() {
    return this.#active;
  }

  // Sync after `delay` ms (the earliest request wins).
  soon(delay = AFTER_CHANGE_MS) {
    if (!this.#active) return;
    if (this.#timer !== null && this.#due <= Date.now() + delay) return;
    clearTimeout(this.#timer);
    this.#due = Date.now() + delay;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.now();
    }, delay);
  }

  // Sync now; if one is running, run once more right after it.
  async now() {
    if (!this.#active) return null;
    if (this.#running) {
      this.#again = true;
      return this.#running;
    }
    this.#running = this.#run();
    try {
      return await this.#running;
    } finally {
      this.#running = null;
      if (this.#again && this.#active) {
        this.#again = false;
        this.soon(0);
      }
    }
  }

  async #run() {
    clearTimeout(this.#timer);
    this.#timer = null;
    this.#onStatus(null, { syncing: true });
    let status;
    try {
      status = publicStatus(await this.#call("sync.now"));
    } catch (err) {
      if (!this.#active) return null;
      status = publicStatus({ ...(await this.#statusOrNull()), last_error: { code: err?.code ?? "sync_failed" } });
    }
    if (!this.#active) return null;
    this.#onStatus(status, { syncing: false });
    await this.#onSynced(status);
    if (status.online === false) {
      this.soon(this.#backoff);
      this.#backoff = Math.min(this.#backoff * 2, OFFLINE_MAX_MS);
    } else {
      this.#backoff = OFFLINE_FIRST_MS;
      this.soon(ONLINE_EVERY_MS);
    }
    return status;
  }

  async #statusOrNull() {
    try {
      return await this.#call("sync.status");
    } catch {
      return {};
    }
  }
}
