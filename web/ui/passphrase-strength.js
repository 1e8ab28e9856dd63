// A passphrase strength estimate, in bits of guessing work, that refuses what an attacker would try early.
//
// The relay (or a thief of its database) can guess a passphrase offline at the cost of one Argon2id per guess, so the
// estimate is deliberately conservative: it models a guesser who tries common passwords, dictionary words (also in
// l33t spelling), keyboard walks, repeats, years and the username before brute force. Each token (split on spaces
// and common separators) is scored as the cheapest of those explanations; the total is capped by plain brute force
// over the characters used.
//
//   < 50 bits: refused ("Too weak"); 50-64: "Fair"; 64-80: "Good"; >= 80: "Strong".
// Four random dictionary words score about 52 bits; five about 65; twelve random printable characters about 78.

export const MIN_BITS = 50;
const WORD_BITS = 13; // a word from a ~8,000-word vocabulary (a diceware list has 7,776)
const COMMON_BITS = 4;

const COMMON = new Set(
  `password passw0rd pass 123456 12345678 123456789 1234567890 qwerty qwertyuiop asdfgh asdfghjkl zxcvbnm abc123
  letmein iloveyou admin administrator welcome monkey dragon football baseball soccer hockey sunshine princess shadow
  master superman batman michael jennifer jordan trustno1 hello freedom whatever secret love god test guest login
  starwars pokemon computer internet summer winter spring autumn flower cookie cheese chocolate pepper ginger
  charlie thomas daniel jessica ashley hunter killer ranger buster tigger access mustang matrix orange banana apple
  purple silver golden diamond angel angels blink182 liverpool chelsea arsenal barcelona family forever friends
  mother father sister brother baby babygirl lovely loveme hottie flower12 vellum notes notebook changeme default
  secure security private passphrase mypassword mypass yourpassword nothing anything something everything
  correcthorsebatterystaple correct horse battery staple qazwsx zaq12wsx 1q2w3e4r 1qaz2wsx 000000 111111 121212
  654321 666666 696969 777777 987654321 password1 password123 abcdef abcdefg`.split(/\s+/),
);

const LEET = { 0: "o", 1: "l", 3: "e", 4: "a", 5: "s", 7: "t", 8: "b", "@": "a", $: "s", "!": "i", "|": "l", "+": "t" };
const WALKS = ["qwertyuiop", "asdfghjkl", "zxcvbnm", "1234567890", "abcdefghijklmnopqrstuvwxyz", "qazwsxedcrfvtgbyhnujmikolp"];

function poolSize(text) {
  let pool = 0;
  if (/[a-z]/.test(text)) pool += 26;
  if (/[A-Z]/.test(text)) pool += 26;
  if (/[0-9]/.test(text)) pool += 10;
  if (/[ -/:-@[-`{-~]/.test(text)) pool += 33;
  if (/[^\x00-\x7f]/u.test(text)) pool += 100;
  return Math.max(pool, 10);
}

// Characters that continue a run (the same character again, or the next one on a keyboard row or in the alphabet)
// add almost nothing: a run of n costs log2(n) after its first character.
function bruteForceBits(text) {
  const chars = [...text];
  if (chars.length === 0) return 0;
  const perChar = Math.log2(poolSize(text));
  let bits = 0;
  let run = 1;
  const flush = () => {
    bits += perChar + (run > 2 ? Math.log2(run) : (run - 1) * perChar);
    run = 1;
  };
  for (let i = 1; i < chars.length; i += 1) {
    if (continuesRun(chars[i - 1], chars[i])) run += 1;
    else flush();
  }
  flush();
  return bits;
}

function continuesRun(previous, current) {
  const a = previous.toLowerCase();
  const b = current.toLowerCase();
  if (a === b) return true;
  return WALKS.some((walk) => {
    const i = walk.indexOf(a);
    return i >= 0 && (walk[i + 1] === b || walk[i - 1] === b);
  });
}

function deLeet(text) {
  let substitutions = 0;
  const plain = [...text]
    .map((c) => {
      if (Object.hasOwn(LEET, c)) {
        substitutions += 1;
        return LEET[c];
      }
      return c;
    })
    .join("");
  return { plain, substitutions };
}

function caseBits(word) {
  if (word === word.toLowerCase()) return 0;
  if (word === word.toUpperCase() || word.slice(1) === word.slice(1).toLowerCase()) return 1;
  return Math.min(word.length, Math.ceil(word.length / 2)); // which letters are upper case
}

function affixBits(affix) {
  if (!affix) return 0;
  if (/^(19|20)\d\d$/.test(affix)) return 6; // a year
  if (/^\d{1,2}$/.test(affix)) return affix.length * 3.3;
  if (/^[!?.*#]$/.test(affix)) return 3;
  return Math.min(bruteForceBits(affix), affix.length * 5);
}

function tokenBits(token, username) {
  const lower = token.toLowerCase();
  if (username && username.length >= 3 && lower.includes(username)) {
    return 2 + tokenBits(lower.replace(username, ""), null);
  }
  if (!lower) return 0;
  if (COMMON.has(lower)) return COMMON_BITS;
  const brute = bruteForceBits(token);
  const match = /^([^A-Za-z]*)(.*?)([^A-Za-z]*)$/.exec(token);
  const [, prefix, core, suffix] = match;
  const { plain, substitutions } = deLeet(core);
  if (/^[A-Za-z]{2,}$/.test(plain)) {
    const coreLower = plain.toLowerCase();
    let wordBits;
    if (COMMON.has(coreLower)) wordBits = COMMON_BITS;
    else if (plain.length > 12) wordBits = Math.ceil(plain.length / 6) * WORD_BITS; // probably several words run together
    else wordBits = Math.min(WORD_BITS, bruteForceBits(plain));
    const guessed = wordBits + caseBits(plain) + Math.min(substitutions, 3) + affixBits(prefix) + affixBits(suffix);
    return Math.min(brute, guessed);
  }
  return brute;
}

export function estimateStrength(passphrase, { username = "" } = {}) {
  const text = passphrase.normalize("NFC");
  const user = username.trim().toLowerCase();
  if (!text) return describe(0, text, user);
  if (COMMON.has(text.toLowerCase().replace(/[\s\-_.]+/g, ""))) return describe(COMMON_BITS, text, user);
  const tokens = text.split(/[\s\-_.,;:/]+/).filter(Boolean);
  const seen = new Set();
  let bits = 0;
  for (const token of tokens) {
    const key = token.toLowerCase();
    bits += seen.has(key) ? 1 : tokenBits(token, user);
    seen.add(key);
  }
  return describe(Math.min(bits, bruteForceBits(text)), text, user);
}

function describe(rawBits, text, user) {
  const bits = Math.round(rawBits);
  const acceptable = bits >= MIN_BITS;
  let level;
  let verdict;
  let feedback;
  if (!text) {
    level = 0;
    verdict = "empty";
    feedback = "";
  } else if (!acceptable) {
    level = 1;
    verdict = "weak";
    feedback = user && text.toLowerCase().includes(user)
      ? "Too weak: it contains your username. Add a few random words that mean nothing to anyone else."
      : `Too weak: about ${bits} bits, and Vellum needs at least ${MIN_BITS}. Add another word or two.`;
  } else if (bits < 64) {
    level = 2;
    verdict = "fair";
    feedback = `Fair: about ${bits} bits. Acceptable; one more random word would make it good.`;
  } else if (bits < 80) {
    level = 3;
    verdict = "good";
    feedback = `Good: about ${bits} bits.`;
  } else {
    level = 4;
    verdict = "strong";
    feedback = `Strong: about ${bits} bits.`;
  }
  return { bits, level, verdict, acceptable, feedback };
}
