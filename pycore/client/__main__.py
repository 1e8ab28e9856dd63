"""``python -m pycore.client``: a small command-line Vellum client (one data directory per device).

    python -m pycore.client --data DIR register --relay URL [--origin URL] --username NAME [--device NAME]
    python -m pycore.client --data DIR login    --relay URL [--origin URL] --username NAME [--device NAME]
    python -m pycore.client --data DIR list | show ID | new TITLE | edit ID [--title T] | delete ID | sync

The passphrase is read from ``VELLUM_PASSPHRASE`` or asked for; note bodies are read from standard input.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys
from pathlib import Path

from pycore.client.client import Client
from pycore.codec import b64d, b64e
from pycore.errors import VellumError


def _passphrase(confirm: bool = False) -> str:
    value = os.environ.get("VELLUM_PASSPHRASE")
    if value:
        return value
    first = getpass.getpass("Passphrase: ")
    if confirm and getpass.getpass("Passphrase again: ") != first:
        raise SystemExit("The passphrases do not match.")
    return first


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
    return parser


async def _main(args: argparse.Namespace) -> int:
    data = Path(args.data)
    if args.command == "register":
        client = await Client.register(
            args.relay, args.username, _passphrase(confirm=True), origin=args.origin, device_name=args.device,
            data_dir=data,
        )
        print("Account created. Write down your recovery phrase and keep it safe:")
        print(" ".join(client.recovery_phrase or []))
    elif args.command == "login":
        client = await Client.login(
            args.relay, args.username, _passphrase(), origin=args.origin, device_name=args.device, data_dir=data
        )
        report = await client.sync()
        print(f"Logged in; {report.pulled} changes pulled.")
    else:
        client = await Client.open(data, _passphrase())
    try:
        if args.command == "list":
            for view in sorted(await client.notes(), key=lambda v: -v.note.updated_at):
                flag = " *" if view.pending else ""
                print(f"{b64e(view.record_id)}  {view.note.title}{flag}")
        elif args.command == "show":
            found = await client.note(b64d(args.id, size=16))
            if found is None:
                raise SystemExit("No such note.")
            print(found.note.title)
            print()
            print(found.note.body)
        elif args.command == "new":
            rid = await client.save_note(args.title, sys.stdin.read())
            print(b64e(rid))
        elif args.command == "edit":
            rid = b64d(args.id, size=16)
            current = await client.note(rid)
            if current is None:
                raise SystemExit("No such note.")
            await client.save_note(args.title or current.note.title, sys.stdin.read(), rid)
        elif args.command == "delete":
            await client.delete(b64d(args.id, size=16))
        elif args.command == "sync":
            report = await client.sync()
            print(
                f"pulled {report.pulled}, pushed {report.pushed}, merged {report.merged}, "
                f"conflicted copies {len(report.conflicted_copies)}, quarantined {len(report.quarantined)}"
            )
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
