// The limits the page shares with the worker and the relay. They are defined once, in pycore/public/limits.py
// (`for_ui`), and arrive in the worker's `app.status` answer as `limits`. FALLBACK holds the same values for the time
// before the worker answers, as index.html's attributes do (tests/unit/test_limits.py checks both).
//
// An input names the limits it obeys: data-maxlength, data-minlength, data-pattern hold a key of `limits()`, and
// `applyLimits` sets maxlength, minlength and pattern from them.
//
// Usernames have two rules. A new account needs the sign-up rule (`isNewUsername`); signing in and recovering accept
// any name, since every name the relay ever registered still signs in, and the relay answers bad_username itself.

export const FALLBACK = Object.freeze({
  new_username_min_length: 3,
  new_username_max_length: 64,
  new_username_pattern: "[A-Za-z0-9][A-Za-z0-9._@+\\-]{2,63}",
  username_max_length: 128,
  title_max_length: 1024,
  body_max_length: 921600,
  device_name_max_length: 64,
  passkey_name_max_length: 64,
  passphrase_min_length: 10,
  passphrase_max_length: 1024,
});

const ATTRIBUTES = { maxlength: "maxlength", minlength: "minlength", pattern: "pattern" }; // data-<key> -> attribute

let current = FALLBACK;

export function limits() {
  return current;
}

function compiles(source) {
  try {
    new RegExp(`^(?:${source})$`, "u");
    return true;
  } catch {
    return false;
  }
}

// `given`: app.status's `limits`. A key that is missing or of the wrong kind keeps its fallback, so an older worker
// (or none) leaves the page with the values it shipped with.
export function applyLimits(given, root = document) {
  if (given && typeof given === "object") {
    const next = { ...FALLBACK };
    for (const [name, value] of Object.entries(FALLBACK)) {
      const candidate = given[name];
      const ok = typeof value === "number" ? Number.isSafeInteger(candidate) && candidate > 0 : typeof candidate === "string" && compiles(candidate);
      if (ok) next[name] = candidate;
    }
    current = Object.freeze(next);
  }
  for (const [key, attribute] of Object.entries(ATTRIBUTES)) {
    for (const element of root.querySelectorAll(`[data-${key}]`)) {
      const value = current[element.getAttribute(`data-${key}`)];
      if (value !== undefined) element.setAttribute(attribute, String(value));
    }
  }
}

// Attributes for h() (dom.js) on an input built in JavaScript: the value now, and the key so applyLimits updates it.
export function maxLengthOf(name) {
  return { maxlength: String(current[name]), "data-maxlength": name };
}

// What the worker and the relay make of a typed username before checking it: NFKC, trimmed, lower case.
export function normalizeUsername(value) {
  return String(value).normalize("NFKC").trim().toLowerCase();
}

// Whether a new account may take this (typed) name: the sign-up rule.
export function isNewUsername(value) {
  return new RegExp(`^(?:${current.new_username_pattern})$`, "u").test(normalizeUsername(value));
}
