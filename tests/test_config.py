"""Config: defaults, env overrides, and errors that name the file and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from pkgate import config
from pkgate.errors import ConfigError


def load_text(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> config.Config:
    p = tmp_path / "pkgate.toml"
    p.write_text(text)
    return config.load(p, env=env or {})


def test_defaults_are_usable() -> None:
    cfg = config.load(env={})
    assert cfg.upstreams["pypi"].url == "https://pypi.org/simple/"
    assert cfg.storage.data_dir == "./pkgate-data"
    assert cfg.storage.fsync == "batched"
    assert cfg.gateway.redirect_status == 302


def test_file_and_env_overrides(tmp_path: Path) -> None:
    cfg = load_text(
        tmp_path,
        '[server]\nport = 9000\n[upstreams.local]\nurl = "http://127.0.0.1:1/simple/"\n[gateway]\ndefault_upstream = "local"\n',
        env={
            "PKGATE_SERVER_PORT": "9001",
            "PKGATE_STORAGE_FSYNC": "always",
            "PKGATE_PRIVACY_TRUSTED_PROXIES": '["10.0.0.0/8"]',
        },
    )
    assert cfg.server.port == 9001
    assert cfg.storage.fsync == "always"
    assert cfg.privacy.trusted_proxies == ["10.0.0.0/8"]
    assert list(cfg.upstreams) == ["local"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[server]\nport = "x"\n', "server.port: Expected `int`"),
        ("[server]\nprt = 1\n", "server.prt: unknown key"),
        ("[server]\nport = 70000\n", "server.port: must be 0..65535"),
        ("[bogus]\n", "bogus: unknown key"),
        ("[server\n", "invalid TOML"),
        (
            '[upstreams.a]\nurl = "ftp://x"\n[gateway]\ndefault_upstream="a"\n',
            "upstreams.a.url: must be an http(s) URL",
        ),
        ("[upstreams.a]\n", "upstreams.a.url: required key missing"),
        ("[gateway]\nredirect_status = 200\n", "gateway.redirect_status"),
        ('[gateway]\ndefault_upstream = "nope"\n', "gateway.default_upstream"),
        ('[storage]\nfsync = "sometimes"\n', "storage.fsync"),
    ],
)
def test_errors_name_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_text(tmp_path, text)
    assert str(tmp_path / "pkgate.toml") in str(info.value)
    assert message in str(info.value)


def test_unknown_env_section() -> None:
    with pytest.raises(ConfigError, match="PKGATE_NOPE_X"):
        config.load(env={"PKGATE_NOPE_X": "1"})


def test_missing_file() -> None:
    with pytest.raises(ConfigError, match="no such config file"):
        config.load("/nonexistent/pkgate.toml", env={})


def test_to_toml_roundtrips(tmp_path: Path) -> None:
    cfg = config.load(env={})
    assert load_text(tmp_path, config.to_toml(cfg)) == cfg
