"""The crypto worker in Chromium: start-up (cold and warm), where the start-up time goes, batch sealing and opening
through the worker, 64 KiB throughput against libsodium.js and WebCrypto called directly in the same page, memory.

Runs the real relay (``vellum serve``) on the built web/ (``make web-assets``) plus the test wheel, and Debian's
``chromium``. Start-up is the app's own worker (app.js's); the record batches are protocol-level commands
(``account.create``, ``records.*``), which only a testing worker has (``/worker/crypto-worker.js?testing=1``: the same
worker script, which also installs the test wheel, tests/browser/helpers.py), started in the same page before the
clocks start.

- cold: a fresh browser context each run (empty HTTP cache, no service worker): navigation start -> worker ready;
- warm: reloads of a persistent profile whose service worker has precached the app;
- records: 10,000 records of 1 KiB in batches of 1,000 (one message, one bridge crossing per batch), measured from the
  page, so messaging and conversions are included; binary messages (Uint8Arrays) are the headline, JSON messages
  (base64url strings) are reported beside them;
- 64 KiB: the same through the worker, against libsodium.js called directly from JavaScript in the page (one AEAD per
  64 KiB, and the envelope's own work: BLAKE2b of the content plus the content and key AEADs), and one WebCrypto
  AES-256-GCM encryption per 64 KiB.

Medians over ``runs``. Numbers only: the budgets (ready <= 3.5 s cold, <= 2.5 s warm; >= 5,000 records/s each way;
64 KiB >= 0.7x direct libsodium.js) are compared in the report, never asserted.
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RECORDS = 10_000
RECORD_SIZE = 1024
BATCH = 1_000
BIG_SIZE = 64 * 1024
BIG_RECORDS = 160
BIG_BATCH = 40

_READY = """async () => {
  const app = await import("/app.js");
  await app.booted;
  const status = await app.worker.call("status");
  return { ready_ms: app.timing.readyAt, worker_created_ms: app.timing.workerCreatedAt, runtime: status.runtime,
           page_js_heap_bytes: performance.memory?.usedJSHeapSize ?? null };
}"""

# Everything below runs in the page. Payloads are made before the clocks start.
_THROUGHPUT = """async ({ records, recordSize, batch, bigSize, bigRecords, bigBatch, testingWorker }) => {
  const { CryptoWorker } = await import("/worker-client.js");
  window.__testingWorker ??= new CryptoWorker(testingWorker);
  const worker = window.__testingWorker;
  await worker.ready();  // its boot is not measured (start-up is the app worker's, _READY)
  const b64 = (bytes) => {
    let s = "";
    for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
    return btoa(s).replace(/\\+/g, "-").replace(/\\//g, "_").replace(/=+$/, "");
  };
  const random = (n) => {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i += 65536) crypto.getRandomValues(out.subarray(i, Math.min(n, i + 65536)));
    return out;
  };
  const chunks = (items, size) => Array.from({ length: Math.ceil(items.length / size) }, (_, i) =>
    items.slice(i * size, (i + 1) * size));
  const out = {};

  let t = performance.now();
  await worker.call("account.create", { passphrase: "benchmark passphrase" });
  out.account_create_ms = performance.now() - t;  // Argon2id (64 MiB, t=3) + a new bundle

  // binary: Uint8Arrays both ways; otherwise the JSON messages with base64url strings.
  async function roundTrip(count, size, batchSize, binary) {
    const plain = Array.from({ length: count }, () => {
      const payload = random(size);
      return { type: "note", payload: binary ? payload : b64(payload) };
    });
    const sealed = [];
    const options = { binary };
    let start = performance.now();
    for (const part of chunks(plain, batchSize)) {
      sealed.push(...(await worker.call("records.seal_batch", { records: part }, options)).records);
    }
    const sealMs = performance.now() - start;
    start = performance.now();
    let opened = 0;
    for (const part of chunks(sealed, batchSize)) {
      const answer = await worker.call("records.open_batch", { records: part }, options);
      for (const r of answer.records) opened += r.ok ? 1 : 0;
    }
    const openMs = performance.now() - start;
    if (opened !== count) throw new Error(`opened ${opened} of ${count}`);
    return { sealMs, openMs };
  }

  // Warm-up (JIT, wasm tiers, allocator), then the measured passes.
  await roundTrip(batch, recordSize, batch, true);
  await roundTrip(bigBatch, bigSize, bigBatch, true);
  await roundTrip(batch, recordSize, batch, false);
  for (const [name, count, size, batchSize, binary] of [
    ["1kib_json", records, recordSize, batch, false],
    ["1kib_binary", records, recordSize, batch, true],
    ["64kib_json", bigRecords, bigSize, bigBatch, false],
    ["64kib_binary", bigRecords, bigSize, bigBatch, true],
  ]) {
    const { sealMs, openMs } = await roundTrip(count, size, batchSize, binary);
    out[`seal_${name}_ms`] = sealMs;
    out[`open_${name}_ms`] = openMs;
  }

  // libsodium.js, directly, in this page: one AEAD per 64 KiB each way.
  const sodium = (await import("/vendor/libsodium/libsodium-wrappers.mjs")).default;
  await sodium.ready;
  const key = random(32);
  const messages = Array.from({ length: bigRecords }, () => random(bigSize));
  const nonces = messages.map(() => random(24));
  const aad = random(64);
  t = performance.now();
  const boxes = messages.map((m, i) => sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(m, aad, null, nonces[i], key));
  out.sodium_direct_encrypt_64kib_ms = performance.now() - t;
  t = performance.now();
  boxes.forEach((c, i) => sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(null, c, aad, nonces[i], key));
  out.sodium_direct_decrypt_64kib_ms = performance.now() - t;
  // The same work as the envelope, in JavaScript: BLAKE2b of the content, the content AEAD and the 32-byte key AEAD.
  const recordKey = random(32);
  t = performance.now();
  const envelopes = messages.map((m, i) => {
    const content = sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(m, aad, null, nonces[i], recordKey);
    const hash = sodium.crypto_generichash(32, content);
    return [content, sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(recordKey, hash, null, nonces[i], key), hash];
  });
  out.sodium_envelope_encrypt_64kib_ms = performance.now() - t;
  t = performance.now();
  envelopes.forEach(([content, wrapped, hash], i) => {
    sodium.crypto_generichash(32, content);
    const k = sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(null, wrapped, hash, nonces[i], key);
    sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(null, content, aad, nonces[i], k);
  });
  out.sodium_envelope_decrypt_64kib_ms = performance.now() - t;

  // WebCrypto AES-256-GCM, the same sizes.
  const gcmKey = await crypto.subtle.generateKey({ name: "AES-GCM", length: 256 }, false, ["encrypt", "decrypt"]);
  const ivs = messages.map(() => random(12));
  t = performance.now();
  const gcm = [];
  for (let i = 0; i < messages.length; i++) {
    gcm.push(await crypto.subtle.encrypt({ name: "AES-GCM", iv: ivs[i], additionalData: aad }, gcmKey, messages[i]));
  }
  out.webcrypto_encrypt_64kib_ms = performance.now() - t;
  t = performance.now();
  for (let i = 0; i < gcm.length; i++) {
    await crypto.subtle.decrypt({ name: "AES-GCM", iv: ivs[i], additionalData: aad }, gcmKey, gcm[i]);
  }
  out.webcrypto_decrypt_64kib_ms = performance.now() - t;
  return out;
}"""


@contextmanager
def _relay() -> Iterator[Any]:
    """The relay on web/ plus the test wheel (the testing worker's ``account.create`` and ``records.*``)."""
    from tests.backend.live import run_relay
    from tests.browser.helpers import make_web_root

    with tempfile.TemporaryDirectory(prefix="vellum-bench-") as tmp:
        web_root = make_web_root(Path(tmp) / "web")
        with run_relay(Path(tmp) / "relay", workers=2, extra_args=["--web-dir", str(web_root)]) as relay:
            yield relay


def _median(values: list[float]) -> float:
    return round(statistics.median(values), 1)


def _open_ready(page: Any, url: str) -> dict[str, Any]:
    page.goto(url)
    page.wait_for_selector("#status[data-state=ready]", timeout=120_000)
    ready: dict[str, Any] = page.evaluate(_READY)
    return ready


def _breakdown(samples: list[dict[str, Any]]) -> dict[str, float]:
    keys = samples[0]["runtime"]["timings_ms"].keys()
    return {key: _median([s["runtime"]["timings_ms"][key] for s in samples]) for key in keys}


def run(runs: int = 5) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    from tests.browser.helpers import CHROMIUM_ARGS, TESTING_WORKER

    chromium = shutil.which("chromium")
    if chromium is None:
        raise RuntimeError("Debian's chromium is not installed (apt-get install -y chromium)")
    if not (ROOT / "web" / "vendor" / "asset-manifest.json").is_file():
        raise RuntimeError("web/vendor is not built: run `make web-assets`")

    out: dict[str, Any] = {"runs": runs}
    with _relay() as relay, sync_playwright() as playwright, tempfile.TemporaryDirectory() as profile:
        url = relay.origin + "/"
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            cold = []
            for _ in range(runs):
                context = browser.new_context()
                cold.append(_open_ready(context.new_page(), url))
                context.close()
        finally:
            browser.close()

        context = playwright.chromium.launch_persistent_context(profile, executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = context.pages[0] if context.pages else context.new_page()
            _open_ready(page, url)
            page.wait_for_function("() => navigator.serviceWorker.controller !== null", timeout=120_000)
            _open_ready(page, url)  # one reload to settle the caches (HTTP, service worker, V8 code cache)
            warm = [_open_ready(page, url) for _ in range(runs)]
            throughput = [
                page.evaluate(
                    _THROUGHPUT,
                    {"records": RECORDS, "recordSize": RECORD_SIZE, "batch": BATCH, "bigSize": BIG_SIZE,
                     "bigRecords": BIG_RECORDS, "bigBatch": BIG_BATCH, "testingWorker": TESTING_WORKER},
                )
                for _ in range(max(1, runs // 2))
            ]
        finally:
            context.close()

    out["ready_cold_ms"] = _median([s["ready_ms"] for s in cold])
    out["ready_warm_ms"] = _median([s["ready_ms"] for s in warm])
    out["worker_boot_cold_ms"] = _breakdown(cold)
    out["worker_boot_warm_ms"] = _breakdown(warm)

    def rate(count: int, key: str) -> float:
        return round(count / (_median([t[key] for t in throughput]) / 1000))

    megabytes = BIG_RECORDS * BIG_SIZE / 1e6

    def mb_s(key: str) -> float:
        return round(megabytes / (_median([t[key] for t in throughput]) / 1000), 1)

    out["records"] = {"count": RECORDS, "size": RECORD_SIZE, "batch": BATCH}
    out["seal_1kib_records_per_s"] = rate(RECORDS, "seal_1kib_binary_ms")
    out["open_1kib_records_per_s"] = rate(RECORDS, "open_1kib_binary_ms")
    out["seal_1kib_records_per_s_json"] = rate(RECORDS, "seal_1kib_json_ms")
    out["open_1kib_records_per_s_json"] = rate(RECORDS, "open_1kib_json_ms")
    out["account_create_ms"] = _median([t["account_create_ms"] for t in throughput])
    big = {
        "worker_seal": mb_s("seal_64kib_binary_ms"),
        "worker_open": mb_s("open_64kib_binary_ms"),
        "worker_seal_json": mb_s("seal_64kib_json_ms"),
        "worker_open_json": mb_s("open_64kib_json_ms"),
        "libsodium_js_direct_encrypt": mb_s("sodium_direct_encrypt_64kib_ms"),
        "libsodium_js_direct_decrypt": mb_s("sodium_direct_decrypt_64kib_ms"),
        "libsodium_js_envelope_encrypt": mb_s("sodium_envelope_encrypt_64kib_ms"),
        "libsodium_js_envelope_decrypt": mb_s("sodium_envelope_decrypt_64kib_ms"),
        "webcrypto_aes_gcm_encrypt": mb_s("webcrypto_encrypt_64kib_ms"),
        "webcrypto_aes_gcm_decrypt": mb_s("webcrypto_decrypt_64kib_ms"),
    }
    big["worker_vs_direct_seal"] = round(big["worker_seal"] / big["libsodium_js_direct_encrypt"], 2)
    big["worker_vs_direct_open"] = round(big["worker_open"] / big["libsodium_js_direct_decrypt"], 2)
    big["worker_vs_envelope_seal"] = round(big["worker_seal"] / big["libsodium_js_envelope_encrypt"], 2)
    big["worker_vs_envelope_open"] = round(big["worker_open"] / big["libsodium_js_envelope_decrypt"], 2)
    out["mb_per_s_64kib"] = big
    started = warm[-1]  # right after a (warm) start-up, before any command ran
    out["memory_after_start"] = {**started["runtime"]["memory"], "page_js_heap_bytes": started["page_js_heap_bytes"]}
    out["budgets"] = {
        "ready_cold_le_3500_ms": out["ready_cold_ms"] <= 3500,
        "ready_warm_le_2500_ms": out["ready_warm_ms"] <= 2500,
        "records_ge_5000_per_s_each_way": min(out["seal_1kib_records_per_s"], out["open_1kib_records_per_s"]) >= 5000,
        "64kib_ge_0_7x_direct": min(big["worker_vs_direct_seal"], big["worker_vs_direct_open"]) >= 0.7,
    }
    return out


if __name__ == "__main__":
    import json
    import sys

    sys.path.insert(0, str(ROOT))
    print(json.dumps(run(), indent=2))
