"""Switching config on the fly under load, and configs that must be refused.

`wrk` hammers index pages and a file link of a two-worker `pkgate serve` while the config flips
between two upstreams many times, by SIGHUP and by `POST /admin/reload`, with bad configs thrown
in: not one answer may be other than 2xx/3xx, and every worker must end on the last generation.
"""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from .conftest import BIN, _clean_env
from .test_routing import SECRET_LINE, RoutedGateway
from .upstreams import StaticIndex

pytestmark = pytest.mark.e2e

TOKEN = "reload-admin-token-0123456789"
JSON = "application/vnd.pypi.simple.v1+json"


def body(a: StaticIndex, b: StaticIndex, first: str, extra: str = "") -> str:
    second = "b" if first == "a" else "a"
    return (
        f'[gateway]\n{SECRET_LINE}admin_token = "{TOKEN}"\ndefault_upstream = ""\n'
        f'[upstreams.a]\nurl = "{a.simple_url}"\n[upstreams.b]\nurl = "{b.simple_url}"\n'
        f'[[routing.rules]]\nprojects = ["*"]\nupstreams = ["{first}", "{second}"]\n{extra}'
    )


def admin_reload(gw: RoutedGateway) -> tuple[int, dict[str, object]]:
    req = urllib.request.Request(
        gw.direct_url + "/admin/reload", method="POST", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        text = err.read()
        return err.code, json.loads(text) if text.startswith(b"{") else {"error": text.decode()}


def gauge(gw: RoutedGateway, name: str) -> int:
    _, _, text = gw.get("/metrics", accept="text/plain")
    m = re.search(rb"^" + name.encode() + rb" (\d+)$", text, re.M)
    return int(m[1]) if m else -1


def wait_generation(gw: RoutedGateway, generation: int, workers: int = 2) -> None:
    """Until every worker (all of them started) runs `generation`."""
    deadline = time.monotonic() + 15
    while (seen := (gauge(gw, "pkgate_workers"), gauge(gw, "pkgate_config_generation"))) != (
        workers,
        generation,
    ):
        if time.monotonic() > deadline:  # what the supervisor's threads are doing (faulthandler)
            gw.proc.send_signal(signal.SIGUSR1)
            time.sleep(1)
            raise AssertionError(
                f"generation {generation} on {workers} workers not reached: (workers, generation) = {seen}\n"
                + gw.output()[-8000:]
            )
        time.sleep(0.05)


#: The supervisor's answer to a SIGHUP, in its log (server/reload.py).
_ANSWER = re.compile(r"config generation (\d+) published|config reload rejected, the running config stays")


def hangup(gw: RoutedGateway) -> int | None:
    """SIGHUP, and the supervisor's answer: the generation it published, or None (rejected). One at
    a time: a reload still under way when the test rewrites the file would read the next file (or
    half of it), and the generations counted would depend on timing."""
    before = len(_ANSWER.findall(gw.output()))
    gw.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 15
    while len(answers := list(_ANSWER.finditer(gw.output()))) <= before:
        assert time.monotonic() < deadline, "no answer to SIGHUP\n" + gw.output()[-8000:]
        time.sleep(0.02)
    return int(answers[before][1]) if answers[before][1] else None


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed")
def test_reload_under_load_answers_every_request(
    tmp_path: Path, static_index: StaticIndex, static_json_index: StaticIndex
) -> None:
    a, b = static_index, static_json_index
    gw = RoutedGateway(tmp_path / "gw", body(a, b, "a"), workers=2)
    wrk: subprocess.Popen[str] | None = None
    try:
        config = gw.config
        wait_generation(gw, 1)
        assert hangup(gw) == 2
        wait_generation(gw, 2)  # both workers took the first reload
        # keys only a restart can apply are refused whole (workers started later would differ)
        config.write_text(gw.render(body(a, b, "b").replace("routing-e2e-secret", "another-secret"), 2))
        status, result = admin_reload(gw)
        assert status == 400
        assert "gateway.secret: cannot change while running" in str(result["error"])
        _, _, page = gw.get("/simple/six/")
        link = json.loads(page)["files"][0]["url"]
        script = tmp_path / "paths.lua"
        script.write_text(
            'local paths = {"/simple/six/", "' + link + '", "/simple/more-itertools/", "/simple/"}\n'
            "local i = 0\n"
            "request = function()\n  i = i + 1\n"
            f'  return wrk.format("GET", paths[(i % #paths) + 1], {{["Accept"] = "{JSON}"}})\nend\n'
        )
        wrk = subprocess.Popen(
            ["wrk", "-t2", "-c16", "-d5s", "--latency", "-s", str(script), gw.direct_url],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        time.sleep(0.3)
        published = 2
        for i in range(12):
            first = "b" if i % 2 == 0 else "a"
            if i % 4 == 3:  # a broken file in between: refused, the running config stays
                config.write_text(gw.render(body(a, b, first, '[routing]\nbreaker_threshold = "x"\n'), 2))
                status, result = admin_reload(gw)
                assert status == 400
                assert "routing.breaker_threshold" in str(result["error"])
                assert hangup(gw) is None
            config.write_text(gw.render(body(a, b, first), workers=2))
            published += 1
            if i % 2:
                assert hangup(gw) == published
            else:
                status, result = admin_reload(gw)
                assert status == 200, result
                assert result["generation"] == published
            time.sleep(0.3)
        out, _ = wrk.communicate(timeout=30)
        assert wrk.returncode == 0, out
        assert "Non-2xx or 3xx responses" not in out, out
        assert "Socket errors" not in out, out
        requests = int(re.search(r"(\d+) requests in", out)[1])  # type: ignore[index]
        assert requests > 500, out
        wait_generation(gw, published)
        assert gw.output().count("config reload rejected") >= 6
        _, headers, _ = gw.get("/simple/tomli/")
        assert headers["x-pkgate-cache"] in ("hit", "miss", "revalidated")
    finally:
        if wrk is not None and wrk.poll() is None:
            wrk.kill()
            wrk.communicate()
        gw.stop()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[[routing.rules]]\nprojects = ["acme-*"]\nupstreams = ["private"]\n', "routing.rules[0].upstreams"),
        ('[[routing.rules]]\nprojects = ["a b"]\nupstreams = ["pypi"]\n', "routing.rules[0].projects"),
        ('[upstreams.pypi]\nurl = "https://pypi.org/simple/"\nmode = "stream"\n', "upstreams.pypi.mode"),
        (
            '[upstreams.pypi]\nurl = "https://pypi.org/simple/"\ntoken_env = "NOT_SET_ANYWHERE"\n',
            "NOT_SET_ANYWHERE",
        ),
        ('[gateway]\ndefault_upstream = "nope"\n', "gateway.default_upstream"),
        ("[routing]\nbreaker_cooldown = -1\n", "routing.breaker_cooldown"),
    ],
)
def test_malformed_configs_refuse_to_start(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "pkgate.toml"
    path.write_text(f'[storage]\ndata_dir = "{tmp_path / "data"}"\n{text}')
    done = subprocess.run(
        [str(BIN / "pkgate"), "serve", "--config", str(path)],
        capture_output=True,
        text=True,
        env=_clean_env(),
        timeout=60,
    )
    assert done.returncode != 0
    assert message in done.stderr
    assert "Traceback" not in done.stderr
