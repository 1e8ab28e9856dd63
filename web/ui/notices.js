// Notices across the top of the window (update available, insecure connection, storage lost, missing features).
// Each has a key, so it is shown once and can be withdrawn.

import { byId, h } from "./dom.js";

export function showNotice(key, { kind = "info", title = null, text, actions = [] }) {
  const region = byId("notices");
  region.querySelector(`[data-key="${key}"]`)?.remove();
  const notice = h(
    "div",
    { class: "notice", dataset: { key, kind }, role: kind === "danger" ? "alert" : null },
    h("p", { class: "notice-text" }, title ? h("strong", {}, `${title} `) : null, text),
    ...actions.map(({ label, run }) => h("button", { type: "button", class: "button", onclick: run }, label)),
  );
  region.append(notice);
  return notice;
}

export function hideNotice(key) {
  byId("notices").querySelector(`[data-key="${key}"]`)?.remove();
}
