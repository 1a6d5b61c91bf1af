"""Browsers (with their platform) and bots."""

from __future__ import annotations

import pytest

from pkgate.enrich.ua import parse

CHROME_MAC = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
)


@pytest.mark.parametrize(
    ("ua", "name", "version"),
    [
        (CHROME_MAC, "chrome", "131.0.0.0"),
        (CHROME_MAC + " Edg/131.0.2903.70", "edge", "131.0.2903.70"),
        (CHROME_MAC + " OPR/114.0.0.0", "opera", "114.0.0.0"),
        ("Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0", "firefox", "133.0"),
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Version/18.1 Safari/605.1.15",
            "safari",
            "18.1",
        ),
        ("Mozilla/5.0 (compatible; MSIE 9.0; Windows NT 6.1; Trident/5.0)", "ie", "9.0"),
        ("Lynx/2.8.9rel.1 libwww-FM/2.14 SSL-MM/1.4.1 OpenSSL/1.1.1d", "lynx", "2.8.9rel.1"),
        ("BlackBerry9700/5.0.0.743", "blackberry", "5.0.0.743"),
    ],
)
def test_browsers(ua: str, name: str, version: str) -> None:
    r = parse(ua)
    assert (r.category, r.installer, r.installer_version) == ("browser", name, version)


@pytest.mark.parametrize(
    ("ua", "system", "distro", "distro_version"),
    [
        (CHROME_MAC, "Darwin", "macOS", "10.15.7"),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/131.0.0.0 Safari/537.36",
            "Windows",
            None,
            None,
        ),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1",
            "iOS",
            "iOS",
            "17.6",
        ),
        (
            "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/131.0.0.0 Mobile Safari/537.36",
            "Android",
            "Android",
            "14",
        ),
    ],
)
def test_browser_platform(ua: str, system: str, distro: str | None, distro_version: str | None) -> None:
    r = parse(ua)
    assert (r.system, r.distro, r.distro_version) == (system, distro, distro_version)


def test_windows_release() -> None:
    assert parse("Mozilla/5.0 (Windows NT 6.1; WOW64) Firefox/52.0").system_release == "6.1"


@pytest.mark.parametrize(
    ("ua", "name", "version"),
    [
        ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "googlebot", "2.1"),
        (
            "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; bingbot/2.0; "
            "+http://www.bing.com/bingbot.htm) Chrome/116.0.1938.76 Safari/537.36",
            "bingbot",
            "2.0",
        ),
        ("Googlebot-Image/1.0", "googlebot-image", "1.0"),
        (
            "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
            "facebookexternalhit",
            "1.1",
        ),
        ("Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)", "slackbot", None),
        ("Datadog Agent/7.59.0", "datadog", None),
        ("Renovate/39.42.4", "renovate", "39.42.4"),
        ("Pingdom.com_bot_version_1.4_(http://www.pingdom.com/)", "pingdom.com", None),
        (
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "HeadlessChrome/120.0.0.0 Safari/537.36",
            "headlesschrome",
            "120.0.0.0",
        ),
        ("inspector.pypi.io", "inspector.pypi.io", None),
    ],
)
def test_bots(ua: str, name: str, version: str | None) -> None:
    r = parse(ua)
    assert (r.category, r.installer, r.installer_version) == ("bot", name, version)


def test_contact_url_means_bot() -> None:
    assert parse("SomeThing/1.0 (+https://example.org/about)").category == "bot"


def test_powershell_is_a_script() -> None:
    r = parse("Mozilla/5.0 (Windows NT; Windows NT 10.0; en-US) WindowsPowerShell/5.1.19041.3031")
    assert (r.category, r.installer, r.system) == ("script", "powershell", "Windows")
