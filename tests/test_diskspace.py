"""The work folder's free space is checked against an estimate before encoding."""

from pathlib import Path

import pytest

from confcast.tasks.errors import TranscodeError
from confcast.tasks.media.diskspace import MARGIN_BYTES, check_free_space, estimate_work_bytes


def test_estimate_grows_with_duration_and_ladder() -> None:
    one_hour = estimate_work_bytes(3600, [5_000_000, 2_800_000, 1_400_000, 800_000], 128_000)
    assert one_hour > estimate_work_bytes(600, [5_000_000, 2_800_000, 1_400_000, 800_000], 128_000)
    assert one_hour > estimate_work_bytes(3600, [800_000], 128_000)
    # 1 h of a 4-rung ladder: 10 Mb/s of rungs + the 5 Mb/s download, about 10 GB with headroom.
    assert 8e9 < one_hour < 12e9
    assert estimate_work_bytes(0, [], 128_000) == MARGIN_BYTES


def test_check_free_space_refuses_with_one_clear_line(tmp_path: Path) -> None:
    check_free_space(tmp_path / "work", 1024, "talk.mp4")  # plenty
    with pytest.raises(TranscodeError) as error:
        check_free_space(tmp_path / "work", 10**18, "talk.mp4")
    message = str(error.value)
    assert "talk.mp4" in message and "GiB free" in message and "CONFCAST_WORK_DIR" in message
    assert "\n" not in message
