// The sync status line: online or offline, how many changes wait, and when the last sync succeeded.
// "Online · 0 changes waiting · Last synced at 14:03"

export function changesWaiting(count) {
  const n = Number.isFinite(count) ? count : 0;
  return `${n} ${n === 1 ? "change" : "changes"} waiting`;
}

export function lastSynced(ms, now = Date.now()) {
  if (!ms) return "Not synced yet";
  const seconds = Math.max(0, Math.round((now - ms) / 1000));
  if (seconds < 45) return "Last synced just now";
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return `Last synced ${minutes} ${minutes === 1 ? "minute" : "minutes"} ago`;
  const date = new Date(ms);
  const time = date.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
  if (new Date(now).toDateString() === date.toDateString()) return `Last synced at ${time}`;
  return `Last synced ${date.toLocaleDateString(undefined, { month: "short", day: "numeric" })}, ${time}`;
}

export function syncStatusText(status, now = Date.now()) {
  const online = status.online === true ? "Online" : status.online === false ? "Offline" : "Connecting";
  return `${online} · ${changesWaiting(status.pending_count)} · ${lastSynced(status.last_success_at, now)}`;
}

// Only what the page shows, all numbers and booleans: this object also travels to other tabs.
export function publicStatus(status) {
  const number = (v) => (Number.isFinite(v) && v >= 0 ? Math.floor(v) : 0);
  return {
    online: status?.online === true ? true : status?.online === false ? false : null,
    pending_count: number(status?.pending_count),
    last_success_at: Number.isFinite(status?.last_success_at) ? status.last_success_at : null,
    conflicts: number(status?.conflicts),
    quarantined: number(status?.quarantined),
    error_code: typeof status?.last_error?.code === "string" ? status.last_error.code.slice(0, 64) : null,
  };
}
