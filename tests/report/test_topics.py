"""Every report topic runs and returns rows of its declared type."""

from __future__ import annotations

import msgspec
import pytest

from pkgate.errors import PkgateError
from pkgate.report import TOPICS, Options, columns
from tests.insights.data import ALL, build


@pytest.mark.parametrize("topic", sorted(TOPICS))
def test_topic_rows(topic: str) -> None:
    t = TOPICS[topic]
    rows = t.run(build("rolled"), ALL, Options(by="installer"))
    assert rows
    assert all(isinstance(r, t.row) for r in rows)
    assert columns(topic) == list(msgspec.structs.asdict(rows[0]))


def test_topic_option_errors() -> None:
    with pytest.raises(PkgateError, match="--by"):
        TOPICS["breakdown"].run(build("raw"), ALL, Options())
    with pytest.raises(PkgateError, match="day or week"):
        TOPICS["adoption"].run(build("raw"), ALL, Options(period="month"))
