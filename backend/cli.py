"""``vellum serve``: run the relay (and the PWA's files) under gunicorn.

    vellum serve [--bind 127.0.0.1:8000] [--workers 2] [--data-dir DIR | --database-url URL]
                 [--public-origin URL] [--app-origin URL ...] [--api-origin URL]
                 [--certfile FILE --keyfile FILE] [--web-dir DIR] [--trusted-proxies N]

The access log holds method, path (no query string), status, size and duration: never headers or bodies.
"""

from __future__ import annotations

import argparse
import ipaddress
import sys
from pathlib import Path
from typing import Any

ACCESS_LOG_FORMAT = '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms'


def _split_bind(bind: str) -> tuple[str, int]:
    host, sep, port = bind.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise SystemExit(f"vellum: --bind must be HOST:PORT, got {bind!r}")
    return host.strip("[]") or "0.0.0.0", int(port)  # noqa: S104 (an empty host means all interfaces, as gunicorn reads it)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vellum", description="Vellum: end-to-end-encrypted notebook relay.")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the relay and serve the PWA under gunicorn")
    serve.add_argument("--bind", default="127.0.0.1:8000", help="HOST:PORT to listen on (default 127.0.0.1:8000)")
    serve.add_argument("--workers", type=int, default=2, help="gunicorn worker processes (default 2)")
    where = serve.add_mutually_exclusive_group()
    where.add_argument("--data-dir", help="directory for the SQLite database (default: ./instance)")
    where.add_argument("--database-url", help="SQLAlchemy database URL (e.g. postgresql://...)")
    serve.add_argument("--public-origin", help="the origin clients sign (default: derived from --bind)")
    serve.add_argument("--api-origin", help="API origin for the PWA's CSP connect-src (default: public origin)")
    serve.add_argument(
        "--app-origin",
        action="append",
        default=[],
        metavar="URL",
        help="origin of a separately hosted app allowed to call the API (CORS); repeatable",
    )
    serve.add_argument("--certfile", help="TLS certificate (PEM)")
    serve.add_argument("--keyfile", help="TLS private key (PEM)")
    serve.add_argument("--web-dir", help="directory of the PWA's files (default: web/ of this checkout)")
    serve.add_argument("--service-worker", help="service worker file served at /sw.js")
    serve.add_argument("--trusted-proxies", type=int, default=0, help="reverse proxies to trust for X-Forwarded-*")
    serve.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    serve.add_argument("--no-rate-limits", action="store_true", help="disable rate limits (tests only)")
    return parser


def app_config(args: argparse.Namespace) -> dict[str, Any]:
    host, port = _split_bind(args.bind)
    tls = bool(args.certfile)
    if bool(args.certfile) != bool(args.keyfile):
        raise SystemExit("vellum: --certfile and --keyfile go together")
    if args.workers < 1:
        raise SystemExit("vellum: --workers must be at least 1")
    loopback = is_loopback(host)
    if not loopback and not tls:
        print(
            f"vellum: WARNING: listening on {host} without TLS. Browsers treat plain http beyond localhost as "
            "insecure and the network can read and alter traffic; use --certfile/--keyfile or a TLS proxy.",
            file=sys.stderr,
        )
    public_origin = args.public_origin
    if public_origin is None:
        scheme = "https" if tls else "http"
        name = "localhost" if loopback else host
        public_origin = f"{scheme}://{name}:{port}"
        if not loopback:
            print(
                f"vellum: WARNING: no --public-origin given; clients must sign for {public_origin}.",
                file=sys.stderr,
            )
    config: dict[str, Any] = {
        "PUBLIC_ORIGIN": public_origin,
        "APP_ORIGINS": list(args.app_origin),
        "TRUSTED_PROXIES": args.trusted_proxies,
        "RATE_LIMITS_ENABLED": not args.no_rate_limits,
    }
    if args.api_origin:
        config["API_ORIGIN"] = args.api_origin
    if args.database_url:
        config["DATABASE_URL"] = args.database_url
    else:
        config["DATA_DIR"] = str(Path(args.data_dir or "instance").resolve())
    if args.web_dir:
        config["WEB_DIR"] = str(Path(args.web_dir).resolve())
    if args.service_worker:
        config["SERVICE_WORKER"] = str(Path(args.service_worker).resolve())
    return config


def gunicorn_options(args: argparse.Namespace) -> dict[str, Any]:
    options: dict[str, Any] = {
        "bind": [args.bind],
        "workers": args.workers,
        "worker_class": "sync",
        "proc_name": "vellum",
        "accesslog": "-",
        "access_log_format": ACCESS_LOG_FORMAT,
        "errorlog": "-",
        "loglevel": args.log_level,
        "timeout": 60,
        "graceful_timeout": 10,
        "control_socket_disable": True,  # no shared control socket: several relays may run side by side (tests)
    }
    if args.certfile:
        options["certfile"] = args.certfile
        options["keyfile"] = args.keyfile
    return options


def serve(args: argparse.Namespace) -> int:
    from gunicorn.app.base import BaseApplication  # type: ignore[import-untyped]

    from backend import create_app

    config = app_config(args)
    try:
        # Validate the settings and create the schema once, in the master, before any worker starts.
        probe = create_app(config)
    except ValueError as exc:
        raise SystemExit(f"vellum: {exc}") from None
    probe.extensions["vellum_engine"].dispose()
    print(
        f"vellum: relay on {args.bind} (public origin {probe.config['PUBLIC_ORIGIN']}, "
        f"{args.workers} workers, database {'URL given' if args.database_url else probe.config['DATA_DIR']})",
        file=sys.stderr,
    )

    class Relay(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            for key, value in gunicorn_options(args).items():
                self.cfg.set(key, value)

        def load(self) -> Any:
            return create_app(config)

    Relay().run()
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        return serve(args)
    return 2


if __name__ == "__main__":
    sys.exit(main())
