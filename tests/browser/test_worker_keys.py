"""The worker's key-lifecycle commands (docs/worker-api.md, "Key lifecycle") in real Chromium against the real relay:
a passphrase changed on one profile unlocks another, recovery on a fresh profile with every note checked, a revoked
profile refused at once (and the older notes re-encrypted in the background, page by page), and a passkey added and
used to unlock with a CDP virtual authenticator (WebAuthn with the PRF extension, on http://localhost).

As in test_worker_app.py, each page runs its own crypto worker with the UI's script stubbed out. The WebAuthn calls are
the page's (``navigator.credentials``); only the 32-byte PRF output and public metadata reach the worker.
"""

from __future__ import annotations

import secrets

from playwright.sync_api import Browser

from pycore.public.codec import b64d as b64decode_url
from tests.backend.live import LiveRelay
from tests.browser.test_worker_app import AppWorker, _context, _titles

PASSPHRASE = "a long enough browser passphrase"
NEW_PASSPHRASE = "the second browser passphrase"
RECOVERED_PASSPHRASE = "chosen after recovery 5a1"

_FRESH_WORKER = """async () => {
  const { CryptoWorker } = await import("/worker-client.js");
  window.__appWorker.terminate();
  window.__appWorker = new CryptoWorker("/worker/crypto-worker.js");
  await window.__appWorker.ready();
  return true;
}"""

_B64 = """
const b64u = (buf) => btoa(String.fromCharCode(...new Uint8Array(buf)))
  .replace(/\\+/g, "-").replace(/\\//g, "_").replace(/=+$/, "");
const unb64u = (s) => Uint8Array.from(
  atob(s.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (s.length % 4)) % 4)), (c) => c.charCodeAt(0));
"""

# The page's part of "Add a passkey": a credential with the PRF extension, evaluated for a fresh salt at creation.
_CREATE_PASSKEY = (
    "async ({ username }) => {"
    + _B64
    + """
  const salt = crypto.getRandomValues(new Uint8Array(32));
  const credential = await navigator.credentials.create({ publicKey: {
    rp: { name: "Vellum", id: location.hostname },
    user: { id: crypto.getRandomValues(new Uint8Array(16)), name: username, displayName: username },
    challenge: crypto.getRandomValues(new Uint8Array(32)),
    pubKeyCredParams: [{ type: "public-key", alg: -7 }, { type: "public-key", alg: -8 }],
    authenticatorSelection: { residentKey: "required", userVerification: "required" },
    extensions: { prf: { eval: { first: salt } } },
  } });
  const prf = credential.getClientExtensionResults().prf ?? {};
  return { credential_id: b64u(credential.rawId), prf_salt: b64u(salt), enabled: prf.enabled ?? null,
           prf_output: prf.results?.first ? b64u(prf.results.first) : null, rp_id: location.hostname };
}"""
)

# The page's part of "Unlock with passkey": the options come from app.passkey_options (public metadata only).
_GET_PASSKEY = (
    "async ({ credential_id, prf_salt, rp_id }) => {"
    + _B64
    + """
  const assertion = await navigator.credentials.get({ publicKey: {
    challenge: crypto.getRandomValues(new Uint8Array(32)),
    rpId: rp_id,
    allowCredentials: [{ type: "public-key", id: unb64u(credential_id) }],
    userVerification: "required",
    extensions: { prf: { eval: { first: unb64u(prf_salt) } } },
  } });
  const first = assertion.getClientExtensionResults().prf?.results?.first;
  return first ? b64u(first) : null;
}"""
)


def _bodies(worker: AppWorker) -> dict[str, str]:
    return {n["title"]: worker.ok("notes.get", {"id": n["id"]})["body"] for n in worker.ok("notes.list")["notes"]}


def _seed(worker: AppWorker, count: int) -> dict[str, str]:
    expected = {f"Note {i:02d}": f"body {i} {secrets.token_hex(6)}\nsecond line" for i in range(count)}
    for title, body in expected.items():
        worker.ok("notes.save", {"title": title, "body": body})
    status = worker.ok("sync.now")
    assert (status["pending_count"], status["last_error"]) == (0, None), status
    return expected


def _this_device(worker: AppWorker) -> str:
    return str(next(d["id"] for d in worker.ok("devices.list")["devices"] if d["this_device"]))


def test_change_passphrase_unlock_elsewhere_then_revoke_that_profile(browser: Browser, relay: LiveRelay) -> None:
    username = "keys-" + secrets.token_hex(4)
    laptop = AppWorker(_context(browser), relay.origin)
    laptop.ok("app.register", {"username": username, "passphrase": PASSPHRASE, "device_name": "Laptop"})
    expected = _seed(laptop, 5)
    phone = AppWorker(_context(browser), relay.origin)
    phone.ok("app.sign_in", {"username": username, "passphrase": PASSPHRASE, "device_name": "Phone",
                             "remember": False})
    phone_id = _this_device(phone)
    phone.ok("app.lock")

    # --- the passphrase changes on the laptop; the locked phone unlocks with the new one --------------------------
    assert laptop.code("keys.change_passphrase", {"current": "not the passphrase", "new": NEW_PASSPHRASE}) == (
        "wrong_passphrase"
    )
    changed = laptop.ok("keys.change_passphrase", {"current": PASSPHRASE, "new": NEW_PASSPHRASE})
    assert changed["ok"] is True and changed["rotated"] is False
    unlocked = phone.ok("app.unlock", {"passphrase": NEW_PASSPHRASE, "remember": False})
    assert sorted(_titles(unlocked["notes"])) == sorted(expected)
    assert _bodies(phone) == expected
    phone.ok("app.lock")
    assert phone.code("app.unlock", {"passphrase": PASSPHRASE, "remember": False}) == "wrong_passphrase"
    phone.ok("app.unlock", {"passphrase": NEW_PASSPHRASE, "remember": False})

    # --- the laptop revokes the phone, re-encrypting the older notes in the background ----------------------------
    revoked = laptop.ok("keys.revoke_device", {"passphrase": NEW_PASSPHRASE, "device_id": phone_id,
                                                "reencrypt": True})
    assert revoked["ok"] is True and revoked["pending"] is True and revoked["fingerprint"] != changed["fingerprint"]
    status = phone.ok("sync.now")
    assert status["last_error"]["code"] == "device_revoked", status
    steps = []
    for _ in range(20):
        steps.append(laptop.ok("keys.rotation_continue", {"batch": 2}))
        if steps[-1]["finished"]:
            break
    assert [s["done"] for s in steps] == [2, 4, 5, 5] and steps[-1]["pending"] is False, steps
    laptop.ok("notes.save", {"title": "After the revocation", "body": "the phone never sees this"})
    assert laptop.ok("sync.now")["last_error"] is None
    assert _bodies(laptop) == {**expected, "After the revocation": "the phone never sees this"}
    assert phone.ok("sync.now")["last_error"]["code"] == "device_revoked"
    assert "After the revocation" not in _titles(phone.ok("notes.list")["notes"])
    assert [d["revoked"] for d in laptop.ok("devices.list")["devices"] if d["id"] == phone_id] == [True]
    laptop.csp_clean()
    phone.csp_clean()
    phone.context.close()
    laptop.context.close()


def test_recovery_on_a_fresh_profile_reads_every_note(browser: Browser, relay: LiveRelay) -> None:
    username = "recover-" + secrets.token_hex(4)
    laptop = AppWorker(_context(browser), relay.origin)
    joined = laptop.ok("app.register", {"username": username, "passphrase": PASSPHRASE, "device_name": "Laptop"})
    words = joined["recovery_words"]
    expected = _seed(laptop, 12)
    laptop.context.close()  # the passphrase is forgotten; only the printed kit is left

    fresh = AppWorker(_context(browser), relay.origin)
    typo = list(words)
    typo[10] = typo[10] + "q"
    swapped = list(words)
    swapped[3], swapped[4] = swapped[4], swapped[3]
    with fresh.offline():  # mistakes are caught before any request
        reply = fresh.call("app.recover_start", {"username": username, "words": typo})
        assert reply["error"]["code"] == "unknown_word" and "Word 11" in reply["error"]["message"], reply
        if swapped != words:
            assert fresh.code("app.recover_start", {"username": username, "words": swapped}) == "bad_checksum"
        assert fresh.code("app.recover_start", {"username": username, "words": words[:12]}) == "wrong_word_count"
    assert fresh.aborted == []

    started = fresh.ok("app.recover_start", {"username": username, "phrase": " ".join(words),
                                            "device_name": "New laptop"})
    assert started == {"username": username, "fingerprint": joined["fingerprint"], "needs_new_passphrase": True}
    finished = fresh.ok("app.recover_finish", {"new_passphrase": RECOVERED_PASSPHRASE, "remember": False})
    assert sorted(_titles(finished["notes"])) == sorted(expected)
    assert finished["sync"]["last_error"] is None
    assert _bodies(fresh) == expected, "every note readable"
    fresh.ok("app.lock")
    assert fresh.code("app.unlock", {"passphrase": PASSPHRASE, "remember": False}) == "wrong_passphrase"
    assert len(fresh.ok("app.unlock", {"passphrase": RECOVERED_PASSPHRASE, "remember": False})["notes"]) == 12
    for secret in (RECOVERED_PASSPHRASE, " ".join(words), *expected.values()):
        assert secret.encode() not in fresh.stored_bytes(), secret
    fresh.csp_clean()
    fresh.context.close()


def test_passkey_added_then_unlocks_with_a_virtual_authenticator(browser: Browser, relay: LiveRelay) -> None:
    username = "passkey-" + secrets.token_hex(4)
    laptop = AppWorker(_context(browser), relay.origin)
    assert relay.origin.startswith("http://localhost:"), "WebAuthn needs localhost"
    cdp = laptop.context.new_cdp_session(laptop.page)
    cdp.send("WebAuthn.enable")
    cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "ctap2Version": "ctap2_1",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "hasPrf": True,
                "automaticPresenceSimulation": True,
            }
        },
    )
    laptop.ok("app.register", {"username": username, "passphrase": PASSPHRASE, "device_name": "Laptop"})
    expected = _seed(laptop, 3)

    created = laptop.page.evaluate(_CREATE_PASSKEY, {"username": username})
    assert created["prf_output"] is not None, created
    add = {k: created[k] for k in ("credential_id", "prf_salt", "prf_output", "rp_id")}
    slot = laptop.ok("keys.add_passkey", {**add, "passphrase": PASSPHRASE, "name": "Virtual key"})["slot_id"]
    listed = laptop.ok("keys.passkeys")["passkeys"]
    assert [(p["slot_id"], p["name"], p["rp_id"]) for p in listed] == [(slot, "Virtual key", "localhost")]
    assert laptop.ok("sync.now")["last_error"] is None

    # Locked (a fresh worker, as after "Lock"): the unlock screen offers the passkey and it unlocks.
    laptop.page.evaluate(_FRESH_WORKER)
    assert laptop.ok("app.status")["state"] == "locked"
    options = laptop.ok("app.passkey_options", {"username": username})["passkeys"]
    assert [(o["slot_id"], o["credential_id"]) for o in options] == [(slot, created["credential_id"])]
    prf = laptop.page.evaluate(_GET_PASSKEY, options[0])
    assert prf == created["prf_output"], "the same PRF output for the same salt"
    wrong = created["prf_output"][:-2] + ("AA" if not created["prf_output"].endswith("AA") else "BA")
    assert laptop.code("app.unlock_passkey", {"slot_id": slot, "prf_output": wrong}) == "decryption_failed"
    with laptop.offline():
        unlocked = laptop.ok("app.unlock_passkey", {"slot_id": slot, "prf_output": prf})
    assert sorted(_titles(unlocked["notes"])) == sorted(expected)
    assert _bodies(laptop) == expected
    stored = laptop.stored_bytes()
    assert b64decode_url(created["prf_output"]) not in stored and created["prf_output"].encode() not in stored

    # Removed: it unlocks nothing any more.
    assert laptop.ok("keys.remove_passkey", {"passphrase": PASSPHRASE, "slot_id": slot}) == {"ok": True}
    laptop.page.evaluate(_FRESH_WORKER)
    assert laptop.ok("app.passkey_options")["passkeys"] == []
    assert laptop.code("app.unlock_passkey", {"slot_id": slot, "prf_output": prf}) == "not_found"
    laptop.csp_clean()
    laptop.context.close()
