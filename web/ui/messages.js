// Error codes from the worker and the relay, as calm sentences that say what to do. The worker's own text is only a
// fallback: codes are stable, wording is the page's job. tests/unit/test_errors.py fails when pycore (pycore/errors.py),
// the relay (docs/relay.md) or the sync engine's quarantine can produce a code that has no sentence here.

const MESSAGES = {
  wrong_passphrase: "That passphrase did not unlock this account. Check it (is Caps Lock on?) and try again.",
  login_failed: "The username or passphrase is not right. Check both and try again.",
  unknown_account: "The username or passphrase is not right. Check both and try again.",
  username_taken: "That username is already taken. Choose another one.",
  account_exists: "That username is already taken. Choose another one.",
  weak_passphrase: "This passphrase is too easy to guess. Make it longer: four or five random words work well.",
  recovery_mismatch: "That word does not match. Look at your written copy and try again.",
  not_remembered: "This device is no longer remembered. Unlock with your passphrase.",
  network_error: "Vellum cannot reach the relay right now. Check your connection and try again.",
  relay_error: "The relay could not complete this. Try again in a moment.",
  server_busy: "The relay is busy. Vellum will try again shortly.",
  rate_limited: "Too many attempts in a short time. Wait a minute, then try again.",
  clock_skew: "This device's clock is far off. Correct the date and time, then try again.",
  locked: "Vellum is locked. Unlock it to continue.",
  worker_unavailable: "The encryption engine stopped. Reload the page to start it again.",
  device_revoked: "This device was removed from your account. Sign in again to use it.",
  device_key_unavailable: "This browser could not use its device key. Reload the page; if it keeps happening, sign in again.",
  decryption_failed: "This could not be decrypted with the keys on this device. Sync, or unlock with your recovery phrase.",
  bad_format: "That file is not a Vellum backup, or it is damaged.",
  unsupported_version: "That file was made by a newer Vellum. Update the app, then try again.",
  too_large: "That is too large for Vellum to store. Split it into smaller notes.",
  quota_exceeded: "This device is out of storage space. Free some space, then try again.",
  stale_epoch: "Your account's keys changed on another device. Vellum is catching up; try again in a moment.",
  step_up_required: "Confirm with your passphrase to do this.",
  unavailable: "This is not available in this version of Vellum.",
  // --- the app in this browser (pycore/errors.py, "app") ---
  bad_request: "Vellum could not use what was entered. Check it and try again.",
  not_found: "That is no longer here. It may have been deleted, or not have reached this device yet.",
  no_account: "There is no Vellum account in this browser yet. Sign in or create one.",
  storage_error: "This browser could not read or save Vellum's data. Reload the page and try again.",
  insecure_relay: "The relay address must start with https:// (plain http:// only works on this computer).",
  unknown_command: "This page and Vellum's engine are different versions. Reload the page.",
  internal_error: "Something went wrong inside Vellum. Try again; if it keeps happening, reload the page.",
  sync_failed: "Sync could not finish; nothing on this device was lost. Try again later.",
  // --- the relay's refusals (docs/relay.md, "Error codes") ---
  bad_json: "The relay did not understand this request. Reload the page, then try again.",
  bad_response: "The relay sent an answer Vellum does not understand. Try again in a moment.",
  method_not_allowed: "The relay does not offer this. It may be running an older version of Vellum.",
  unauthenticated: "This device is not signed in to the relay. Sign in again.",
  unknown_device: "The relay no longer knows this device. Sign in again.",
  bad_signature:
    "Vellum could not verify this, so nothing was changed. Try again; if it keeps happening, sign in again.",
  replayed_nonce: "The relay received this request twice and refused the copy. Try again.",
  bad_challenge: "Signing in took too long. Try again.",
  forbidden: "This device is not allowed to do that.",
  device_exists: "This device is already registered in another way. Reload the page and sign in again.",
  too_many_devices: "This account has too many devices. Remove the ones you no longer use in Settings, then try again.",
  already_revoked: "That device was already removed from your account.",
  // --- key lifecycle (web/ui/keys.js and the screens it drives) ---
  keyring_rollback: "The server sent older account keys than this device has seen; nothing was changed.",
  keyring_fork:
    "The server sent account keys that contradict the ones this device has seen; nothing was changed. Your notes are safe on this device.",
  bad_bundle: "The server sent account keys that do not check out; nothing was changed. Your notes are safe on this device.",
  unlock_again: "Your account keys were replaced on another device. Lock Vellum, then unlock with your current passphrase.",
  wrong_recovery_phrase:
    "These words are a valid recovery phrase, but not the current one for this account. Use your newest recovery kit, and check the username.",
  bad_checksum:
    "Every word is a recovery-phrase word, but together they do not form a valid phrase: one is probably mistyped or out of order. Compare them with your kit, in order.",
  wrong_word_count: "A recovery phrase has exactly 24 words. Fill in every field, in the order of your kit.",
  unknown_word: "One of the words is not a recovery-phrase word. Check its spelling against your kit.",
  recovery_not_started: "Enter your recovery phrase again: Vellum was locked before the new passphrase was set.",
  recovery_unavailable: "This recovery phrase can no longer be checked here. Make a new recovery kit in Settings.",
  bad_username: "That username is not valid: use letters, digits, or . _ @ + -, starting with a letter or a digit.",
  unsynced_changes:
    "This browser holds another account with changes that have not reached the relay. Unlock it and let it sync first.",
  passkey_exists: "That passkey already unlocks this account.",
  passkey_cancelled: "The passkey was not used. Try again when you are ready.",
  passkey_unsupported:
    "This passkey cannot unlock Vellum: its authenticator does not support the PRF extension. Use your passphrase, or try another passkey.",
  passkey_unavailable: "This browser cannot use passkeys to unlock Vellum. Your passphrase still works.",
  stale_bundle: "Your account keys changed on another device meanwhile. Try again.",
  step_up_failed: "Your confirmation was not accepted. Check your passphrase and try again.",
  rotation_failed: "The account keys could not be changed right now. Try again in a moment.",
  kdf_params: "The server offered unsafe passphrase settings for this account, so Vellum stopped. Nothing was changed.",
  invalid_key: "A key Vellum received is damaged, so nothing was changed. Your notes are safe on this device.",
  unknown_key: "This needs account keys this device does not have yet. Sync, then try again.",
  record_rollback: "The server sent an older version of a note than this device has seen; nothing was changed.",
  record_fork: "The server sent a conflicting history for a note; nothing was changed.",
  bad_recovery_phrase: "That is not a valid recovery phrase. Compare each word with your recovery kit, in order.",
  // --- end key lifecycle ---
};

const FALLBACK = "Something went wrong. Try again; if it keeps happening, reload the page.";

// Quarantine reasons (the relay's newest version of a note was refused): what happened, and that the last good
// version is what the note shows.
const QUARANTINE = {
  decryption_failed:
    "This version could not be decrypted with the keys on this device; the last good version is shown.",
  unknown_key: "This version was sealed with a key this device does not have; the last good version is shown.",
  record_rollback: "The server sent an older version than this device has seen; the newer one is kept.",
  record_fork: "The server sent a conflicting history for this note; the last good version is kept.",
  bad_format: "The server sent a damaged version of this note; the last good version is kept.",
  unsupported_version:
    "This version was written by a newer Vellum; update the app to read it. The last good version is shown.",
  blocked_by_quarantine: "Edits to this note wait until the problem above is resolved; they are kept on this device.",
};

export function messageFor(error) {
  const code = error?.code;
  if (code && Object.hasOwn(MESSAGES, code)) return MESSAGES[code];
  return FALLBACK;
}

export function quarantineMessage(code) {
  if (code && Object.hasOwn(QUARANTINE, code)) return QUARANTINE[code];
  return "The server sent a version of this note that Vellum refused; the last good version is kept.";
}

export function isNetworkError(error) {
  return ["network_error", "server_busy", "worker_offline"].includes(error?.code);
}
