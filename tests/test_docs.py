"""The docs stay true: every config key and every CLI command is documented in the README."""

from __future__ import annotations

import re
from pathlib import Path
from typing import get_type_hints

import msgspec
from typer.main import get_command

from pkgate.cli import app
from pkgate.config import Config

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def config_keys() -> list[str]:
    keys = []
    for section, ftype in get_type_hints(Config).items():
        if section == "upstreams":
            keys.append("upstreams.<name>.url")
            continue
        info = msgspec.inspect.type_info(ftype)
        if isinstance(info, msgspec.inspect.ListType):  # an array of tables: `[[files]]`
            info = info.item_type
        assert isinstance(info, msgspec.inspect.StructType)
        keys.extend(f"{section}.{field.name}" for field in info.fields)
    return keys


def test_every_config_key_documented() -> None:
    keys = config_keys()
    assert len(keys) > 15
    missing = [k for k in keys if f"`{k}`" not in README]
    assert missing == []


def test_every_cli_command_documented() -> None:
    commands = sorted(get_command(app).commands)  # type: ignore[attr-defined]
    assert "serve" in commands
    missing = [c for c in commands if f"`pkgate {c}`" not in README]
    assert missing == []


def test_readme_opens_with_the_two_commands() -> None:
    first_block = re.search(r"```sh\n(.*?)```", README, re.S)
    assert first_block is not None
    lines = [ln.split("#")[0].strip() for ln in first_block.group(1).splitlines() if ln.strip()]
    assert lines == ["scripts/serve", "scripts/test"]
    assert "scripts/test" in (ROOT / ".ci" / "run").read_text()
    for script in lines:
        assert (ROOT / script).stat().st_mode & 0o111
