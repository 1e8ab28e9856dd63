"""``vellum serve`` option handling: defaults, the origin it derives, warnings, and gunicorn settings."""

from __future__ import annotations

import pytest

from backend import cli


def parse(*argv: str):
    return cli.build_parser().parse_args(["serve", *argv])


def test_defaults(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.chdir(tmp_path)
    args = parse()
    config = cli.app_config(args)
    options = cli.gunicorn_options(args)
    assert options["bind"] == ["127.0.0.1:8000"] and options["workers"] == 2
    assert config["PUBLIC_ORIGIN"] == "http://localhost:8000"
    assert config["DATA_DIR"] == str(tmp_path / "instance")
    assert config["RATE_LIMITS_ENABLED"] is True
    assert options["control_socket_disable"] is True
    assert capsys.readouterr().err == ""


def test_access_log_has_no_query_or_headers() -> None:
    fmt = cli.ACCESS_LOG_FORMAT
    for forbidden in ("%(r)s", "%(q)s", "%(a)s", "%(f)s", "}i", "}o", "}e"):
        assert forbidden not in fmt
    assert "%(U)s" in fmt


def test_warns_beyond_localhost_without_tls(capsys) -> None:
    config = cli.app_config(parse("--bind", "0.0.0.0:8080"))
    err = capsys.readouterr().err
    assert "without TLS" in err and "--public-origin" in err
    assert config["PUBLIC_ORIGIN"] == "http://0.0.0.0:8080"
    cli.app_config(
        parse(
            "--bind",
            "0.0.0.0:443",
            "--certfile",
            "c.pem",
            "--keyfile",
            "k.pem",
            "--public-origin",
            "https://notes.example",
        )
    )
    assert "without TLS" not in capsys.readouterr().err
    cli.app_config(parse("--bind", "[::1]:8000"))
    assert capsys.readouterr().err == ""


def test_tls_origin_and_options() -> None:
    args = parse(
        "--certfile",
        "c.pem",
        "--keyfile",
        "k.pem",
        "--app-origin",
        "https://app.example",
        "--app-origin",
        "https://other.example",
        "--database-url",
        "sqlite:////tmp/x.db",
        "--workers",
        "3",
    )
    config = cli.app_config(args)
    assert config["PUBLIC_ORIGIN"] == "https://localhost:8000"
    assert config["APP_ORIGINS"] == ["https://app.example", "https://other.example"]
    assert config["DATABASE_URL"] == "sqlite:////tmp/x.db" and "DATA_DIR" not in config
    options = cli.gunicorn_options(args)
    assert options["certfile"] == "c.pem" and options["keyfile"] == "k.pem" and options["workers"] == 3


@pytest.mark.parametrize(
    "argv",
    [
        ["--certfile", "c.pem"],
        ["--bind", "nonsense"],
        ["--bind", "127.0.0.1:0"],
        ["--workers", "0"],
    ],
)
def test_bad_options(argv: list[str]) -> None:
    with pytest.raises(SystemExit):
        cli.app_config(parse(*argv))


def test_data_dir_and_database_url_exclude_each_other() -> None:
    with pytest.raises(SystemExit):
        parse("--data-dir", "x", "--database-url", "sqlite://")
