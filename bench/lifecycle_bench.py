"""Key lifecycle in CPython (``pycore.lifecycle`` over the in-memory relay double, so the numbers are local work only),
plus one passphrase change against a real ``vellum serve``:

- re-wrap rotation of 10,000 notes of ~1 KiB: the key-only re-wrap (open the content, unwrap, wrap under the new epoch)
  through ``finish_rotation`` (pages of 500, as a device runs it), and ``envelope.rewrap_records`` alone;
- revocation: the new version (new account key, epoch and identity key, every remaining slot re-sealed, keyring
  sealed) for an account with 7 factors, and what another device then does to adopt it; the optional re-encryption of
  the 10,000 notes;
- passphrase change: confirm the current passphrase + derive the new one + build and publish the version, compared with
  its budget of 2 x Argon2id + 200 ms (locally, and end to end over HTTP to a real relay).

Numbers only, no pass/fail. ``run()`` is what ``bench/run.py`` calls; ``python -m bench.lifecycle_bench`` runs it
alone and writes ``bench/results/lifecycle.json``.
"""

from __future__ import annotations

import asyncio
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from pycore import account, envelope, kdf, lifecycle, primitives, rotation  # noqa: E402
from pycore.account import Unlocked  # noqa: E402
from pycore.bundle import new_factor_spec, next_version, open_bundle  # noqa: E402
from pycore.client.client import Client  # noqa: E402
from pycore.envelope import PlainRecord, RecordType  # noqa: E402
from pycore.factors import BoxKeyPair  # noqa: E402
from pycore.public.bundle_public import DeviceMeta, FactorType, PasskeyMeta  # noqa: E402
from tests.backend.live import run_relay  # noqa: E402
from tests.support.memory import MemoryRelay, MemoryTransport  # noqa: E402

PASSPHRASE = "benchmark passphrase, not a secret"
NEW_PASSPHRASE = "another benchmark passphrase"
NOTES = 10_000
NOTE_BYTES = 1024
NOW = 1_800_000_000
T = TypeVar("T")


def _timed(fn: Callable[[], T]) -> tuple[float, T]:
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


async def _atimed(fn: Callable[[], Awaitable[T]]) -> tuple[float, T]:
    started = time.perf_counter()
    result = await fn()
    return time.perf_counter() - started, result


def _median(fn: Callable[[], Any], runs: int) -> float:
    return statistics.median(_timed(fn)[0] for _ in range(runs))


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


def _account() -> tuple[account.NewAccount, MemoryRelay, Unlocked]:
    new = account.create_account(PASSPHRASE, now=NOW)
    relay = MemoryRelay(
        new.unlocked.public.encoded, login_public=new.passphrase.login.public, recovery_public=new.recovery.login.public
    )
    slot = new.unlocked.public.passphrase.slot_id
    return new, relay, Unlocked(new.unlocked, slot, new.passphrase.box, new.passphrase)


def _seed(relay: MemoryRelay, unlocked: Unlocked) -> None:
    b = unlocked.bundle
    plain = [
        PlainRecord(
            envelope.new_record_id(), 1, envelope.NO_PREVIOUS, RecordType.NOTE, secrets.token_bytes(NOTE_BYTES)
        )
        for _ in range(NOTES)
    ]
    for sealed in envelope.seal_records(b.scope, b.write_key, plain):
        relay.serve(sealed)


def _with_factors(unlocked: Unlocked) -> Unlocked:
    """The account with 2 passkeys and 3 remembered devices besides the passphrase and the recovery phrase."""
    specs = []
    for i in range(2):
        box = BoxKeyPair.from_seed(primitives.randombytes(32))
        meta = PasskeyMeta(primitives.randombytes(32), primitives.randombytes(32), "localhost", f"passkey {i}")
        specs.append(new_factor_spec(FactorType.PASSKEY, box.public, meta))
    for i in range(3):
        box = BoxKeyPair.from_seed(primitives.randombytes(32))
        meta = DeviceMeta(primitives.randombytes(16), primitives.randombytes(32), f"device {i}")
        specs.append(new_factor_spec(FactorType.DEVICE, box.public, meta))
    bundle = next_version(unlocked.bundle, factors=[*unlocked.bundle.public.factors, *specs])
    return Unlocked(bundle, unlocked.slot_id, unlocked.box, unlocked.login)


async def _rewrap(relay: MemoryRelay, start: Unlocked) -> dict[str, Any]:
    transport = relay.transport()
    rotated = await lifecycle.rotate_keys(transport, start, now=NOW + 1)
    b = rotated.bundle
    page = [row.record for row in list(relay.rows.values())[:1000]]
    t_pure = _median(lambda: envelope.rewrap_records(b.scope, b.keyring.keys, b.write_key, page), 3) * NOTES / 1000
    seconds, (_, progress) = await _atimed(lambda: lifecycle.finish_rotation(transport, rotated, batch=500))
    return {
        "notes": NOTES,
        "note_bytes": NOTE_BYTES,
        "finish_rotation_s": round(seconds, 3),
        "finish_rotation_notes_per_s": round(progress.done / seconds),
        "rewrap_records_only_s": round(t_pure, 3),
        "rewrap_records_only_us_per_note": round(t_pure / NOTES * 1e6, 1),
        "rewrapped": progress.done,
    }


async def _revocation(relay: MemoryRelay, start: Unlocked) -> dict[str, Any]:
    many = _with_factors(start)
    device = next(f for f in many.bundle.public.factors if f.type == FactorType.DEVICE)
    assert isinstance(device.meta, DeviceMeta)
    revoke = rotation.Rotation(rotation.RotationKind.REVOKE_DEVICE, device_id=device.meta.device_id)
    t_plan = _median(lambda: rotation.plan(revoke, many.bundle, NOW), 20)
    candidate = rotation.plan(revoke, many.bundle, NOW)
    t_adopt = _median(lambda: open_bundle(candidate.public, start.slot_id, start.box), 20)

    # The re-encryption of every note under fresh record keys, after a revocation with "re-encrypt all notes".
    transport = relay.transport()
    revoked = await lifecycle.revoke_device(
        transport, start, lifecycle.Confirmation("login", start.slot_id, _login(start)), primitives.randombytes(16),
        now=NOW + 2, reencrypt=True,
    )
    seconds, (_, progress) = await _atimed(lambda: lifecycle.finish_rotation(transport, revoked, batch=500))
    return {
        "factors": len(many.bundle.public.factors),
        "new_version_ms": _ms(t_plan),
        "adopt_on_another_device_ms": _ms(t_adopt),
        "bundle_bytes": len(candidate.public.encoded),
        "reencrypt_all_s": round(seconds, 3),
        "reencrypt_notes_per_s": round(progress.done / seconds),
        "reencrypted": progress.done,
    }


def _login(unlocked: Unlocked) -> Any:
    assert unlocked.login is not None
    return unlocked.login


async def _passphrase_local(runs: int = 3) -> dict[str, Any]:
    """Medians over ``runs`` fresh accounts; Argon2id is timed in each run, next to the change, to share its noise."""
    argon, confirm, change, overhead = [], [], [], []
    for _ in range(runs):
        _, relay, unlocked = _account()
        transport: MemoryTransport = relay.transport()
        t0 = time.perf_counter()
        kdf.derive_root(PASSPHRASE, primitives.randombytes(16), kdf.DEFAULT_PARAMS)
        t1 = time.perf_counter()
        confirmation = lifecycle.confirm_passphrase(unlocked.bundle.public, PASSPHRASE)
        t2 = time.perf_counter()
        await lifecycle.change_passphrase(transport, unlocked, confirmation, NEW_PASSPHRASE)
        t3 = time.perf_counter()
        t_argon, t_confirm, t_change = t1 - t0, t2 - t1, t3 - t2
        argon.append(t_argon)
        confirm.append(t_confirm)
        change.append(t_change)
        overhead.append(t_confirm + t_change - 2 * t_argon)
    a = statistics.median(argon)
    return {
        "argon2id_ms": _ms(a),
        "confirm_current_ms": _ms(statistics.median(confirm)),
        "change_ms": _ms(statistics.median(change)),
        "total_ms": _ms(statistics.median([c + d for c, d in zip(confirm, change, strict=True)])),
        "beyond_2_argon2id_ms": _ms(statistics.median(overhead)),
        "budget_ms": _ms(2 * a + 0.2),
    }


async def _passphrase_live(base_url: str, origin: str) -> dict[str, Any]:
    """End to end over HTTP: fetch the chain and confirm the current passphrase, derive the new one, one stepped-up
    request (after fetching its challenge), adopt."""
    name = "bench-" + secrets.token_hex(4)
    client = await Client.register(base_url, name, PASSPHRASE, origin=origin, device_name="bench")
    await client.sync()
    t_argon, _ = _timed(lambda: kdf.derive_root(PASSPHRASE, primitives.randombytes(16), kdf.DEFAULT_PARAMS))
    seconds, _ = await _atimed(lambda: client.change_passphrase(NEW_PASSPHRASE, current_passphrase=PASSPHRASE))
    client.close()
    return {
        "argon2id_ms": _ms(t_argon),
        "total_ms": _ms(seconds),
        "beyond_2_argon2id_ms": _ms(seconds - 2 * t_argon),
        "budget_ms": _ms(2 * t_argon + 0.2),
        "requests": "GET /bundle, POST /step-up/challenge, POST /account/passphrase",
    }


async def _local() -> dict[str, Any]:
    _, relay, unlocked = _account()
    _seed(relay, unlocked)
    rewrap = await _rewrap(relay, unlocked)
    # A fresh relay for the revocation so its re-encryption sees all 10,000 notes below the new epoch.
    _, relay2, unlocked2 = _account()
    _seed(relay2, unlocked2)
    revocation = await _revocation(relay2, unlocked2)
    return {"rewrap_rotation": rewrap, "revocation": revocation, "passphrase_change": await _passphrase_local()}


def run() -> dict[str, Any]:
    out: dict[str, Any] = {"backend": primitives.backend_name(), **asyncio.run(_local())}
    with tempfile.TemporaryDirectory(prefix="vellum-lifecycle-bench-") as tmp, run_relay(Path(tmp) / "relay") as relay:
        out["passphrase_change_live"] = asyncio.run(_passphrase_live(relay.base_url, relay.origin))
    return out


def main() -> int:
    from bench.run import write_result

    write_result("lifecycle", run())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
