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
        ('[server]\nport = "x"\n', "server.port: Expected `int`, got `str`"),
        ("[server]\nworkers = 1.5\n", "server.workers: Expected `int`, got `float`"),
        ("[server]\naccess_log = 1\n", "server.access_log: Expected `bool`, got `int`"),
        (
            '[privacy]\ntrusted_proxies = "10.0.0.0/8"\n',
            "privacy.trusted_proxies: must be an array, got a string",
        ),
        ("[privacy]\ntrusted_proxies = [1]\n", "privacy.trusted_proxies[0]: Expected `str`, got `int`"),
        ("server = 1\n", "server: must be a table, got an integer"),
        ("[server]\nprt = 1\n", "server.prt: unknown key"),
        ("[server]\nport = 70000\n", "server.port: must be a port, 0..65535, got 70000"),
        ("[server]\nworkers = 0\n", "server.workers: must be at least 1, got 0"),
        ("[gateway]\ncache_ttl = -1\n", "gateway.cache_ttl: must be seconds, not negative, got -1"),
        (
            "[gateway]\nupstream_timeout = 0\n",
            "gateway.upstream_timeout: must be a positive number of seconds",
        ),
        (
            "[gateway]\ncache_bytes = 1000\n",
            "gateway.cache_bytes: must be at least 1 MiB (1048576), got 1000",
        ),
        ("[storage]\nsegment_bytes = 4095\n", "storage.segment_bytes: must be at least 4096 bytes, got 4095"),
        (
            "[storage]\nretention_days = -1\n",
            "storage.retention_days: must be a number of days, not negative",
        ),
        ('[storage]\ndata_dir = ""\n', "storage.data_dir: must be a directory, got ''"),
        (
            '[fleet]\nnats_url = "http://x:4222"\n',
            "fleet.nats_url: must be nats://host:port or tls://host:port",
        ),
        ('[fleet]\nsubject = "a..b"\n', "fleet.subject: must be a plain NATS subject, got 'a..b'"),
        ('[fleet]\nstream = "a.b"\n', "fleet.stream: must be letters, digits, '-' or '_', got 'a.b'"),
        ('[upstreams.A]\nurl = "https://x/"\n', "upstreams.A: must be an upstream name"),
        ("[upstreams]\n", "upstreams: must be a table of at least one upstream, got {}"),
        ('[upstreams.a]\nurl = "https://x/\\n"\n', "upstreams.a.url: must be an http(s) URL"),
        ("[bogus]\n", "bogus: unknown key"),
        ("[server\n", ":1: invalid TOML: Expected ']' at the end of a table declaration (column 8)"),
        ("[server]\nport = 1\nhost =\n", ":3: invalid TOML: Invalid value (column 7)"),
        (
            '[upstreams.a]\nurl = "ftp://x"\n[gateway]\ndefault_upstream="a"\n',
            "upstreams.a.url: must be an http(s) URL",
        ),
        ("[upstreams.a]\n", "upstreams.a.url: required key missing"),
        ("[gateway]\nredirect_status = 200\n", "gateway.redirect_status"),
        ('[gateway]\ndefault_upstream = "nope"\n', "gateway.default_upstream"),
        (
            '[storage]\nfsync = "sometimes"\n',
            "storage.fsync: must be one of 'always', 'batched', 'off', got 'sometimes'",
        ),
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
            "upstreams.a.token_env: must be the name of an environment variable, got 'not a var'",
        ),
        ('[gateway]\nadmin_token = "short"\n', "gateway.admin_token"),
        ("[routing]\nbreaker_threshold = 0\n", "routing.breaker_threshold"),
        ("[routing]\nbreaker_cooldown = 0\n", "routing.breaker_cooldown"),
        ('[[routing.rules]]\nprojects = ["a"]\n', "routing.rules[0].upstreams: required key missing"),
        (
            '[[routing.rules]]\nprojects = ["a"]\nupstreams = ["nope"]\n',
            "routing.rules[0].upstreams: 'nope' is not one of upstreams",
        ),
        (
            '[[routing.rules]]\nprojects = []\nupstreams = ["pypi"]\n',
            "routing.rules[0].projects: must be a list of at least one project name or pattern, got []",
        ),
        (
            '[[routing.rules]]\nprojects = ["a"]\nupstreams = []\n',
            "routing.rules[0].upstreams: must be a list of at least one upstream, got []",
        ),
        ('[[routing.rules]]\nprojects = ["a"]\nupstreams = ["pypi", "pypi"]\n', "lists an upstream twice"),
        (
            '[[routing.rules]]\nprojects = ["a b"]\nupstreams = ["pypi"]\n',
            "routing.rules[0].projects[0]: must be a project name or a pattern",
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
    assert str(info.value).startswith(str(tmp_path / "pkgate.toml") + ":")
    assert info.value.origin == str(tmp_path / "pkgate.toml")
    assert message in str(info.value)


def test_error_carries_its_origin_and_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_text(tmp_path, "[server]\nport = 70000\n")
    assert (info.value.origin, info.value.key, info.value.line) == (
        str(tmp_path / "pkgate.toml"),
        "server.port",
        0,
    )
    with pytest.raises(ConfigError) as info:
        load_text(tmp_path, "[server]\n\nport = = 1\n")
    assert (info.value.key, info.value.line) == ("", 3)


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"PKGATE_NOPE_X": "1"}, "environment PKGATE_NOPE_X: no such config section"),
        (
            {"PKGATE_SERVER_PORT": "x"},
            "environment PKGATE_SERVER_PORT: server.port: Expected `int`, got `str`",
        ),
        (
            {"PKGATE_SERVER_PORT": "99999"},
            "environment PKGATE_SERVER_PORT: server.port: must be a port, 0..65535",
        ),
        ({"PKGATE_SERVER_PRT": "1"}, "environment PKGATE_SERVER_PRT: server.prt: unknown key"),
        (
            {"PKGATE_STORAGE_FSYNC": "never"},
            "environment PKGATE_STORAGE_FSYNC: storage.fsync: must be one of",
        ),
        (
            {"PKGATE_UPSTREAMS_URL": "x"},
            "environment PKGATE_UPSTREAMS_URL: expected PKGATE_UPSTREAMS_<NAME>_<KEY>",
        ),
        (
            {"PKGATE_UPSTREAMS_PYPI_URL": "ftp://x"},
            "environment PKGATE_UPSTREAMS_PYPI_URL: upstreams.pypi.url",
        ),
        (
            {"PKGATE_UPSTREAMS_BAD!_URL": "https://x/"},
            "environment PKGATE_UPSTREAMS_BAD!_URL: upstreams.bad!",
        ),
        (
            {"PKGATE_GATEWAY_DEFAULT_UPSTREAM": "zz"},
            "environment PKGATE_GATEWAY_DEFAULT_UPSTREAM: gateway.default_upstream: 'zz' is not one of upstreams",
        ),
        (
            {"PKGATE_ROUTING_RULES": '[{projects = ["x"], upstreams = ["pypi"], bogus = 1}]'},
            "environment PKGATE_ROUTING_RULES: routing.rules[0].bogus: unknown key",
        ),
    ],
)
def test_env_errors_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        config.load(env=env)
    assert str(info.value).startswith(message)


def test_file_errors_stay_with_the_file_beside_env_overrides(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_text(tmp_path, "[server]\nworkers = 0\n", env={"PKGATE_SERVER_PORT": "9000"})
    assert str(info.value).startswith(f"{tmp_path / 'pkgate.toml'}: server.workers: must be at least 1")


def test_secrets_are_not_echoed(tmp_path: Path) -> None:
    for key in ("secret", "admin_token"):
        with pytest.raises(ConfigError) as info:
            load_text(tmp_path, f'[gateway]\n{key} = "hunter2-short"\n')
        assert f"gateway.{key}: must be at least 16 characters (or empty)" in str(info.value)
        assert "hunter2" not in str(info.value)


def test_missing_unreadable_and_binary_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^/nonexistent/pkgate.toml: no such config file$"):
        config.load("/nonexistent/pkgate.toml", env={})
    with pytest.raises(ConfigError, match=rf"^{tmp_path}: cannot read: Is a directory$"):
        config.load(tmp_path, env={})
    binary = tmp_path / "bin.toml"
    binary.write_bytes(b"\xff\xfe[server]\n")
    with pytest.raises(ConfigError, match=r"bin.toml: not UTF-8 text$"):
        config.load(binary, env={})


def test_config_file_from_the_environment(tmp_path: Path) -> None:
    p = tmp_path / "c.toml"
    p.write_text("[server]\nport = 9100\n")
    assert config.source(None, {"PKGATE_CONFIG": str(p)}) == str(p)
    assert config.source("other.toml", {"PKGATE_CONFIG": str(p)}) == "other.toml"
    assert config.load(env={"PKGATE_CONFIG": str(p)}).server.port == 9100


def test_located_keeps_an_existing_origin() -> None:
    err = ConfigError("environment variable X is not set", key="upstreams.a.token_env")
    assert str(err) == "upstreams.a.token_env: environment variable X is not set"
    assert str(err.located("f.toml")) == "f.toml: upstreams.a.token_env: environment variable X is not set"
    assert str(err.located("other.toml")).startswith("f.toml: ")


def test_to_toml_roundtrips(tmp_path: Path) -> None:
    cfg = config.load(env={})
    assert load_text(tmp_path, config.to_toml(cfg)) == cfg
    text = (
        '[[routing.rules]]\nprojects = ["a-*"]\nupstreams = ["pypi"]\nmerge = true\n[server]\nport = 9000\n'
    )
    cfg = load_text(tmp_path, text)
    shown = config.to_toml(cfg)
    assert "[[routing.rules]]" in shown
    assert load_text(tmp_path, shown) == cfg


def test_window_days_is_gone(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"privacy\.window_days: unknown key"):
        load_text(tmp_path, "[privacy]\nwindow_days = 7\n")


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


ECOSYSTEM_UPSTREAMS = """
[upstreams.pypi]
url = "http://pypi.test/simple/"
[upstreams.npmjs]
url = "http://npm.test/"
ecosystem = "npm"
[upstreams.acme-npm]
url = "http://acme.test/npm/"
ecosystem = "npm"
[npm]
default_upstream = "npmjs"
"""


def test_upstreams_and_rules_belong_to_one_ecosystem(tmp_path: Path) -> None:
    cfg = load_text(
        tmp_path,
        ECOSYSTEM_UPSTREAMS
        + '[[routing.rules]]\necosystem = "npm"\nprojects = ["@acme/*", "acme-cli"]\nupstreams = ["acme-npm"]\n'
        + '[[routing.rules]]\nprojects = ["acme-cli"]\nupstreams = ["pypi"]\n',  # the same name, Python's
    )
    assert cfg.upstreams["npmjs"].ecosystem == "npm"
    assert cfg.upstreams["pypi"].ecosystem == "python"  # the default
    assert [r.ecosystem for r in cfg.routing.rules] == ["npm", "python"]
    assert (cfg.default_upstream("npm"), cfg.default_upstream("python"), cfg.default_upstream("oci")) == (
        "npmjs",
        "pypi",
        "",
    )
    assert [cfg.serves(e) for e in ("python", "npm", "oci", "conda")] == [True, True, False, False]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            '[[routing.rules]]\necosystem = "npm"\nprojects = ["@acme/*"]\nupstreams = ["pypi"]\n',
            "routing.rules[0].upstreams: upstream 'pypi' is a python upstream, not npm (the rule's ecosystem)",
        ),
        (
            '[[routing.rules]]\nprojects = ["@acme/x"]\nupstreams = ["pypi"]\n',
            "routing.rules[0].projects[0]: '@acme/x': Python project names have no '@' or '/'",
        ),
        (
            '[[routing.rules]]\necosystem = "npm"\nprojects = ["@Acme/*"]\nupstreams = ["acme-npm"]\n'
            '[[routing.rules]]\necosystem = "npm"\nprojects = ["@acme/*"]\nupstreams = ["npmjs"]\n',
            "routing.rules[1].projects: '@acme/*' is already claimed by routing.rules[0]",
        ),
        (
            '[oci]\ndefault_upstream = "npmjs"\n',
            "oci.default_upstream: upstream 'npmjs' is a npm upstream, not oci",
        ),
        ('[conda]\ndefault_upstream = "nope"\n', "conda.default_upstream: 'nope' is not one of upstreams"),
        (
            '[upstreams.x]\nurl = "http://x.test/"\necosystem = "cargo"\n',
            "upstreams.x.ecosystem: must be one of",
        ),
    ],
)
def test_ecosystem_errors_name_the_key(tmp_path: Path, extra: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_text(tmp_path, ECOSYSTEM_UPSTREAMS + extra)
    assert message in str(info.value)


def test_pkgate_variables_that_are_not_overrides_are_left_alone() -> None:
    """PKGATE_NODE_MODULES (the dashboard's Chart.js) once failed every command's config load."""
    cfg = config.load(env={"PKGATE_NODE_MODULES": "/opt/node_modules", "PKGATE_SERVER_PORT": "9100"})
    assert cfg.server.port == 9100
