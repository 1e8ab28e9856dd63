"""An in-memory stand-in for the relay's key and record rules, for rotation unit tests (CPython only).

It enforces what the real relay enforces for rotation: bundle compare-and-swap with the decrypt-free verifier, writes
only under the current write epoch, revision + 1 per write, key-only updates only for the current revision and write
epoch, wrapped keys kept per (revision, epoch). ``fail_after`` makes it raise mid-way, like a crash or a lost network.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from pycore import bundle
from pycore.envelope import SealedRecord
from pycore.errors import StaleBundle
from pycore.public import bundle_public
from pycore.rotation import Rotation


class Crash(Exception):
    pass


@dataclass
class MemoryRelay:
    account_id: bytes
    chain: list[bytes] = field(default_factory=list)
    records: dict[bytes, SealedRecord] = field(default_factory=dict)
    wrapped: dict[tuple[bytes, int, int], bytes] = field(default_factory=dict)
    revoked: set[bytes] = field(default_factory=set)
    fail_after: int | None = None
    calls: int = 0

    def _tick(self) -> None:
        self.calls += 1
        if self.fail_after is not None and self.calls > self.fail_after:
            raise Crash("the relay went away")

    @property
    def current(self) -> bundle_public.PublicBundle:
        return bundle_public.parse_bundle(self.chain[-1])

    @property
    def write_epoch(self) -> int:
        return self.current.header.write_epoch

    async def bundle_chain(self, since_version: int) -> list[bytes]:
        self._tick()
        return [b for b in self.chain if bundle_public.parse_bundle(b).version > since_version]

    async def publish_bundle(self, expected_version: int, encoded: bytes, rotation: Rotation | None) -> None:
        self._tick()
        current = self.current
        if current.version != expected_version:
            raise StaleBundle()
        new = bundle_public.parse_bundle(encoded)
        bundle_public.verify_successor(current, new, bundle.verify_signature, account_id=self.account_id)
        if rotation is not None and rotation.device_id is not None:
            self.revoked.add(rotation.device_id)
        self.chain.append(encoded)

    async def records_below_epoch(self, epoch: int, after: bytes | None, limit: int) -> list[SealedRecord]:
        self._tick()
        out = [r for rid, r in sorted(self.records.items()) if r.epoch < epoch and (after is None or rid > after)]
        return out[:limit]

    async def put_key_updates(self, updates: Sequence[SealedRecord]) -> list[bool]:
        self._tick()
        results = []
        for u in updates:
            cur = self.records.get(u.record_id)
            ok = cur is not None and cur.revision == u.revision and u.epoch == self.write_epoch
            if ok and cur is not None:
                self.wrapped[(u.record_id, u.revision, u.epoch)] = u.wrapped_key
                self.records[u.record_id] = SealedRecord(u.record_id, u.revision, u.epoch, u.wrapped_key, cur.content)
            results.append(ok)
        return results

    async def put_records(self, records: Sequence[tuple[int, SealedRecord]]) -> list[bool]:
        self._tick()
        if any(r.epoch != self.write_epoch for _, r in records):
            raise StaleBundle("stale_epoch")
        results = []
        for base, r in records:
            cur = self.records.get(r.record_id)
            current_rev = cur.revision if cur else 0
            ok = base == current_rev and r.revision == base + 1
            if ok:
                self.records[r.record_id] = r
                self.wrapped[(r.record_id, r.revision, r.epoch)] = r.wrapped_key
            results.append(ok)
        return results
