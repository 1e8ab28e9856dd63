// Error codes from the worker and the relay, as calm sentences that say what to do. The worker's own text is only a
// fallback: codes are stable, wording is the page's job.

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
  keyring_rollback: "The relay sent an older version of your account's keys. Vellum kept the newer one; your notes are safe.",
  keyring_fork: "The relay sent conflicting versions of your account's keys. Vellum kept the one it trusts; your notes are safe.",
  stale_epoch: "Your account's keys changed on another device. Vellum is catching up; try again in a moment.",
  step_up_required: "Confirm with your passphrase to do this.",
  unavailable: "This is not available in this version of Vellum.",
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
  blocked_by_quarantine: "Edits to this note wait until the problem above is resolved; they are kept on this device.",
};

export function messageFor(error) {
  const code = error?.code;
  if (code && Object.hasOwn(MESSAGES, code)) return MESSAGES[code];
  return FALLBACK;
}

export function quarantineMessage(code, fallback) {
  if (code && Object.hasOwn(QUARANTINE, code)) return QUARANTINE[code];
  return fallback || "The server sent a version of this note that Vellum refused; the last good version is kept.";
}

export function isNetworkError(error) {
  return ["network_error", "server_busy", "worker_offline"].includes(error?.code);
}
