// Auto-lock after a period without activity (Settings; 15 minutes by default). Activity in any Vellum tab counts:
// tabs tell each other, at most every ACTIVITY_SHARE_MS, so one idle tab does not lock a person working in another.

const SETTING = "vellum.autoLockMinutes";
export const DEFAULT_MINUTES = 15;
const CHOICES = [1, 5, 15, 30, 60, 240];
const CHECK_MS = 5000;
const ACTIVITY_SHARE_MS = 15_000;
const EVENTS = ["pointerdown", "keydown", "wheel", "touchstart", "input", "focusin"];

export function autoLockMinutes() {
  const value = Number(localStorage.getItem(SETTING));
  return CHOICES.includes(value) ? value : DEFAULT_MINUTES;
}

export function setAutoLockMinutes(minutes) {
  if (!CHOICES.includes(minutes)) throw new RangeError(`auto-lock: ${minutes} minutes is not a choice`);
  localStorage.setItem(SETTING, String(minutes));
}

export class IdleLock {
  #last = Date.now();
  #shared = 0;
  #timer = null;
  #onIdle;
  #share;
  #listener = () => this.touch(true);

  // onIdle(): lock; share(): tell the other tabs (optional)
  constructor({ onIdle, share = null }) {
    this.#onIdle = onIdle;
    this.#share = share;
  }

  start() {
    this.stop();
    this.#last = Date.now();
    for (const type of EVENTS) window.addEventListener(type, this.#listener, { passive: true, capture: true });
    this.#timer = setInterval(() => this.#check(), CHECK_MS);
  }

  stop() {
    for (const type of EVENTS) window.removeEventListener(type, this.#listener, { capture: true });
    clearInterval(this.#timer);
    this.#timer = null;
  }

  touch(local = false) {
    this.#last = Date.now();
    if (local && this.#share && this.#last - this.#shared > ACTIVITY_SHARE_MS) {
      this.#shared = this.#last;
      this.#share();
    }
  }

  #check() {
    if (Date.now() - this.#last >= autoLockMinutes() * 60_000) {
      this.stop();
      this.#onIdle();
    }
  }
}
