// The recovery kit: the 24 words with what a person needs to use them years later, as a file to download (a
// self-contained HTML page, readable and printable offline) or printed from the page (app.css has the print
// stylesheet). The kit is built from text only; nothing here is sent anywhere.

import { download } from "./dom.js";

export const INSTRUCTIONS = [
  "Keep this kit offline, somewhere safe: a drawer at home, a safe, a sealed envelope. Do not photograph it or store it in email or a cloud drive.",
  "Anyone who has these words can read every note in this account. Vellum cannot reset your passphrase and cannot recover your notes without your passphrase or these words.",
  "To recover: open Vellum, choose “Use recovery phrase”, enter the username and these 24 words in order, then choose a new passphrase.",
  "On a new device, compare the account fingerprint shown in Settings with the one printed here: if they match, you reached your own account.",
];

function formatDate(ms) {
  return new Date(ms).toLocaleDateString(undefined, { year: "numeric", month: "long", day: "numeric" });
}

export function kitFacts(kit) {
  return [
    ["Username", kit.username],
    ["Relay", kit.relay],
    ["Account fingerprint", kit.fingerprint],
    ["Created", formatDate(kit.createdAt)],
  ];
}

const ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
const escapeHtml = (text) => String(text).replace(/[&<>"']/g, (c) => ESCAPES[c]);

// A standalone page (opened from the downloads folder, not from this origin): its own small stylesheet, no script.
export function kitHtml(kit) {
  const words = kit.words.map((w, i) => `<li><span>${i + 1}</span>${escapeHtml(w)}</li>`).join("");
  const facts = kitFacts(kit).map(([n, v]) => `<dt>${escapeHtml(n)}</dt><dd>${escapeHtml(v)}</dd>`).join("");
  const steps = INSTRUCTIONS.map((line) => `<li>${escapeHtml(line)}</li>`).join("");
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Vellum recovery kit — ${escapeHtml(kit.username)}</title>
<style>
body{font:16px/1.5 system-ui,sans-serif;color:#111;background:#fff;max-width:46rem;margin:2rem auto;padding:0 1rem}
h1{font-size:1.5rem;margin:0 0 .25rem}.warn{color:#8a1c1c;font-weight:600}
ol.words{display:grid;grid-template-columns:repeat(4,1fr);gap:.4rem .8rem;list-style:none;padding:0;margin:1.5rem 0}
ol.words li{border:1px solid #999;border-radius:6px;padding:.35rem .6rem;font:600 1rem ui-monospace,monospace}
ol.words span{display:inline-block;min-width:1.6rem;color:#555;font:400 .75rem system-ui,sans-serif}
dl{display:grid;grid-template-columns:12rem 1fr;gap:.3rem 1rem}dt{color:#555}dd{margin:0;overflow-wrap:anywhere;font-family:ui-monospace,monospace}
@media (max-width:600px){ol.words{grid-template-columns:repeat(2,1fr)}dl{grid-template-columns:1fr}}
</style></head><body>
<h1>Vellum recovery kit</h1>
<p class="warn">Anyone with these 24 words can read your notes. Keep this page private and offline.</p>
<ol class="words">${words}</ol>
<dl>${facts}</dl>
<h2>What to do with it</h2>
<ul>${steps}</ul>
</body></html>
`;
}

export function safeFilePart(text) {
  return text.replace(/[^A-Za-z0-9._-]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 40) || "account";
}

export function downloadKit(kit) {
  download(`vellum-recovery-kit-${safeFilePart(kit.username)}.html`, kitHtml(kit), "text/html;charset=utf-8");
}

// Three distinct positions (1-based) for the person to type back, spread over the phrase.
export function pickCheckPositions(count = 24, picks = 3) {
  const band = Math.floor(count / picks);
  const random = new Uint32Array(picks);
  crypto.getRandomValues(random);
  return Array.from(random, (r, i) => i * band + 1 + (r % band));
}

// The three typed words against the phrase on screen (checked here first so a typo gets a precise answer; the worker
// checks again). Marks and focuses the first problem and answers null, or answers {position: word} for the worker.
export function checkTypedWords(inputs, words, error) {
  error.textContent = "";
  for (const input of inputs) input.removeAttribute("aria-invalid");
  const empty = inputs.find((input) => !input.value.trim());
  if (empty) {
    error.textContent = `Type word ${empty.dataset.position} from your written copy.`;
    empty.focus();
    return null;
  }
  const wrong = inputs.find((input) => input.value.trim().toLowerCase() !== words[Number(input.dataset.position) - 1]);
  if (wrong) {
    wrong.setAttribute("aria-invalid", "true");
    error.textContent = `Word ${wrong.dataset.position} does not match. Look at your written copy and try again.`;
    wrong.focus();
    return null;
  }
  return Object.fromEntries(inputs.map((input) => [input.dataset.position, input.value.trim().toLowerCase()]));
}
