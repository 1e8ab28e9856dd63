// The notebook: the list (newest first), search (in the worker: titles and bodies never leave it as an index), new
// note, the editor, delete with undo. On a phone-sized window the list and the editor take turns
// ([data-view] on the screen); on a desktop they sit side by side.

import { busy, byId, h } from "./dom.js";
import { messageFor } from "./messages.js";
import { NoteEditor } from "./note-editor.js";
import { showToast } from "./toasts.js";

const SEARCH_AFTER_MS = 180;

function relativeTime(ms, now = Date.now()) {
  if (!ms) return "";
  const minutes = Math.round((now - ms) / 60_000);
  if (minutes < 1) return "Just now";
  if (minutes < 60) return `${minutes} min ago`;
  const date = new Date(ms);
  if (new Date(now).toDateString() === date.toDateString()) {
    return date.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
  }
  const sameYear = new Date(now).getFullYear() === date.getFullYear();
  return date.toLocaleDateString(undefined, { month: "short", day: "numeric", year: sameYear ? undefined : "numeric" });
}

export class NotebookScreen {
  #call;
  #onChanged;
  #onPending;
  #screen = byId("notebook-screen");
  #list = byId("note-list");
  #summary = byId("list-summary");
  #search = byId("search");
  #items = [];
  #matches = null; // ids matching the search, in the worker's order, or null
  #searchTimer = null;
  #searchSeq = 0;
  #selectSeq = 0;
  editor;

  // call(cmd, args); onChanged(): notes changed here (tell other tabs, schedule a sync); onPending(count)
  constructor({ call, onChanged, onPending }) {
    this.#call = call;
    this.#onChanged = onChanged;
    this.#onPending = onPending;
    this.editor = new NoteEditor({ call, onSaved: (saved) => this.#saved(saved) });
    byId("new-note").addEventListener("click", () => this.newNote());
    byId("delete-note").addEventListener("click", (event) => busy(event.currentTarget, () => this.deleteOpen()));
    byId("back-to-list").addEventListener("click", () => this.#backToList());
    this.#search.addEventListener("input", () => {
      clearTimeout(this.#searchTimer);
      this.#searchTimer = setTimeout(() => this.#runSearch(), SEARCH_AFTER_MS);
    });
    this.#search.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && this.#search.value) {
        this.#search.value = "";
        this.#runSearch();
      }
    });
    this.#list.addEventListener("keydown", (event) => this.#listKeys(event));
  }

  // --- list ------------------------------------------------------------------------------------------------------

  setNotes(items) {
    this.#items = Array.isArray(items) ? items : [];
    this.#render();
  }

  async reload() {
    const { notes } = await this.#call("notes.list");
    const before = this.#signature();
    this.setNotes(notes);
    if (this.#search.value.trim()) await this.#runSearch();
    await this.#refreshOpen();
    return before !== this.#signature();
  }

  #signature() {
    return this.#items.map((n) => `${n.id}:${n.updated_at}:${n.pending}:${n.quarantine}`).join("|");
  }

  item(id) {
    return this.#items.find((n) => n.id === id) ?? null;
  }

  #visible() {
    if (this.#matches === null) return this.#items;
    const byId = new Map(this.#items.map((n) => [n.id, n]));
    return this.#matches.map((id) => byId.get(id)).filter(Boolean);
  }

  #render() {
    const visible = this.#visible();
    const query = this.#search.value.trim();
    const selected = this.editor.open ? this.editor.id : null;
    this.#list.replaceChildren(
      ...visible.map((note) => {
        const untitled = !note.title?.trim();
        const badges = [];
        if (note.pending) badges.push(h("span", { class: "badge", dataset: { kind: "pending" } }, "Not synced"));
        if (note.conflicted) badges.push(h("span", { class: "badge", dataset: { kind: "conflict" } }, "Conflicted copy"));
        if (note.quarantine) badges.push(h("span", { class: "badge", dataset: { kind: "quarantine" } }, "Needs attention"));
        return h(
          "li",
          {},
          h(
            "button",
            {
              type: "button",
              class: "note-item",
              dataset: { id: note.id },
              "aria-current": note.id === selected ? "true" : null,
              onclick: () => this.select(note.id),
            },
            h("span", { class: "note-item-title", dataset: { untitled: String(untitled) } }, untitled ? "Untitled" : note.title),
            note.snippet ? h("span", { class: "note-item-snippet" }, note.snippet) : null,
            h("span", { class: "note-item-meta" }, h("span", {}, relativeTime(note.updated_at)), ...badges),
          ),
        );
      }),
    );
    if (visible.length === 0) {
      const text = query ? `No notes match “${query}”.` : "No notes yet. Choose “New note” to write the first one.";
      this.#list.replaceChildren(h("li", { class: "list-empty" }, text));
    }
    const count = this.#items.length;
    this.#summary.textContent = query
      ? `${visible.length} of ${count} ${count === 1 ? "note" : "notes"} match`
      : `${count} ${count === 1 ? "note" : "notes"}`;
  }

  #listKeys(event) {
    if (!["ArrowDown", "ArrowUp", "Home", "End"].includes(event.key)) return;
    const buttons = [...this.#list.querySelectorAll(".note-item")];
    const index = buttons.indexOf(document.activeElement);
    if (index < 0) return;
    event.preventDefault();
    const next = { ArrowDown: index + 1, ArrowUp: index - 1, Home: 0, End: buttons.length - 1 }[event.key];
    buttons[Math.max(0, Math.min(buttons.length - 1, next))]?.focus();
  }

  async #runSearch() {
    const query = this.#search.value.trim();
    const seq = ++this.#searchSeq;
    if (!query) {
      this.#matches = null;
      this.#render();
      this.#list.dataset.searched = "";
      return;
    }
    try {
      const { ids } = await this.#call("notes.search", { query });
      if (seq !== this.#searchSeq) return;
      this.#matches = ids;
    } catch (err) {
      if (seq !== this.#searchSeq) return;
      this.#matches = [];
      showToast(`Search failed: ${messageFor(err)}`);
    }
    this.#render();
    this.#list.dataset.searched = query; // what the list shows now (tests and assistive tooling can wait on it)
  }

  // --- selection and editing ----------------------------------------------------------------------------------------

  async select(id) {
    const seq = ++this.#selectSeq;
    await this.editor.flush();
    if (this.editor.open && this.editor.id === id && this.editor.dirty) {
      this.#screen.dataset.view = "editor"; // already open, typed into since the flush: nothing to load
      return;
    }
    try {
      const note = await this.#call("notes.get", { id });
      if (seq !== this.#selectSeq) return;
      const conflicted = Boolean(this.item(id)?.conflicted);
      if (this.editor.open && this.editor.id === id) {
        this.editor.refresh(note, { conflicted }); // already open: never replace what is being typed
      } else {
        await this.editor.flush(); // typed into the previous note while this one loaded
        if (seq !== this.#selectSeq) return;
        this.editor.show(note, { conflicted });
      }
      this.#screen.dataset.view = "editor";
      this.#render();
      this.editor.focusBody();
    } catch (err) {
      showToast(`This note could not be opened. ${messageFor(err)}`);
    }
  }

  async newNote() {
    ++this.#selectSeq;
    await this.editor.flush();
    this.editor.show(null);
    this.#screen.dataset.view = "editor";
    this.#render();
    this.editor.focusTitle();
  }

  async #backToList() {
    await this.editor.flush();
    this.#screen.dataset.view = "list";
    this.#list.querySelector('[aria-current="true"]')?.focus();
  }

  async #refreshOpen() {
    const id = this.editor.open ? this.editor.id : null;
    if (!id) return;
    if (!this.item(id)) {
      // Deleted elsewhere: keep unsaved text on screen; otherwise close it.
      if (!this.editor.dirty) this.editor.close();
      return;
    }
    // Unsaved text is never replaced, so there is nothing to fetch; its save tells the worker which version it
    // started from, and the worker merges.
    if (this.editor.dirty) return;
    try {
      const note = await this.#call("notes.get", { id });
      this.editor.refresh(note, { conflicted: Boolean(this.item(id)?.conflicted) });
      this.editor.markSynced(note.pending);
    } catch {
      // it will be refreshed next time
    }
  }

  async #saved({ pending_count: pending, conflictedCopy }) {
    if (Number.isFinite(pending)) this.#onPending(pending);
    if (conflictedCopy) {
      showToast("Another device changed this note at the same time. Both versions are kept: yours is the conflicted copy.");
    }
    try {
      await this.reload();
    } catch {
      // the list catches up with the next change
    }
    this.#onChanged();
  }

  async deleteOpen() {
    if (!this.editor.open) return;
    await this.editor.flush();
    const id = this.editor.id;
    if (id === null) {
      this.editor.close();
      this.#screen.dataset.view = "list";
      return;
    }
    try {
      const { pending_count: pending, undo } = await this.#call("notes.delete", { id });
      this.editor.close();
      this.#screen.dataset.view = "list";
      if (Number.isFinite(pending)) this.#onPending(pending);
      await this.reload();
      this.#onChanged();
      const title = undo?.title?.trim() ? `“${undo.title.trim().slice(0, 60)}”` : "Note";
      showToast(`${title} deleted.`, { action: { label: "Undo", run: () => this.#restore(undo) } });
    } catch (err) {
      showToast(`The note was not deleted. ${messageFor(err)}`);
    }
  }

  async #restore(undo) {
    if (!undo) return;
    try {
      const { id, pending_count: pending } = await this.#call("notes.restore", undo);
      if (Number.isFinite(pending)) this.#onPending(pending);
      await this.reload();
      this.#onChanged();
      await this.select(id);
    } catch (err) {
      showToast(`The note could not be restored. ${messageFor(err)}`);
    }
  }

  // Lock: nothing readable stays on screen or in this object.
  clear() {
    clearTimeout(this.#searchTimer);
    ++this.#searchSeq;
    ++this.#selectSeq;
    this.#items = [];
    this.#matches = null;
    this.#search.value = "";
    this.editor.close();
    this.#list.replaceChildren();
    this.#summary.textContent = "";
    this.#screen.dataset.view = "list";
  }
}
