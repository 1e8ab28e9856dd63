// Several open tabs: one leads sync and background work (Web Locks, "vellum-sync-leader"), the others follow over
// the "vellum" BroadcastChannel. Messages are small and checked on arrival; they never carry key material or note
// text, only what a locked screen could show anyway:
//   {type: "changed"}                 notes changed in some tab's worker (IndexedDB): re-read the list
//   {type: "locked"}                  a tab locked: every tab locks
//   {type: "sync-status", status}     the leader's last sync (numbers and booleans, see sync-status.js)
//   {type: "sync-request"}            a follower's "Sync now"
//   {type: "activity"}                someone is using Vellum in another tab (the idle lock counts it)

import { publicStatus } from "./sync-status.js";

export const CHANNEL = "vellum";
export const LEADER_LOCK = "vellum-sync-leader";
const TYPES = new Set(["changed", "locked", "sync-status", "sync-request", "activity"]);

export class TabCoordinator {
  #channel = typeof BroadcastChannel === "function" ? new BroadcastChannel(CHANNEL) : null;
  #handlers;
  #abort = null;
  #release = null;
  leader = false;

  // handlers: {changed(), locked(), syncStatus(status), syncRequest(), activity(), roleChanged(leader)}
  constructor(handlers) {
    this.#handlers = handlers;
    this.#channel?.addEventListener("message", (event) => this.#receive(event.data));
  }

  #receive(message) {
    if (!message || typeof message !== "object" || !TYPES.has(message.type)) return;
    const h = this.#handlers;
    switch (message.type) {
      case "changed":
        h.changed?.();
        break;
      case "locked":
        h.locked?.();
        break;
      case "sync-status":
        h.syncStatus?.(publicStatus(message.status));
        break;
      case "sync-request":
        if (this.leader) h.syncRequest?.();
        break;
      case "activity":
        h.activity?.();
        break;
      default:
        break;
    }
  }

  post(type, extra = {}) {
    if (!TYPES.has(type)) throw new Error(`not a tab message: ${type}`);
    const message = type === "sync-status" ? { type, status: publicStatus(extra.status) } : { type };
    this.#channel?.postMessage(message);
  }

  // While unlocked: wait for leadership, hold it until stepDown(). Without Web Locks this tab simply leads.
  seekLeadership() {
    if (this.#abort) return;
    document.documentElement.dataset.syncRole = "follower";
    if (!navigator.locks?.request) {
      this.#setLeader(true);
      return;
    }
    const abort = new AbortController();
    this.#abort = abort;
    navigator.locks
      .request(LEADER_LOCK, { signal: abort.signal }, () => {
        this.#setLeader(true);
        return new Promise((resolve) => {
          this.#release = resolve;
        });
      })
      .catch((err) => {
        if (err?.name !== "AbortError") console.warn("leader lock:", err);
      });
  }

  stepDown() {
    this.#abort?.abort();
    this.#abort = null;
    this.#release?.();
    this.#release = null;
    this.#setLeader(false);
    delete document.documentElement.dataset.syncRole; // a locked tab takes no part
  }

  #setLeader(leader) {
    if (this.leader === leader) return;
    this.leader = leader;
    document.documentElement.dataset.syncRole = leader ? "leader" : "follower";
    this.#handlers.roleChanged?.(leader);
  }
}
