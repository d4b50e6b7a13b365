"""Finished stages are remembered by content and settings, and forgotten when their files are gone."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

from confcast.tasks.stagecache import StageCache, paths_in, run_once, stage_key


class Output(BaseModel):
    files: tuple[Path, ...]
    note: str


def test_stage_key_depends_on_every_part_and_is_stable() -> None:
    assert stage_key("abc", {"height": 720}) == stage_key("abc", {"height": 720})
    assert stage_key("abc", {"height": 720}) != stage_key("abc", {"height": 480})
    assert stage_key("abc", {"height": 720}) != stage_key("abd", {"height": 720})
    assert len(stage_key("x")) == 20


def test_paths_in_finds_nested_paths(tmp_path: Path) -> None:
    value = (Output(files=(tmp_path / "a", tmp_path / "b"), note="n"), {"x": [tmp_path / "c"]}, None)
    assert list(paths_in(value)) == [tmp_path / "a", tmp_path / "b", tmp_path / "c"]


def test_run_once_reuses_until_a_file_disappears(tmp_path: Path) -> None:
    cache = StageCache(tmp_path / "stages")
    produced: list[int] = []

    def produce() -> Output:
        produced.append(1)
        path = tmp_path / f"out-{len(produced)}.bin"
        path.write_bytes(b"data")
        return Output(files=(path,), note="made")

    first, reused = run_once(cache, "encode", "k1", Output, produce)
    assert not reused and len(produced) == 1
    again, reused = run_once(cache, "encode", "k1", Output, produce)
    assert reused and again == first and len(produced) == 1
    _, reused = run_once(cache, "encode", "k2", Output, produce)  # other settings: other key
    assert not reused and len(produced) == 2
    first.files[0].unlink()
    _, reused = run_once(cache, "encode", "k1", Output, produce)
    assert not reused and len(produced) == 3


def test_a_broken_record_is_not_reused(tmp_path: Path) -> None:
    cache = StageCache(tmp_path)
    (tmp_path / "encode-k.json").write_text("{not json", encoding="utf-8")
    assert cache.get("encode", "k", Output) is None
    assert not list(tmp_path.glob(".*partial"))


def test_concurrent_runs_of_a_stage_take_turns_and_reuse(tmp_path: Path) -> None:
    import threading
    import time

    cache = StageCache(tmp_path / "stages")
    produced: list[int] = []

    def produce() -> Output:
        produced.append(1)
        time.sleep(0.3)
        path = tmp_path / "out.bin"
        path.write_bytes(b"data")
        return Output(files=(path,), note="made")

    results: list[tuple[Output, bool]] = []
    threads = [threading.Thread(target=lambda: results.append(run_once(cache, "s", "k", Output, produce)))
               for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(produced) == 1
    assert sorted(reused for _, reused in results) == [False, True]


def test_a_work_folder_in_use_is_not_removed(tmp_path: Path) -> None:
    from confcast.tasks.stagecache import FolderClaim, remove_if_unused

    folder = tmp_path / "run"
    claim = FolderClaim(folder)
    (folder / "video.mp4").write_bytes(b"x")
    assert not remove_if_unused(folder)
    claim.release()
    assert remove_if_unused(folder) and not folder.exists()
    assert not remove_if_unused(folder)
