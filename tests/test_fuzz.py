"""Fuzzing the parsers and pure functions that take outside input: slugs, sidecar files, storage keys and URLs,
metadata text that goes into XML.

Each either accepts its input and returns something safe, or refuses it with the project's one-line error;
nothing else may escape (captions and VTT imports are fuzzed in tests/test_captions.py).
"""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET
from types import SimpleNamespace
from xml.sax.saxutils import escape

from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from confcast.tasks.errors import ConfcastError, MetadataError
from confcast.tasks.metadata import SLUG_PATTERN, build_meta, clean_text, slug_conflict, slugify, validate_slug
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


# --- slugs never change hands silently; metadata never breaks the feed ------------------------------------------

# Titles that used to collide: other scripts, accents, punctuation and emoji only.
COLLIDING = st.text(alphabet=st.sampled_from(list("!?.,'&-… 🎉😀🚀éeEÉ日本語語Жжπ")), min_size=1, max_size=8)
TITLES = st.one_of(st.text(max_size=120), COLLIDING)


@given(TITLES, TITLES, DATES)
@example("0", "\U0003118e", dt.date(2000, 1, 1))  # a letter newer than the transliteration table: no ASCII at all
def test_two_titles_on_one_date_never_collide_silently(first: str, second: str, date: dt.date) -> None:
    first, second = (clean_text(t, field="title", max_chars=300) for t in (first, second))
    assume(first and second and first != second)
    slugs = slugify(first, date), slugify(second, date)
    for slug in slugs:
        assert slug.startswith(f"{date.isoformat()}-") and validate_slug(slug) == slug  # never the bare date
    if slugs[0] == slugs[1]:  # the same slug: publishing the second talk there is refused, not a silent overwrite
        published = SimpleNamespace(title=first, date=date, source=SimpleNamespace(sha256="a" * 64))
        message = slug_conflict(slugs[0], published, "b" * 64, replace=False)
        assert message is not None and one_line(MetadataError(message)) and "--replace" in message


@given(COLLIDING.filter(lambda t: not any(ch.isalnum() for ch in t)), DATES)
def test_titles_without_letters_differ_by_their_hash(title: str, date: dt.date) -> None:
    other = title + "!"
    assert slugify(title, date) != slugify(other, date)


HOSTILE_CHARS = st.sampled_from(["\ufffe", "\uffff", "\U0010ffff", "\U0001fffe", "\ufdd0", "\x00", "\x0b", "\x1b",
                                 "\r", "\ud800", "\udce9", "\x85"])


@given(st.text(alphabet=st.one_of(st.characters(), HOSTILE_CHARS), max_size=200))
def test_cleaned_metadata_is_always_valid_xml_text(text: str) -> None:
    cleaned = clean_text(text, field="title", max_chars=300)
    element = ET.fromstring(f"<title>{escape(cleaned)}</title>".encode())
    assert (element.text or "") == cleaned
