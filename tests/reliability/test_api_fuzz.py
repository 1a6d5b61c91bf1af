"""The dashboard's JSON API under schemathesis, its security headers, and the token brakes.

`pkgate dashboard` runs as a real process over a small store; schemathesis (from the OpenAPI
document the app serves) generates requests for every operation and checks that none is a server
error and every answer conforms to the document (status, content type, headers, body schema).
Three checks are left out, each for a reason of its own:
- `positive_data_acceptance`: rules that span parameters (since before until, a range of at most
  MAX_DAYS) cannot be written in OpenAPI, so schema-valid requests may rightly get 400;
- `negative_data_rejection`: an empty value means "absent" (`?level=` is the default level), a
  leniency the document does not spell out;
- `ignored_auth`: the brake on failed token checks (what it would trip) is tested here directly,
  together with the 401 of every operation without or with a wrong token.
`PKGATE_API_FUZZ_EXAMPLES` sets the examples per operation (CI 15; bench/soak.sh more).
"""

from __future__ import annotations

import ast
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from pkgate.edge.brake import FailureBrake
from pkgate.store import connect, ensure_schema, insert_events
from pkgate.web.guard import Guard
from tests.reliability.served import Served, free_port, write_config
from tests.support.process import BIN, start_pkgate
from tests.web.conftest import sample_events

pytestmark = pytest.mark.e2e
TOKEN = "api-fuzz-admin-token-0123456789"
SRC = Path(__file__).resolve().parents[2] / "src" / "pkgate"
SECURITY = {"content-security-policy", "x-content-type-options"}


@pytest.fixture
def dashboard(tmp_path: Path) -> Iterator[httpx.Client]:
    data = tmp_path / "data"
    data.mkdir()
    con = connect(data / "pkgate.duckdb")
    try:
        ensure_schema(con)
        insert_events(con, sample_events())
    finally:
        con.close()
    cfg = write_config(
        tmp_path / "pkgate.toml", {"storage": {"data_dir": str(data)}, "gateway": {"admin_token": TOKEN}}
    )
    port = free_port()
    log = tmp_path / "dashboard.log"
    proc = start_pkgate(["dashboard", "--config", str(cfg), "--port", str(port)], log)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            assert proc.poll() is None, log.read_text()
            try:
                httpx.get(f"{url}/api/openapi.json", timeout=1)
                break
            except httpx.HTTPError:
                subprocess.run(["sleep", "0.05"], check=True)
        with httpx.Client(base_url=url, timeout=30) as client:
            yield client
    finally:
        proc.terminate()
        proc.wait(30)
    assert "Traceback" not in log.read_text()


def test_schemathesis_finds_nothing(dashboard: httpx.Client, tmp_path: Path) -> None:
    done = subprocess.run(
        [
            str(BIN / "schemathesis"),
            "run",
            str(dashboard.base_url).rstrip("/") + "/api/openapi.json",
            "--header",
            f"Authorization: Bearer {TOKEN}",
            "--checks",
            "all",
            "--exclude-checks",
            "positive_data_acceptance,negative_data_rejection,ignored_auth",
            "--max-examples",
            os.environ.get("PKGATE_API_FUZZ_EXAMPLES", "15"),
            "--workers",
            "2",
            "--seed",
            "11",
        ],
        capture_output=True,
        text=True,
        timeout=1800,
        cwd=tmp_path,  # its cache directory goes there, not into the repo
        env={"PATH": str(BIN) + ":/usr/bin:/bin", "SCHEMATHESIS_TELEMETRY": "false", "HOME": "/tmp"},
    )
    summary = done.stdout[-3000:]
    print(summary)
    assert done.returncode == 0, done.stdout[-8000:] + done.stderr[-2000:]
    assert "Tested: 11" in done.stdout or "Tested:" in done.stdout


def test_every_answer_has_security_headers_and_every_operation_needs_the_token(
    dashboard: httpx.Client,
) -> None:
    doc = dashboard.get("/api/openapi.json").json()
    operations = list(doc["paths"])
    assert len(operations) >= 5
    answers = [
        dashboard.get("/dashboard"),
        dashboard.get("/dashboard/static/nope.js"),
        dashboard.get("/", follow_redirects=False),
        dashboard.get("/nowhere"),
        dashboard.get("/api/openapi.json"),
        dashboard.get(operations[0], headers={"authorization": f"Bearer {TOKEN}"}),
        dashboard.get("/api/nowhere", headers={"authorization": f"Bearer {TOKEN}"}),
    ]
    for answer in answers:
        assert set(answer.headers) >= SECURITY, (answer.url, answer.headers)
        assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
        assert answer.headers["x-content-type-options"] == "nosniff"
    assert "script-src 'self'" in answers[0].headers["content-security-policy"]  # the page keeps its own
    # From its own address, so this test's failures do not trip the brake for the one below.
    with httpx.Client(
        base_url=dashboard.base_url, transport=httpx.HTTPTransport(local_address="127.0.0.5")
    ) as other:
        for op in operations[:4]:
            assert other.get(op).status_code == 401
            assert other.get(op, headers={"authorization": "Bearer " + TOKEN[:-1] + "x"}).status_code == 401


def test_failed_token_checks_are_braked_per_address(dashboard: httpx.Client) -> None:
    op = "/api/" + dashboard.get("/api/openapi.json").json()["paths"].popitem()[0].rsplit("/", 1)[1]
    good = {"authorization": f"Bearer {TOKEN}"}
    with httpx.Client(
        base_url=dashboard.base_url, transport=httpx.HTTPTransport(local_address="127.0.0.6")
    ) as guesser:
        assert guesser.get(op, headers=good).status_code == 200
        limit = FailureBrake().max_failures  # the Guard's default is the same
        statuses = [
            guesser.get(op, headers={"authorization": f"Bearer guess-{i}"}).status_code
            for i in range(limit + 2)
        ]
        assert statuses == [401] * limit + [429] * 2
        braked = guesser.get(op, headers=good)  # the right token does not help for the rest of the window
        assert braked.status_code == 429
        assert 1 <= int(braked.headers["retry-after"]) <= 60
        assert set(braked.headers) >= SECURITY
    assert dashboard.get(op, headers=good).status_code == 200  # other addresses are not affected


def test_admin_reload_failures_are_braked(tmp_path: Path) -> None:
    gw = Served(
        tmp_path / "gw",
        {
            "gateway": {
                "secret": "brake-test-secret-0123456789",
                "admin_token": TOKEN,
                "default_upstream": "up",
            },
            "upstreams.up": {"url": "http://127.0.0.1:9/simple/"},
        },
    ).start()
    try:
        with httpx.Client(
            base_url=gw.url, transport=httpx.HTTPTransport(local_address="127.0.0.7")
        ) as guesser:
            limit = FailureBrake().max_failures
            statuses = [
                guesser.post("/admin/reload", headers={"authorization": f"Bearer guess-{i}"}).status_code
                for i in range(limit + 1)
            ]
            assert statuses == [403] * limit + [429]
            assert (
                guesser.post("/admin/reload", headers={"authorization": f"Bearer {TOKEN}"}).status_code == 429
            )
        with httpx.Client(base_url=gw.url) as admin:
            assert (
                admin.post("/admin/reload", headers={"authorization": f"Bearer {TOKEN}"}).status_code == 200
            )
    finally:
        assert gw.stop() == 0


@pytest.mark.parametrize("module", ["edge/gateway.py", "web/api.py"])
def test_tokens_are_compared_in_constant_time(module: str) -> None:
    """No `==`/`!=` touches a token; hmac.compare_digest is what compares them."""
    tree = ast.parse((SRC / module).read_text())
    compared = [
        ast.unparse(node)
        for node in ast.walk(tree)
        if isinstance(node, ast.Compare)
        and any(isinstance(op, ast.Eq | ast.NotEq) for op in node.ops)
        and "token" in ast.unparse(node).lower()
    ]
    assert compared == []
    calls = [ast.unparse(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)]
    assert "hmac.compare_digest" in calls


def test_brake_window_ends() -> None:
    now = [100.0]
    brake = FailureBrake(max_failures=3, window=60, clock=lambda: now[0])
    for _ in range(3):
        assert brake.retry_after("a") == 0
        brake.failed("a")
    assert brake.retry_after("a") == 60
    assert brake.retry_after("b") == 0
    now[0] += 59.5
    assert brake.retry_after("a") == 1
    now[0] += 0.5
    assert brake.retry_after("a") == 0  # a new window: three more tries
    brake.failed("a")
    assert brake.retry_after("a") == 0


def test_guard_and_brake_share_the_limit() -> None:
    assert Guard(app=None).max_failures == FailureBrake().max_failures  # type: ignore[arg-type]
