// Small builders shared by the key-lifecycle screens: labelled fields, the passphrase strength meter (the same rules
// as sign-up), dates. Everything is made with dom.js's h(): no markup strings (Trusted Types).

import { h } from "./dom.js";
import { maxLengthOf } from "./limits.js";
import { estimateStrength } from "./passphrase-strength.js";

export function formatDay(ms) {
  if (!Number.isFinite(ms) || ms <= 0) return "—";
  return new Date(ms).toLocaleDateString(undefined, { year: "numeric", month: "long", day: "numeric" });
}

// <div class="field"><label>…</label><input>…</div>; returns [wrapper, input].
export function textField(id, label, attrs = {}, ...after) {
  const input = h("input", { id, name: id, ...attrs });
  return [h("div", { class: "field" }, h("label", { for: id }, label), input, ...after), input];
}

export function passwordField(id, label, { autocomplete = "current-password", describedBy = null } = {}, ...after) {
  return textField(id, label, { type: "password", autocomplete, ...maxLengthOf("passphrase_max_length"), "aria-describedby": describedBy }, ...after);
}

// A checkbox with its label, and a hint tied to it: returns [wrapper, input].
export function checkField(id, label, hint = null) {
  const input = h("input", { type: "checkbox", id, "aria-describedby": hint ? `${id}-hint` : null });
  const wrapper = h(
    "div",
    { class: "check-field" },
    h("label", { class: "check" }, input, h("span", {}, label)),
    hint ? h("p", { class: "hint", id: `${id}-hint` }, hint) : null,
  );
  return [wrapper, input];
}

// The strength meter for a new passphrase: four segments (app.css's .strength), a polite text under it.
export class StrengthMeter {
  constructor(id, name) {
    this.meter = h(
      "div",
      {
        class: "strength",
        id,
        role: "meter",
        "aria-label": name,
        "aria-valuemin": "0",
        "aria-valuemax": "4",
        "aria-valuenow": "0",
        "aria-valuetext": "Empty",
        dataset: { level: "0" },
      },
      h("span"),
      h("span"),
      h("span"),
      h("span"),
    );
    this.text = h("p", { class: "hint strength-text", id: `${id}-text`, "aria-live": "polite" });
  }

  update(passphrase, username = "") {
    const strength = estimateStrength(passphrase, { username });
    this.meter.dataset.level = String(strength.level);
    this.meter.setAttribute("aria-valuenow", String(strength.level));
    this.meter.setAttribute("aria-valuetext", strength.verdict === "empty" ? "Empty" : strength.feedback);
    this.text.textContent = strength.feedback;
    this.text.dataset.verdict = strength.verdict;
    return strength;
  }

  reset() {
    this.update("");
  }
}

// Words from whatever a person pasted or typed: any whitespace, commas, numbering ("1." "2)"), any case — the same
// rules as pycore.recovery.split_phrase, which checks them again.
export function splitPhrase(text) {
  const words = [];
  for (const raw of text.normalize("NFKD").replace(/,/g, " ").split(/\s+/)) {
    const token = raw.trim().toLowerCase().replace(/^[0-9]+/, "").replace(/^[.)]+/, "").replace(/[.)]+$/, "");
    if (token) words.push(token);
  }
  return words;
}

export function plural(n, one, many = `${one}s`) {
  return `${n.toLocaleString()} ${n === 1 ? one : many}`;
}
