"""``python -m pycore.client``: a small command-line Vellum client (one data directory per device).

    python -m pycore.client --data DIR register --relay URL [--origin URL] --username NAME [--device NAME]
    python -m pycore.client --data DIR login    --relay URL [--origin URL] --username NAME [--device NAME] [--recovery]
    python -m pycore.client --data DIR list | show ID | new TITLE | edit ID [--title T] | delete ID | sync
    python -m pycore.client --data DIR passphrase [--may-be-known] | recovery-kit | remember on|off
    python -m pycore.client --data DIR devices | revoke DEVICE_ID [--reencrypt] | rotate [--no-rewrap] | finish-rotation

The passphrase is read from ``VELLUM_PASSPHRASE`` or asked for (a new one from ``VELLUM_NEW_PASSPHRASE``), the recovery
phrase from ``VELLUM_RECOVERY_PHRASE``; note bodies are read from standard input. ``login --recovery`` is the forgotten
passphrase: it logs in with the recovery phrase and asks for a new passphrase at once. A remembered device opens
without a passphrase (press Enter at the prompt).
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys
from pathlib import Path

from pycore.bundle import fingerprint
from pycore.client.client import Client
from pycore.errors import VellumError
from pycore.public import limits
from pycore.public.codec import b64d, b64e


def _passphrase(confirm: bool = False) -> str:
    value = os.environ.get("VELLUM_PASSPHRASE")
    if value:
        return value
    first = getpass.getpass("Passphrase: ")
    if confirm and getpass.getpass("Passphrase again: ") != first:
        raise SystemExit("The passphrases do not match.")
    return first


def _new_passphrase() -> str:
    value = os.environ.get("VELLUM_NEW_PASSPHRASE")
    if value:
        return value
    first = getpass.getpass("New passphrase: ")
    if getpass.getpass("New passphrase again: ") != first:
        raise SystemExit("The passphrases do not match.")
    return first


def _recovery_phrase() -> str:
    return os.environ.get("VELLUM_RECOVERY_PHRASE") or getpass.getpass("Recovery phrase (24 words): ")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pycore.client", description="Vellum command-line client.")
    parser.add_argument("--data", required=True, help="this device's data directory")
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("register", "login"):
        p = commands.add_parser(name)
        p.add_argument("--relay", required=True, help="the relay's base URL")
        p.add_argument("--origin", help="the relay's public origin (default: the base URL)")
        p.add_argument("--username", required=True)
        p.add_argument("--device", default="Vellum CLI", help="a name for this device")
        if name == "login":
            p.add_argument("--recovery", action="store_true", help="forgot the passphrase: use the recovery phrase")
    commands.add_parser("list")
    commands.add_parser("sync")
    show = commands.add_parser("show")
    show.add_argument("id")
    new = commands.add_parser("new")
    new.add_argument("title")
    edit = commands.add_parser("edit")
    edit.add_argument("id")
    edit.add_argument("--title")
    delete = commands.add_parser("delete")
    delete.add_argument("id")
    passphrase = commands.add_parser("passphrase", help="change the passphrase")
    passphrase.add_argument("--may-be-known", action="store_true", help="also rotate the account and identity keys")
    commands.add_parser("recovery-kit", help="a new recovery phrase (the old one stops working)")
    remember = commands.add_parser("remember", help='"remember this device" on or off')
    remember.add_argument("state", choices=["on", "off"])
    commands.add_parser("devices")
    revoke = commands.add_parser("revoke", help="revoke another device")
    revoke.add_argument("device_id")
    revoke.add_argument("--reencrypt", action="store_true", help="also re-encrypt every note now")
    rotate = commands.add_parser("rotate", help="a routine key rotation")
    rotate.add_argument("--no-rewrap", action="store_true", help="leave older notes under their old keys")
    commands.add_parser("finish-rotation", help="finish (or resume) a re-wrap or re-encryption")
    return parser


async def _main(args: argparse.Namespace) -> int:
    data = Path(args.data)
    typed = ""  # the passphrase typed to open this device: lifecycle commands confirm with it
    if args.command == "register":
        client = await Client.register(
            args.relay, args.username, _passphrase(confirm=True), origin=args.origin, device_name=args.device,
            data_dir=data,
        )
        print("Account created. Write down your recovery phrase and keep it safe:")
        print(" ".join(client.recovery_phrase or []))
    elif args.command == "login" and args.recovery:
        words = _recovery_phrase()
        client = await Client.login(
            args.relay, args.username, recovery_phrase=words, origin=args.origin, device_name=args.device,
            data_dir=data,
        )
        await client.change_passphrase(_new_passphrase(), recovery_phrase=words)
        report = await client.sync()
        print(f"Recovered with a new passphrase; {report.pulled} changes pulled.")
    elif args.command == "login":
        client = await Client.login(
            args.relay, args.username, _passphrase(), origin=args.origin, device_name=args.device, data_dir=data
        )
        report = await client.sync()
        print(f"Logged in; {report.pulled} changes pulled.")
    else:
        typed = _passphrase()
        client = await Client.open(data, typed or None)
    try:
        if args.command == "list":
            for view in sorted(await client.notes(), key=lambda v: -v.note.updated_at):
                flag = " *" if view.pending else ""
                print(f"{b64e(view.record_id)}  {view.note.title}{flag}")
        elif args.command == "show":
            found = await client.note(b64d(args.id, size=limits.RECORD_ID_SIZE))
            if found is None:
                raise SystemExit("No such note.")
            print(found.note.title)
            print()
            print(found.note.body)
        elif args.command == "new":
            rid = await client.save_note(args.title, sys.stdin.read())
            print(b64e(rid))
        elif args.command == "edit":
            rid = b64d(args.id, size=limits.RECORD_ID_SIZE)
            current = await client.note(rid)
            if current is None:
                raise SystemExit("No such note.")
            await client.save_note(args.title or current.note.title, sys.stdin.read(), rid)
        elif args.command == "delete":
            await client.delete(b64d(args.id, size=limits.RECORD_ID_SIZE))
        elif args.command == "sync":
            report = await client.sync()
            print(
                f"pulled {report.pulled}, pushed {report.pushed}, merged {report.merged}, "
                f"conflicted copies {len(report.conflicted_copies)}, quarantined {len(report.quarantined)}"
            )
            if client.bundle_warning is not None:
                print(f"warning: {client.bundle_warning.message} ({client.bundle_warning.code})", file=sys.stderr)
        elif args.command == "passphrase":
            await client.change_passphrase(
                _new_passphrase(), current_passphrase=typed, passphrase_may_be_known=args.may_be_known
            )
            print("Passphrase changed.")
        elif args.command == "recovery-kit":
            new_words = await client.new_recovery_kit(current_passphrase=typed)
            print("Your new recovery phrase (the old one no longer works):")
            print(" ".join(new_words))
            print(f"Account fingerprint: {fingerprint(client.public_bundle.header.identity_public)}")
        elif args.command == "remember":
            await client.remember_device(args.state == "on", current_passphrase=typed)
            print(f"Remember this device: {args.state}.")
        elif args.command == "devices":
            for d in await client.devices():
                state = "revoked" if d["revoked_at"] is not None else ("this device" if d["current"] else "active")
                print(f"{d['id']}  {d['name']}  ({state})")
        elif args.command == "revoke":
            progress = await client.revoke_device(
                b64d(args.device_id, size=limits.DEVICE_ID_SIZE), current_passphrase=typed, reencrypt=args.reencrypt
            )
            done = f"; {progress.done} notes re-encrypted" if progress is not None else ""
            print(f"Device revoked; new account keys{done}.")
        elif args.command == "rotate":
            if await client.rotate_keys(rewrap=not args.no_rewrap):
                print("New keys in use; run finish-rotation to re-wrap older notes.")
            else:
                print("Offline: the rotation will be published at the next sync.")
        elif args.command == "finish-rotation":
            finished = await client.finish_rotation()
            print(f"{finished.done} notes updated, {finished.superseded} edited meanwhile, {finished.failed} failed.")
    finally:
        client.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return asyncio.run(_main(args))
    except VellumError as exc:
        print(f"vellum: {exc.message} ({exc.code})", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
