// Short messages at the bottom of the window, optionally with one action ("Undo"). The region is aria-live, so screen
// readers hear them; they do not steal focus.

import { byId, h } from "./dom.js";

const DEFAULT_MS = 8000;
const active = new Set();

export function showToast(text, { action = null, timeout = DEFAULT_MS } = {}) {
  const region = byId("toasts");
  let timer = null;
  const toast = h("div", { class: "toast" }, h("p", { class: "toast-text" }, text));
  const dismiss = () => {
    clearTimeout(timer);
    toast.remove();
    active.delete(dismiss);
  };
  if (action) {
    toast.append(
      h("button", {
        type: "button",
        class: "button",
        onclick: async () => {
          dismiss();
          await action.run();
        },
      }, action.label),
    );
  }
  region.append(toast);
  active.add(dismiss);
  timer = setTimeout(dismiss, timeout);
  return dismiss;
}

// On lock: a toast may hold a deleted note's text for its Undo.
export function clearToasts() {
  for (const dismiss of [...active]) dismiss();
}
