"""GUIDs for request and operation ids: well-formed, unique, operation ids in time order."""

from __future__ import annotations

import time
import uuid

from compute_gallery import guids


def test_random_guid_is_version_4() -> None:
    value = uuid.UUID(guids.random_guid())
    assert value.version == 4
    assert value.variant == uuid.RFC_4122


def test_sequential_guid_is_version_7_with_the_time_first() -> None:
    before = time.time_ns() // 1_000_000
    text = guids.sequential_guid()
    after = time.time_ns() // 1_000_000
    value = uuid.UUID(text)
    assert value.version == 7
    assert value.variant == uuid.RFC_4122
    assert before <= value.int >> 80 <= after
    assert text == str(value)


def test_guids_do_not_repeat() -> None:
    made = {guids.random_guid() for _ in range(20_000)} | {
        guids.sequential_guid() for _ in range(20_000)
    }
    assert len(made) == 40_000


def test_sequential_guids_of_later_milliseconds_sort_after() -> None:
    first = guids.sequential_guid()
    time.sleep(0.002)
    second = guids.sequential_guid()
    assert first < second
