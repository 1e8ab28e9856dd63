// "Confirm with your passphrase": a modal dialog for every action that changes who can unlock the account (a new
// recovery kit, remember this device, passkeys, revoking a device). The worker checks the passphrase (one Argon2id,
// before anything is sent) and signs the relay's step-up challenge with it; the dialog only collects it, shows the
// worker's answer, and clears the field as soon as it closes.
//
//   const done = await confirmWithPassphrase({title, text, confirmLabel, danger, extra, run: async (passphrase) => {...}})
//
// `run` throws to keep the dialog open with the error shown under the field (a wrong passphrase, a refusal); the
// promise resolves to run's result, or to null when the person cancels.

import { busy, h } from "./dom.js";
import { maxLengthOf } from "./limits.js";
import { messageFor } from "./messages.js";

let dialog = null;
let counter = 0;

function wrongPassphrase(err) {
  return err?.code === "wrong_passphrase" ? "That is not this account's current passphrase. Check it (is Caps Lock on?) and try again." : null;
}

export function confirmWithPassphrase({ title, text, confirmLabel, danger = false, extra = [], run, describeError = null }) {
  dialog?.close();
  counter += 1;
  const ids = { title: `pp-dialog-title-${counter}`, text: `pp-dialog-text-${counter}`, field: `pp-dialog-field-${counter}` };
  const field = h("input", {
    id: ids.field,
    type: "password",
    autocomplete: "current-password",
    required: true,
    ...maxLengthOf("passphrase_max_length"),
  });
  const error = h("p", { class: "form-error", role: "alert" });
  const cancel = h("button", { type: "button", class: "button ghost" }, "Cancel");
  const submit = h("button", { type: "submit", class: danger ? "button primary danger-fill" : "button primary" }, confirmLabel);
  const form = h(
    "form",
    { class: "form", novalidate: true },
    h("h2", { id: ids.title }, title),
    ...[text].flat().filter(Boolean).map((line, i) => h("p", { id: i === 0 ? ids.text : null, class: "dialog-text" }, line)),
    ...[extra].flat().filter(Boolean),
    h("div", { class: "field" }, h("label", { for: ids.field }, "Passphrase"), field),
    error,
    h("div", { class: "dialog-actions" }, cancel, submit),
  );
  const element = h("dialog", { class: "key-dialog", "aria-labelledby": ids.title, "aria-describedby": text ? ids.text : null }, form);
  document.body.append(element);
  dialog = element;

  return new Promise((resolve) => {
    let outcome = null;
    let running = false;
    const finish = () => {
      field.value = "";
      element.remove();
      if (dialog === element) dialog = null;
      resolve(outcome);
    };
    element.addEventListener("close", finish, { once: true });
    element.addEventListener("cancel", (event) => {
      if (running) event.preventDefault(); // Escape does not abandon a request in flight
    });
    cancel.addEventListener("click", () => !running && element.close());
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      busy(submit, async () => {
        error.textContent = "";
        field.removeAttribute("aria-invalid");
        if (!field.value) {
          error.textContent = "Enter your passphrase.";
          field.setAttribute("aria-invalid", "true");
          field.focus();
          return;
        }
        running = true;
        cancel.disabled = true;
        try {
          outcome = (await run(field.value)) ?? true;
          element.close();
        } catch (err) {
          error.textContent = describeError?.(err) ?? wrongPassphrase(err) ?? messageFor(err);
          if (err?.code === "wrong_passphrase") field.setAttribute("aria-invalid", "true");
          field.select();
          field.focus();
        } finally {
          running = false;
          cancel.disabled = false;
        }
      });
    });
    element.showModal();
    field.focus();
  });
}

// Close whatever dialog is open (on lock).
export function closePassphraseDialog() {
  dialog?.close();
}
