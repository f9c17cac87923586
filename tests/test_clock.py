"""Compute's timestamp format, against the standard library's rendering of the same instants."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from compute_gallery import clock


def _expected(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="microseconds")[:-6] + "0+00:00"


@pytest.mark.parametrize(
    "epoch",
    [
        0.0,
        1741608000.0,
        1741608000.1234567,
        1741608000.9999994,
        1741608000.9999996,  # rounds up into the next second
        1741608059.9999999,  # and the next minute
        1767225599.9999999,  # and the next year
        1741608000.0000005,
    ],
)
def test_iso_matches_the_standard_rendering(epoch: float) -> None:
    assert clock.iso(epoch) == _expected(epoch)


def test_iso_matches_the_standard_rendering_across_seconds() -> None:
    generator = random.Random(7)
    start = 1741608000.0
    # Instants in and out of order, so that the formatted second is reused and replaced.
    for _ in range(20_000):
        epoch = start + generator.uniform(0, 5)
        assert clock.iso(epoch) == _expected(epoch)


def test_iso_of_now_is_current() -> None:
    before = datetime.now(UTC)
    stamp = clock.parse(clock.iso())
    assert before.replace(microsecond=0) <= stamp <= datetime.now(UTC)


@pytest.mark.parametrize("ago", [0.0, 0.25, 0.9999996, 3.5, 86400.0])
def test_seconds_since_reads_iso_texts(ago: float) -> None:
    stamp = clock.iso(clock.time() - ago)
    # A text of the second iso last formatted, then of another second, with the date parsed.
    for _ in range(2):
        assert clock.seconds_since(stamp) == pytest.approx(ago, abs=0.05)
        clock.iso(clock.time() - 7200)


def test_seconds_since_reads_other_iso_8601_texts() -> None:
    assert clock.seconds_since("2025-03-10T12:00:00Z") == pytest.approx(
        clock.time() - datetime(2025, 3, 10, 12, tzinfo=UTC).timestamp(), abs=0.05
    )
    with pytest.raises(ValueError):
        clock.seconds_since("")
