"""The relay against the real client-side protocol (``pycore.account``): a v1 bundle made by pycore registers, prelogin
gives back the salt that re-derives the same login key, and that key logs a new device in."""

from __future__ import annotations

import nacl.signing

from pycore.public.codec import b64d
from tests.backend.helpers import Account, Device, RelayClient

PASSPHRASE = "correct horse battery staple"


def test_pycore_account_registers_and_logs_in(relay: RelayClient, clock) -> None:
    from pycore import account as pa
    from pycore import factors, kdf

    new = pa.create_account(PASSPHRASE, now=int(clock()))
    public = new.unlocked.public
    acc = Account(
        account_id=public.account_id,
        login_key=nacl.signing.SigningKey(new.passphrase.login.seed),
        recovery_key=nacl.signing.SigningKey(new.recovery.login.seed),
        identity=nacl.signing.SigningKey(new.unlocked.identity.seed),
        factors=list(public.factors),
        write_epoch=public.header.write_epoch,
        chain=[public.encoded],
    )
    r = relay.register(acc)
    assert r.status == 201, r
    assert r.json["write_epoch"] == public.header.write_epoch
    pre = relay.call("POST", "/api/v1/prelogin", {"username": acc.username}).json
    assert b64d(pre["account_id"]) == public.account_id
    params = kdf.Argon2idParams(pre["kdf"]["opslimit"], pre["kdf"]["memlimit_kib"])
    keys = factors.passphrase_keys(PASSPHRASE, b64d(pre["kdf"]["salt"]), params)
    assert keys.login.public == new.passphrase.login.public
    assert relay.login(acc, Device(), key=nacl.signing.SigningKey(keys.login.seed)).status == 200
    assert relay.login(acc, Device(), action="recovery_login").status == 200
    # a routine version made by the helpers on top of pycore's v1 is accepted (same format both sides)
    assert relay.put_bundle(acc, acc.next_bundle(write_epoch=public.header.write_epoch + 1)).status == 200
