"""IP literals a client writes into its User-Agent or path never survive into the stored text."""

from __future__ import annotations

import ipaddress

from hypothesis import given
from hypothesis import strategies as st

from pkgate.enrich.redact import REDACTED, redact_ips, redact_ua

PIP_UA = (
    'pip/24.0 {"ci":null,"cpu":"x86_64","implementation":{"name":"CPython","version":"3.11.7"},'
    '"openssl_version":"OpenSSL 3.0.11 19 Sep 2023","system":{"name":"Linux","release":"6.1.0-17-amd64"}}'
)
SEPARATORS = st.sampled_from([" ", "(", ")", "/", ";", ",", "=", '"', "[", "]", "", "\t"])


def test_ordinary_text_is_unchanged() -> None:
    for text in [PIP_UA, "uv/0.4.0", "/simple/six/", "at 12:30:45", "v1.2.3.4.5", "999.1.1.1", "x86_64"]:
        assert redact_ips(text) == text
        assert redact_ua(text) == text


def test_versions_that_look_like_addresses_are_kept_in_user_agents() -> None:
    for ua in [
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
        "poetry/1.1.11 CPython/3.9.2 Linux/5.10.16.3-microsoft-standard-WSL2",
        'pip/24.0 {"system":{"name":"Linux","release":"5.10.16.3-microsoft-standard-WSL2"}}',
        "tool/1.2.3.4+local",
    ]:
        assert redact_ua(ua) == ua
    assert redact_ua("curl/8.0 (10.1.2.3)") == f"curl/8.0 ({REDACTED})"
    assert redact_ua("uv/0.4 host=2001:db8::1") == f"uv/0.4 host={REDACTED}"


def test_examples() -> None:
    assert redact_ips("curl/8 (10.1.2.3)") == f"curl/8 ({REDACTED})"
    assert redact_ips("/simple/203.0.113.46/") == f"/simple/{REDACTED}/"
    assert redact_ips("via 1.2.3.4:8080") == f"via {REDACTED}:8080"
    assert redact_ips("[2001:db8::1]:443") == f"[{REDACTED}]:443"
    assert redact_ips("::ffff:198.51.100.7") == REDACTED


@given(
    ip=st.ip_addresses(),
    before=st.text(max_size=30),
    after=st.text(max_size=30),
    left=SEPARATORS,
    right=SEPARATORS,
    form=st.sampled_from(["compressed", "exploded"]),
)
def test_no_address_survives(
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address,
    before: str,
    after: str,
    left: str,
    right: str,
    form: str,
) -> None:
    literal = getattr(ip, form)
    # Separators keep the literal a token of its own (an address glued to letters is a version, a word).
    text = f"{before} {left}{literal}{right} {after}"
    for redact in (redact_ips, redact_ua):
        if redact is redact_ua and left == "/" and ip.version == 4:
            continue  # `x/1.2.3.4` is a product version in a User-Agent
        out = redact(text)
        assert literal not in out or literal in before or literal in after or literal in REDACTED
        assert redact(out) == out  # idempotent


CONDA_UA = "conda/24.7.1 requests/2.32.3 CPython/3.12.4 Linux/6.5.0 ubuntu/22.04 glibc/2.35 solver/libmamba"


def test_anaconda_anon_usage_tokens_are_dropped() -> None:
    """anaconda-anon-usage's own format: `aau/<v> [aid/<v>] c/<client> s/<session> e/<env> ...`."""
    ua = f"{CONDA_UA} aau/0.4.4 aid/0.5.0 c/Xq1Zk2Lm3Nb4Vc5Xz6Aa s/Qw8Er9Ty0Ui1Op2As3Df e/Gh4Jk5Lz u/alice h/build-01"
    assert redact_ua(ua) == (f"{CONDA_UA} aau/0.4.4 aid/0.5.0 c/[id] s/[id] e/[id] u/[id] h/[id]")
    assert redact_ua(CONDA_UA + " c/not-after-aau") == CONDA_UA + " c/not-after-aau"
    assert redact_ips("/conda/x aau/1 c/abc") == "/conda/x aau/1 c/abc"  # paths are not User-Agents


@given(
    st.lists(
        st.tuples(
            st.sampled_from("cseauhomn"),
            st.text(st.characters(blacklist_categories=["Z", "C"]), min_size=1, max_size=40),
        ),
        min_size=1,
        max_size=8,
    )
)
def test_no_anon_usage_token_survives(tokens: list[tuple[str, str]]) -> None:
    ua = CONDA_UA + " aau/0.4.4 " + " ".join(f"{k}/{v}" for k, v in tokens)
    out = redact_ua(ua)
    assert out.endswith(" ".join(f"{k}/[id]" for k, _ in tokens))
    assert out.startswith(CONDA_UA + " aau/0.4.4 ")
