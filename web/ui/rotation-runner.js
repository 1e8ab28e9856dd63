// Background key work: the re-wrap of older notes' keys after a rotation, or their re-encryption after a device was
// revoked. The worker does one page per `keys.rotation_continue` call and reads progress from the relay, so the page
// drives it with repeated calls — between them the notebook's own commands run, and the app stays usable. Only the
// leader tab drives (the one that syncs); every tab shows the progress, which the leader shares on its own
// BroadcastChannel as plain numbers. Closing the tab loses nothing: the intent is in the account keys, progress is the
// relay's, and the next leader (here or on any device) takes over after its first sync.
//
// A rotation that is due (the schedule in Settings) starts here too, after unlock and the first sync, in the leader.

import { byId, h } from "./dom.js";
import { isNetworkError, messageFor } from "./messages.js";

export const CHANNEL = "vellum-keys";
const BATCH = 200; // records per call: small enough that a note save waits well under a second behind one
const PAUSE_MS = 30; // between pages, so queued commands and rendering get their turn
const RETRY_MS = 15_000;
const AFTER_FAILURES_MS = 10 * 60_000; // notes this device cannot open: try again this much later, not every sync

const LABEL = { reencrypt: "Re-encrypting notes", rewrap: "Updating note keys" };
const DONE = {
  reencrypt: "Every note is now encrypted with the new keys.",
  rewrap: "Every note now uses the new keys.",
};

function count(n) {
  return Number.isFinite(n) ? n.toLocaleString() : "?";
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// The strip under the app bar: what runs, a progressbar with an accessible name, how far it is.
class TaskStrip {
  #element;
  #label;
  #bar;
  #text;

  constructor() {
    this.#label = h("p", { class: "key-task-label", "aria-live": "polite" }); // changes with the state only
    this.#bar = h("progress", { class: "key-task-bar", max: "1", value: "0" });
    this.#text = h("p", { class: "key-task-count", "aria-live": "off" });
    this.#element = h("div", { class: "key-task", id: "key-task", role: "region", "aria-label": "Background key work", hidden: true },
      h("div", { class: "key-task-head" }, this.#label, this.#text),
      this.#bar,
    );
    byId("notices").after(this.#element);
  }

  // p: {kind, done, total, state: "running" | "paused" | "done" | "failed", note?}
  render(p) {
    const kind = p.kind === "reencrypt" ? "reencrypt" : "rewrap";
    this.#element.hidden = false;
    this.#element.dataset.state = p.state;
    this.#label.textContent =
      p.state === "paused" ? `${LABEL[kind]}: paused until Vellum reaches the relay.` : p.state === "done" ? DONE[kind] : `${LABEL[kind]} in the background…`;
    this.#bar.setAttribute("aria-label", LABEL[kind]);
    const total = Number.isFinite(p.total) && p.total > 0 ? p.total : 0;
    const done = Number.isFinite(p.done) ? Math.min(p.done, total) : 0;
    if (total) {
      this.#bar.max = total;
      this.#bar.value = done;
      this.#bar.setAttribute("aria-valuetext", `${count(done)} of ${count(total)} notes`);
      this.#text.textContent = `${count(done)} of ${count(total)}`;
    } else {
      this.#bar.removeAttribute("value"); // indeterminate until the relay answered
      this.#bar.removeAttribute("aria-valuetext");
      this.#text.textContent = p.state === "done" ? "" : "Starting…";
    }
    if (p.note) this.#text.textContent = p.note;
  }

  hide() {
    this.#element.hidden = true;
    delete this.#element.dataset.state;
  }
}

export class RotationRunner {
  #call;
  #tabs;
  #isUnlocked;
  #onChanged;
  #strip = null;
  #channel = typeof BroadcastChannel === "function" ? new BroadcastChannel(CHANNEL) : null;
  #running = null;
  #generation = 0;
  #retry = null;
  #hideTimer = null;
  #leftOver = null; // {epoch, at}: the work for this epoch ended with notes this device could not open
  last = null; // the last progress shown: {kind, done, total, state}

  // tabs: the TabCoordinator (leader or not); onChanged(progress): settings re-reads the rotation status
  constructor({ call, tabs, isUnlocked, onChanged = () => undefined }) {
    this.#call = call;
    this.#tabs = tabs;
    this.#isUnlocked = isUnlocked;
    this.#onChanged = onChanged;
    this.#channel?.addEventListener("message", (event) => this.#receive(event.data));
  }

  get running() {
    return this.#running !== null;
  }

  #ensureStrip() {
    this.#strip ??= new TaskStrip();
    return this.#strip;
  }

  #receive(message) {
    if (!message || message.type !== "rotation-progress" || this.#tabs.leader || !this.#isUnlocked()) return;
    const number = (v) => (Number.isFinite(v) && v >= 0 ? Math.floor(v) : null);
    const state = ["running", "paused", "done", "failed"].includes(message.state) ? message.state : "running";
    this.#show({ kind: message.kind === "reencrypt" ? "reencrypt" : "rewrap", done: number(message.done), total: number(message.total), state }, false);
  }

  #show(progress, share = true) {
    const changed = progress.state !== this.last?.state || progress.kind !== this.last?.kind;
    this.last = progress;
    clearTimeout(this.#hideTimer);
    this.#ensureStrip().render(progress);
    if (progress.state === "done") this.#hideTimer = setTimeout(() => this.#strip?.hide(), 6000);
    if (share) {
      const { kind, done, total, state } = progress;
      this.#channel?.postMessage({ type: "rotation-progress", kind, done, total, state });
    }
    if (changed) this.#onChanged(progress); // Settings re-reads the status when the state changes, not per page
  }

  // After each sync in the leader tab (and after a key change here): start a due rotation, then work off whatever
  // the account keys ask for. False when this tab does not lead (the leader does it after its next sync).
  kick({ startDue = true } = {}) {
    if (!this.#tabs.leader || !this.#isUnlocked()) return false;
    if (this.#running) return true;
    const generation = this.#generation;
    this.#running = this.#run(generation, startDue)
      .catch((err) => {
        if (generation === this.#generation && this.last) this.#show({ ...this.last, state: "failed", note: messageFor(err) });
      })
      .finally(() => {
        if (generation === this.#generation) this.#running = null;
      });
    return true;
  }

  async #run(generation, startDue) {
    const alive = () => generation === this.#generation && this.#tabs.leader && this.#isUnlocked();
    clearTimeout(this.#retry);
    let status = await this.#call("keys.rotation_status");
    if (startDue && status.due && alive()) {
      const started = await this.#call("keys.rotate", { rewrap: true });
      if (started.queued) {
        this.#onChanged(null);
        return; // offline: only the intent is kept; the next sync publishes it and comes back here
      }
      status = await this.#call("keys.rotation_status");
    }
    if (!status.pending || !alive()) return;
    const left = this.#leftOver;
    if (left && left.epoch === status.write_epoch && Date.now() - left.at < AFTER_FAILURES_MS) return;
    const kind = status.kind ?? "rewrap";
    this.#show({ kind, done: status.done, total: status.total, state: status.online === false ? "paused" : "running" });
    while (alive()) {
      let page;
      try {
        page = await this.#call("keys.rotation_continue", { batch: BATCH });
      } catch (err) {
        if (!alive()) return;
        if (isNetworkError(err)) {
          this.#show({ ...this.last, state: "paused" });
          this.#retry = setTimeout(() => this.kick({ startDue: false }), RETRY_MS);
        } else {
          this.#show({ ...this.last, state: "failed", note: messageFor(err) });
        }
        return;
      }
      if (!alive()) return;
      if (page.finished) {
        if (page.failed > 0) {
          this.#leftOver = { epoch: status.write_epoch, at: Date.now() };
          const n = page.failed;
          this.#show({
            kind,
            done: page.done,
            total: page.total,
            state: "failed",
            note: `${count(n)} ${n === 1 ? "note" : "notes"} could not be opened on this device; another device can finish.`,
          });
        } else {
          this.#show({ kind, done: page.total, total: page.total, state: "done" });
        }
        return;
      }
      this.#show({ kind, done: page.done, total: page.total, state: "running" });
      await sleep(PAUSE_MS);
    }
  }

  // On lock, or when this tab stops leading: stop after the page in flight (nothing is lost; it resumes later).
  stop() {
    this.#generation += 1;
    this.#leftOver = null;
    this.#running = null;
    clearTimeout(this.#retry);
    clearTimeout(this.#hideTimer);
    this.#strip?.hide();
    this.last = null;
  }
}
