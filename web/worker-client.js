// The page's side of the crypto worker: start it, send commands, match answers by id.
//
// The relay's CSP says `require-trusted-types-for 'script'; trusted-types vellum-worker`: script URLs handed to
// `new Worker()` or `serviceWorker.register()` must be TrustedScriptURLs, and this module owns the one policy allowed
// to make them. It accepts same-origin script paths and nothing else, so an injected string can never pick the code
// that runs next to the keys.

const POLICY_NAME = "vellum-worker";
const SCRIPT_PATH = /^\/[A-Za-z0-9._\-/]+\.m?js$/;

function sameOriginScript(url) {
  const parsed = new URL(url, self.location.origin);
  if (parsed.origin !== self.location.origin || !SCRIPT_PATH.test(parsed.pathname) || parsed.pathname.includes("..")) {
    throw new TypeError(`refusing script URL ${url}`);
  }
  return parsed.href;
}

// Browsers without Trusted Types (and pages without the CSP) take the checked string as it is.
const policy = globalThis.trustedTypes?.createPolicy
  ? globalThis.trustedTypes.createPolicy(POLICY_NAME, { createScriptURL: sameOriginScript })
  : { createScriptURL: sameOriginScript };

export function trustedScriptURL(url) {
  return policy.createScriptURL(url);
}

export class WorkerError extends Error {
  // details: machine-readable parts of some errors (say, a recovery phrase's unknown word: {position, suggestions})
  constructor(code, message, details = null) {
    super(message);
    this.name = "WorkerError";
    this.code = code;
    this.details = details;
  }
}

export class CryptoWorker {
  #worker;
  #pending = new Map();
  #nextId = 1;
  #failed = null;

  constructor(url = "/worker/crypto-worker.js") {
    this.url = url;
    this.#worker = new Worker(trustedScriptURL(url), { type: "module", name: "vellum-crypto" });
    this.#worker.addEventListener("message", (event) => this.#settle(event.data));
    // A script that fails to load or evaluate (offline without a cache, a syntax error): fail every call.
    this.#worker.addEventListener("error", (event) => {
      event.preventDefault();
      this.#fail(new WorkerError("worker_unavailable", `The crypto worker could not start: ${event.message ?? "error"}`));
    });
    this.#worker.addEventListener("messageerror", () => {
      this.#fail(new WorkerError("internal_error", "The crypto worker sent a message that could not be read."));
    });
  }

  // Resolves with the command's result, or rejects with a WorkerError carrying pycore's error code. Bytes travel as
  // base64url strings; with {binary: true} they travel as Uint8Arrays both ways (for bulk records).
  call(cmd, args = {}, { binary = false } = {}) {
    if (this.#failed) return Promise.reject(this.#failed);
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      try {
        this.#worker.postMessage(binary ? { id, cmd, args, binary: true } : { id, cmd, args });
      } catch (err) {
        this.#pending.delete(id);
        reject(new WorkerError("bad_request", `The arguments cannot be sent to the worker: ${err.message}`));
      }
    });
  }

  // Resolves once Pyodide, pycore and libsodium.js are loaded (the first command waits for the boot anyway).
  ready() {
    return this.call("ping");
  }

  terminate() {
    this.#worker.terminate();
    this.#fail(new WorkerError("worker_unavailable", "The crypto worker was stopped."));
  }

  // Locking: terminating the worker is the only real wipe of Python's memory (keys, opened notes, search cache).
  // A fresh worker starts at once, so the unlock screen is ready as soon as it is shown.
  replace() {
    this.terminate();
    return new CryptoWorker(this.url);
  }

  #settle(reply) {
    const entry = this.#pending.get(reply?.id);
    if (!entry) return;
    this.#pending.delete(reply.id);
    if (reply.ok) entry.resolve(reply.result);
    else {
      const { code = "internal_error", message = "failed", details = null } = reply.error ?? {};
      entry.reject(new WorkerError(code, message, details));
    }
  }

  #fail(error) {
    this.#failed ??= error;
    for (const { reject } of this.#pending.values()) reject(error);
    this.#pending.clear();
  }
}
