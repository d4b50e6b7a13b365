"""Fuzzing the parsers and pure functions that take outside input: slugs, sidecar files, storage keys and URLs.

Each either accepts its input and returns something safe, or refuses it with the project's one-line error;
nothing else may escape (captions and VTT imports are fuzzed in tests/test_captions.py).
"""

from __future__ import annotations

import datetime as dt

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from confcast.tasks.errors import ConfcastError, MetadataError
from confcast.tasks.metadata import SLUG_PATTERN, build_meta, slugify, validate_slug
from confcast.tasks.site.layout import conference_prefix
from confcast.tasks.storage.base import check_key, parse_storage_url

DATES = st.dates(min_value=dt.date(1990, 1, 1), max_value=dt.date(2100, 12, 31))


def one_line(error: Exception) -> bool:
    return "\n" not in str(error) and str(error).strip() != ""


@given(st.text(max_size=400), DATES)
def test_slugify_always_makes_a_safe_folder_name(title: str, date: dt.date) -> None:
    slug = slugify(title, date)
    assert validate_slug(slug) == slug
    assert conference_prefix(slug) == f"conferences/{slug}"
    assert "/" not in slug and ".." not in slug and not slug.startswith(".")


@given(st.text(max_size=120))
def test_validate_slug_accepts_only_plain_folder_names(text: str) -> None:
    try:
        assert validate_slug(text) == text
    except MetadataError as error:
        assert one_line(error)
        return
    assert SLUG_PATTERN.fullmatch(text) and "/" not in text and "." not in text


@given(st.text(max_size=200))
def test_storage_keys_never_climb(key: str) -> None:
    try:
        checked = check_key(key)
    except ConfcastError as error:
        assert one_line(error)
        return
    parts = checked.split("/")
    assert ".." not in parts and "" not in parts and not checked.startswith("/")


@given(st.text(max_size=200))
def test_storage_urls_are_parsed_or_refused(url: str) -> None:
    try:
        target = parse_storage_url(url)
    except ConfcastError as error:
        assert one_line(error)
        return
    assert target.scheme in ("s3", "file")
    assert ".." not in target.prefix.split("/")


SIDECAR_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40) | DATES,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
SIDECAR = st.dictionaries(
    st.sampled_from(["title", "date", "speakers", "description", "language", "slug", "other"]), SIDECAR_VALUES,
    max_size=6,
)


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.one_of(SIDECAR.map(lambda d: ("yaml", d)), st.text(max_size=300).map(lambda t: ("raw", t))))
def test_sidecar_files_give_metadata_or_one_line_errors(tmp_path_factory, sidecar) -> None:
    import yaml

    folder = tmp_path_factory.mktemp("fuzz")
    recording = folder / "talk.mp4"
    recording.write_bytes(b"x")
    kind, content = sidecar
    text = yaml.safe_dump(content, allow_unicode=True) if kind == "yaml" else content
    (folder / "talk.mp4.yaml").write_text(text, encoding="utf-8", errors="surrogatepass")
    try:
        meta = build_meta(recording, today=dt.date(2026, 4, 4))
    except MetadataError as error:
        assert one_line(error)
        return
    assert validate_slug(meta.slug) == meta.slug
    assert 0 < len(meta.title) <= 300
    assert isinstance(meta.date, dt.date)
    assert all(isinstance(name, str) for name in meta.speakers)
