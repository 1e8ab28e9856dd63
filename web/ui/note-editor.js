// The editor: Title and Body of one note, saved as you type (debounced) and when a field loses focus. Saves run one
// at a time, in order; a new note gets its id from its first save. Nothing is saved for a new note that is still
// empty. The editor also shows why a note needs attention (quarantine, conflicted copy).

import { byId, h } from "./dom.js";
import { limits } from "./limits.js";
import { messageFor, quarantineMessage } from "./messages.js";

const SAVE_AFTER_MS = 700;

export class NoteEditor {
  #call;
  #onSaved;
  #form = byId("editor-form");
  #empty = byId("editor-empty");
  #title = byId("note-title");
  #body = byId("note-body");
  #state = byId("save-state");
  #flags = byId("note-flags");
  #timer = null;
  #chain = Promise.resolve();
  #saved = { title: "", body: "" }; // what the worker has
  #revision = null;
  id = null;
  open = false;

  // call(cmd, args): the engine; onSaved({id, pending_count, created}): after each successful save
  constructor({ call, onSaved }) {
    this.#call = call;
    this.#onSaved = onSaved;
    for (const field of [this.#title, this.#body]) {
      field.addEventListener("input", () => this.#edited());
      field.addEventListener("blur", () => this.flush());
    }
    // The title wraps like text but stays one line of it: a pasted line break becomes a space.
    this.#title.addEventListener("input", () => {
      if (/[\r\n]/.test(this.#title.value)) this.#title.value = this.#title.value.replace(/[\r\n]+/g, " ");
    });
    this.#title.addEventListener("keydown", (event) => {
      if (event.key === "Enter") {
        event.preventDefault();
        this.#body.focus();
      }
    });
  }

  get dirty() {
    return this.open && (this.#title.value !== this.#saved.title || this.#body.value !== this.#saved.body);
  }

  // note: {id, title, body, updated_at, pending, quarantine} or null for a new note
  show(note, { conflicted = false } = {}) {
    clearTimeout(this.#timer);
    this.open = true;
    this.id = note?.id ?? null;
    this.#revision = note?.revision ?? null;
    this.#saved = { title: note?.title ?? "", body: note?.body ?? "" };
    this.#title.value = this.#saved.title;
    this.#body.value = this.#saved.body;
    this.#form.hidden = false;
    this.#empty.hidden = true;
    this.#showFlags(note, conflicted);
    this.#setState(note ? "saved" : "new", note ? this.#savedText(note) : "New note");
  }

  // Another tab or a sync changed the open note: take the new text if nothing here is unsaved. The caret stays put.
  // Unsaved text keeps the revision it started from: its next save then tells the worker to merge.
  refresh(note, { conflicted = false } = {}) {
    if (!this.open || note?.id !== this.id) return;
    this.#showFlags(note, conflicted);
    if (this.dirty) return;
    this.#revision = note.revision ?? this.#revision;
    if (note.title === this.#saved.title && note.body === this.#saved.body) {
      this.#setState("saved", this.#savedText(note));
      return;
    }
    this.#replaceText(note);
    this.#setState("saved", "Updated from another device");
  }

  #replaceText({ title, body }) {
    for (const [field, value] of [[this.#title, title], [this.#body, body]]) {
      if (field.value === value) continue;
      const focused = document.activeElement === field;
      const { selectionStart, selectionEnd } = field;
      field.value = value;
      if (focused) field.setSelectionRange(Math.min(selectionStart, value.length), Math.min(selectionEnd, value.length));
    }
    this.#saved = { title, body };
  }

  close() {
    clearTimeout(this.#timer);
    this.open = false;
    this.id = null;
    this.#revision = null;
    this.#saved = { title: "", body: "" };
    this.#title.value = "";
    this.#body.value = "";
    this.#flags.replaceChildren();
    this.#state.textContent = "";
    this.#form.hidden = true;
    this.#empty.hidden = false;
  }

  focusTitle() {
    this.#title.focus();
  }

  focusBody() {
    this.#body.focus();
  }

  #edited() {
    this.#setState("editing", "Editing…");
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.flush(), SAVE_AFTER_MS);
  }

  // Save now if anything changed; resolves when every save so far has finished.
  flush() {
    clearTimeout(this.#timer);
    this.#chain = this.#chain.then(() => this.#save()).catch(() => undefined);
    return this.#chain;
  }

  async #save() {
    if (!this.open) return;
    const title = this.#title.value;
    const body = this.#body.value;
    if (title === this.#saved.title && body === this.#saved.body) return;
    if (this.id === null && !title.trim() && !body.trim()) return;
    if (body.length > limits().body_max_length) {
      // No maxlength on the body: the browser would cut a paste silently. Nothing is lost while the text stays here.
      this.#setState("error", "Not saved: this note is too long. Move part of it into another note.");
      return;
    }
    const id = this.id;
    this.#setState("saving", "Saving…");
    try {
      const args = { title, body };
      if (id !== null) args.id = id;
      if (this.#revision !== null) args.base_revision = this.#revision;
      const result = await this.#call("notes.save", args);
      if (this.id !== id) return; // another note was opened meanwhile (its own save state applies)
      const typedSince = this.#title.value !== title || this.#body.value !== body;
      const revision = Number.isInteger(result.revision) ? result.revision : null;
      let note = "Saved on this device";
      if (result.conflicted_copy_of) {
        // Changed elsewhere in the same lines: the other edit stays in the note, this text became a copy (open now).
        this.id = result.id;
        let copy = null;
        try {
          copy = await this.#call("notes.get", { id: result.id });
        } catch {
          // shown with the next refresh
        }
        this.#revision = copy?.revision ?? revision;
        if (copy && !typedSince) this.#replaceText(copy);
        else this.#saved = { title: copy?.title ?? title, body };
        note = "Edited elsewhere at the same time: your text was saved as a conflicted copy";
      } else if (result.merged) {
        // Another device's edit landed meanwhile and was merged in: show the stored text.
        this.id = result.id;
        if (typedSince) {
          this.#saved = { title, body }; // the next save still starts from the old revision, so the worker merges
        } else {
          this.#revision = revision;
          this.#replaceText(result.merged);
        }
        note = "Saved, with another device's changes merged in";
      } else {
        this.id = result.id;
        if (revision !== null) this.#revision = revision;
        this.#saved = { title, body };
      }
      if (!this.dirty) this.#setState("saved", note);
      this.#onSaved({
        id: this.id,
        pending_count: result.pending_count,
        created: id === null || Boolean(result.conflicted_copy_of),
        conflictedCopy: Boolean(result.conflicted_copy_of),
      });
    } catch (err) {
      if (this.id === id) this.#setState("error", `Not saved: ${messageFor(err)}`);
      throw err;
    }
  }

  markSynced(pending) {
    if (this.open && !this.dirty && this.#state.dataset.state === "saved") {
      this.#state.textContent = pending ? "Saved on this device · waiting to sync" : "Saved and synced";
    }
  }

  #savedText(note) {
    const when = note.updated_at ? new Date(note.updated_at) : null;
    const time = when?.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
    let edited = "Saved";
    if (when && when.toDateString() === new Date().toDateString()) edited = `Edited at ${time}`;
    else if (when) edited = `Edited ${when.toLocaleDateString(undefined, { month: "short", day: "numeric" })}, ${time}`;
    return note.pending ? `${edited} · waiting to sync` : edited;
  }

  #setState(state, text) {
    this.#state.dataset.state = state;
    this.#state.textContent = text;
  }

  #showFlags(note, conflicted) {
    const flags = [];
    if (note?.quarantine) {
      flags.push(
        h(
          "div",
          { class: "note-flag", dataset: { kind: "quarantine", code: note.quarantine }, role: "note" },
          h("strong", {}, "This note needs attention"),
          quarantineMessage(note.quarantine),
        ),
      );
    }
    if (conflicted) {
      flags.push(
        h(
          "div",
          { class: "note-flag", dataset: { kind: "conflict" }, role: "note" },
          h("strong", {}, "Conflicted copy"),
          "This note was edited on two devices at once, so Vellum kept both versions. Compare them, keep what you need, and delete the other.",
        ),
      );
    }
    this.#flags.replaceChildren(...flags);
  }
}
