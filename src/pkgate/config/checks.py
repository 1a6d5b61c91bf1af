"""The rules that relate two keys (written out by hand), name normalisation, and credentials."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

from pkgate.config.model import Config, Upstream
from pkgate.config.public import Alerts
from pkgate.config.types import ECOSYSTEMS
from pkgate.errors import ConfigError


def _check(cfg: Config) -> None:
    """The rules that relate two keys, or that a pattern would state less clearly."""
    for name, up in cfg.upstreams.items():
        key = f"upstreams.{name}"
        if "@" in up.url.split("/", 3)[2]:
            # Page URLs become the base of every file link, and links are readable by clients.
            raise ConfigError(
                "must not contain credentials; use username_env/password_env or token_env", key=f"{key}.url"
            )
        if bool(up.username_env) != bool(up.password_env):
            missing = "password_env" if up.username_env else "username_env"
            raise ConfigError("basic auth needs both", key=f"{key}.{missing}")
        if up.token_env and up.username_env:
            raise ConfigError(
                "use either token_env or username_env/password_env, not both", key=f"{key}.token_env"
            )
    for eco in ECOSYSTEMS:
        key = "gateway.default_upstream" if eco == "python" else f"{eco}.default_upstream"
        default = cfg.default_upstream(eco)
        if default and default not in cfg.upstreams:
            raise ConfigError(
                f"{default!r} is not one of upstreams {sorted(cfg.upstreams)}"
                ' (or "" to answer 404 for projects no rule claims)',
                key=key,
            )
        if default and cfg.upstreams[default].ecosystem != eco:
            raise ConfigError(
                f"upstream {default!r} is a {cfg.upstreams[default].ecosystem} upstream, not {eco}", key=key
            )
    names: dict[str, int] = {}
    for i, src in enumerate(cfg.files):
        key = f"files[{i}]"
        if src.name in names:
            raise ConfigError(f"{src.name!r} is already files[{names[src.name]}]", key=f"{key}.name")
        names[src.name] = i
        fields = set(re.findall(r"\{([^{}]*)\}", src.url))
        if "file" not in fields or fields - {"file", "version"}:
            raise ConfigError(
                "must contain {file} (and may contain {version}), no other placeholders", key=f"{key}.url"
            )
        if "@" in src.url.split("/", 3)[2]:
            raise ConfigError("must not contain credentials", key=f"{key}.url")
    claimed: dict[tuple[str, str], int] = {}
    for i, rule in enumerate(cfg.routing.rules):
        key = f"routing.rules[{i}]"
        for j, pattern in enumerate(rule.projects):
            if rule.ecosystem == "python" and ("@" in pattern or "/" in pattern):
                raise ConfigError(
                    f"{pattern!r}: Python project names have no '@' or '/'"
                    ' (set ecosystem = "npm" or "oci" for those names)',
                    key=f"{key}.projects[{j}]",
                )
            norm = (rule.ecosystem, normalize_name(rule.ecosystem, pattern))
            if norm in claimed:
                raise ConfigError(
                    f"{pattern!r} is already claimed by routing.rules[{claimed[norm]}]", key=f"{key}.projects"
                )
            claimed[norm] = i
        for name in rule.upstreams:
            if name not in cfg.upstreams:
                raise ConfigError(
                    f"{name!r} is not one of upstreams {sorted(cfg.upstreams)}", key=f"{key}.upstreams"
                )
            if cfg.upstreams[name].ecosystem != rule.ecosystem:
                raise ConfigError(
                    f"upstream {name!r} is a {cfg.upstreams[name].ecosystem} upstream, not"
                    f" {rule.ecosystem} (the rule's ecosystem)",
                    key=f"{key}.upstreams",
                )
        if len(set(rule.upstreams)) != len(rule.upstreams):
            raise ConfigError("lists an upstream twice", key=f"{key}.upstreams")
    _check_alerts(cfg.alerts)


def _check_alerts(alerts: Alerts) -> None:
    """Every webhook a rule names exists (an alert that can go nowhere is a typo)."""
    for i, rule in enumerate(alerts.rules):
        for name in rule.webhooks:
            if name not in alerts.webhooks:
                raise ConfigError(
                    f"{name!r} is not one of alerts.webhooks {sorted(alerts.webhooks)}",
                    key=f"alerts.rules[{i}].webhooks",
                )


def normalize_name(ecosystem: str, name: str) -> str:
    """A project name (or pattern) as routing compares it: PEP 503 for Python (`Acme_Lib` is
    `acme-lib`), lower case for the others (npm, image repositories and conda names are lower case;
    comparing case-insensitively only ever widens a claim, never lets a name slip past one)."""
    if ecosystem == "python":
        return re.sub(r"[-_.]+", "-", name).lower()
    return name.lower()


def credentials(
    name: str, up: Upstream, env: Mapping[str, str] | None = None
) -> tuple[str, str] | str | None:
    """(username, password) for basic auth, a bearer token, or None, read from the environment.

    Resolved where the credentials are used (workers, preflight), never stored in the Config, so
    `pkgate config` and every error message only ever show the variable names.
    """
    env = os.environ if env is None else env

    def get(field: str) -> str:
        var = getattr(up, field)
        value = env.get(var)
        if value is None:
            raise ConfigError(f"environment variable {var} is not set", key=f"upstreams.{name}.{field}")
        return value

    if up.token_env:
        return get("token_env")
    if up.username_env:
        return get("username_env"), get("password_env")
    return None
