"""Metadata typed by people: slugs, sidecar files, options over sidecar."""

import datetime as dt
import json
from pathlib import Path

import pytest

from confcast.tasks.errors import MetadataError
from confcast.tasks.metadata import build_meta, slugify, validate_slug

DAY = dt.date(2026, 4, 4)


@pytest.fixture
def recording(tmp_path: Path) -> Path:
    path = tmp_path / "talk.mp4"
    path.write_bytes(b"not read here")
    return path


def test_slugify_is_ascii_lower_hyphenated() -> None:
    assert slugify("Le Fab'Lab : ÉCOLE & Santé!", DAY) == "2026-04-04-le-fab-lab-ecole-sante"
    assert slugify("日本語", DAY) == "2026-04-04"
    assert len(slugify("x" * 500, DAY)) <= 80


@pytest.mark.parametrize("slug", ["../etc", "a/b", "..", ".hidden", "%2e%2e", "Upper", "", "a b", "a.b", "-lead"])
def test_validate_slug_rejects_paths_and_oddities(slug: str) -> None:
    with pytest.raises(MetadataError) as error:
        validate_slug(slug)
    assert "\n" not in str(error.value)


@pytest.mark.parametrize("slug", ["demo", "2026-04-04-talk", "a_b-c9"])
def test_validate_slug_accepts_folder_names(slug: str) -> None:
    assert validate_slug(slug) == slug


def test_defaults_from_file_name(recording: Path) -> None:
    meta = build_meta(recording, today=DAY)
    assert meta.title == "talk"
    assert meta.date == DAY
    assert meta.slug == "2026-04-04-talk"
    assert meta.language == "auto"


def test_sidecar_yaml_then_options_override(recording: Path) -> None:
    (recording.parent / "talk.mp4.yaml").write_text(
        "title: Matériel libre\ndate: 2026-02-06\nspeakers: Alice Martin\nlanguage: fr\n", encoding="utf-8"
    )
    meta = build_meta(recording)
    assert (meta.title, meta.date, meta.speakers, meta.language) == (
        "Matériel libre", dt.date(2026, 2, 6), ("Alice Martin",), "fr")
    meta = build_meta(recording, title="Autre", speakers=["Bob", "Chloé"], language="en", date="2026-04-04")
    assert (meta.title, meta.speakers, meta.language, meta.date) == ("Autre", ("Bob", "Chloé"), "en", DAY)
    assert meta.slug == "2026-04-04-autre"


def test_sidecar_json_beside_stem(recording: Path) -> None:
    (recording.parent / "talk.json").write_text(json.dumps({"title": "JSON talk", "slug": "given"}), encoding="utf-8")
    meta = build_meta(recording)
    assert (meta.title, meta.slug) == ("JSON talk", "given")


@pytest.mark.parametrize(
    "content, fragment",
    [
        ("title: [1, 2]\n", "title"),
        ("unknown_key: 1\n", "unknown_key"),
        ("- a list\n", "mapping"),
        ("title: 'x\n", "not valid YAML"),
        ("date: tomorrow\n", "date"),
        ("slug: ../up\n", "slug"),
    ],
)
def test_bad_sidecar_is_one_line_error(recording: Path, content: str, fragment: str) -> None:
    (recording.parent / "talk.mp4.yaml").write_text(content, encoding="utf-8")
    with pytest.raises(MetadataError) as error:
        build_meta(recording)
    assert fragment in str(error.value)
    assert "\n" not in str(error.value)


def test_long_title_and_bad_language_are_refused(recording: Path) -> None:
    with pytest.raises(MetadataError, match="at most 300"):
        build_meta(recording, title="x" * 10_000)
    with pytest.raises(MetadataError, match="language"):
        build_meta(recording, language="../fr")
    with pytest.raises(MetadataError, match="YYYY-MM-DD"):
        build_meta(recording, date="04/04/2026")


def test_control_characters_are_removed_markup_kept_as_text(recording: Path) -> None:
    meta = build_meta(recording, title="<script>alert(1)</script>\x00\x1b", today=DAY)
    assert meta.title == "<script>alert(1)</script>"
    assert meta.slug == "2026-04-04-script-alert-1-script"
