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
        (
            '[upstreams.a]\nurl = "https://u:p@x/simple/"\n[gateway]\ndefault_upstream="a"\n',
            "upstreams.a.url: must not contain credentials",
        ),
        ('[upstreams.a]\nurl = "https://x/"\nkind = "xml"\n', "upstreams.a.kind"),
        ('[upstreams.a]\nurl = "https://x/"\nmode = "tunnel"\n', "upstreams.a.mode"),
        (
            '[upstreams.a]\nurl = "https://x/"\ntimeout = -1\n[gateway]\ndefault_upstream="a"\n',
            "upstreams.a.timeout",
        ),
        (
            '[upstreams.a]\nurl = "https://x/"\nusername_env = "U"\n[gateway]\ndefault_upstream="a"\n',
            "upstreams.a.password_env: basic auth needs both",
        ),
        (
            '[upstreams.a]\nurl = "https://x/"\ntoken_env = "T"\nusername_env = "U"\npassword_env = "P"\n[gateway]\ndefault_upstream="a"\n',
            "upstreams.a.token_env",
        ),
        (
            '[upstreams.a]\nurl = "https://x/"\ntoken_env = "not a var"\n[gateway]\ndefault_upstream="a"\n',
            "upstreams.a.token_env: must name an environment variable",
        ),
        ('[gateway]\nadmin_token = "short"\n', "gateway.admin_token"),
        ("[routing]\nbreaker_threshold = 0\n", "routing.breaker_threshold"),
        ("[routing]\nbreaker_cooldown = 0\n", "routing.breaker_cooldown"),
        ('[[routing.rules]]\nprojects = ["a"]\n', "routing.rules[0].upstreams: required key missing"),
        (
            '[[routing.rules]]\nprojects = ["a"]\nupstreams = ["nope"]\n',
            "routing.rules[0].upstreams: 'nope' is not one of upstreams",
        ),
        ('[[routing.rules]]\nprojects = []\nupstreams = ["pypi"]\n', "routing.rules[0].projects: must list"),
        ('[[routing.rules]]\nprojects = ["a"]\nupstreams = []\n', "routing.rules[0].upstreams: must list"),
        ('[[routing.rules]]\nprojects = ["a"]\nupstreams = ["pypi", "pypi"]\n', "lists an upstream twice"),
        (
            '[[routing.rules]]\nprojects = ["a/b"]\nupstreams = ["pypi"]\n',
            "routing.rules[0].projects: 'a/b' is not",
        ),
        (
            '[[routing.rules]]\nprojects = ["Acme_Lib"]\nupstreams = ["pypi"]\n[[routing.rules]]\nprojects = ["acme.lib"]\nupstreams = ["pypi"]\n',
            "routing.rules[1].projects: 'acme.lib' is already claimed by routing.rules[0]",
        ),
        (
            '[[routing.rules]]\nprojects = ["a"]\nupstreams = ["pypi"]\nfallback = true\n',
            "routing.rules[0].fallback: unknown key",
        ),
        ('[routing]\nrules = "x"\n', "routing.rules"),
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


def test_routing_config_and_credentials(tmp_path: Path) -> None:
    text = """
[gateway]
default_upstream = ""
[upstreams.pypi]
url = "https://pypi.org/simple/"
[upstreams.private]
url = "https://pkgs.example/simple/"
mode = "proxy"
authoritative = true
timeout = 3
username_env = "PRIV_USER"
password_env = "PRIV_PASS"
[[routing.rules]]
projects = ["acme-*", "internal"]
upstreams = ["private"]
[[routing.rules]]
projects = ["*"]
upstreams = ["pypi"]
"""
    cfg = load_text(tmp_path, text)
    assert cfg.gateway.default_upstream == ""
    assert cfg.routing.rules[0].projects == ["acme-*", "internal"]
    up = cfg.upstreams["private"]
    assert (up.mode, up.authoritative, up.timeout) == ("proxy", True, 3.0)
    # the values live only in the environment, and are read where they are used
    with pytest.raises(
        ConfigError, match=r"upstreams\.private\.username_env: environment variable PRIV_USER"
    ):
        config.credentials("private", up, {})
    secret = "s3cr3t-value-never-shown"
    assert config.credentials("private", up, {"PRIV_USER": "u", "PRIV_PASS": secret}) == ("u", secret)
    shown = config.to_toml(cfg)
    assert secret not in shown
    assert 'password_env = "PRIV_PASS"' in shown
    assert load_text(tmp_path, shown) == cfg


def test_upstream_env_override_with_multiword_key(tmp_path: Path) -> None:
    cfg = config.load(
        env={
            "PKGATE_UPSTREAMS_MY_INDEX_URL": "http://127.0.0.1:1/simple/",
            "PKGATE_UPSTREAMS_MY_INDEX_TOKEN_ENV": "TOK",
            "PKGATE_GATEWAY_DEFAULT_UPSTREAM": '""',
            "PKGATE_ROUTING_RULES": '[{projects = ["x-*"], upstreams = ["my_index"]}]',
        }
    )
    assert cfg.upstreams["my_index"].token_env == "TOK"
    assert cfg.gateway.default_upstream == ""
    assert cfg.routing.rules[0].upstreams == ["my_index"]
    with pytest.raises(ConfigError, match="PKGATE_UPSTREAMS_URL"):
        config.load(env={"PKGATE_UPSTREAMS_URL": "x"})
