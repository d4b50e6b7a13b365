"""Metadata typed by people: slugs, sidecar files, options over sidecar; a slug never silently changes hands."""

import datetime as dt
import hashlib
import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from types import SimpleNamespace

import pytest

from confcast.flows.stage_tasks import refuse_slug_taken
from confcast.tasks.errors import MetadataError
from confcast.tasks.metadata import build_meta, clean_text, slug_conflict, slugify, validate_slug
from confcast.tasks.storage.folder import FileStorage

DAY = dt.date(2026, 4, 4)


@pytest.fixture
def recording(tmp_path: Path) -> Path:
    path = tmp_path / "talk.mp4"
    path.write_bytes(b"not read here")
    return path


def test_slugify_is_ascii_lower_hyphenated() -> None:
    assert slugify("Le Fab'Lab : ÉCOLE & Santé!", DAY) == "2026-04-04-le-fab-lab-ecole-sante"
    assert slugify("日本語", DAY) == "2026-04-04-ri-ben-yu"
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


# --- slugs from any script, and slugs that never change hands silently ----------------------------------------


@pytest.mark.parametrize(
    "title, slug",
    [
        ("Свободное ПО в лаборатории", "2026-04-04-svobodnoe-po-v-laboratorii"),
        ("Ελεύθερο λογισμικό", "2026-04-04-eleythero-logismiko"),
        ("自由软件与开放硬件", "2026-04-04-zi-you-ruan-jian-yu-kai-fang-ying-jian"),
        ("日本語の講演", "2026-04-04-ri-ben-yuno-jiang-yan"),
        ("البرمجيات الحرة", "2026-04-04-lbrmjyt-lhrh"),
        ("Python и Django", "2026-04-04-python-i-django"),
        ("Straße, Œuvre et Łódź", "2026-04-04-strasse-oeuvre-et-lodz"),
        ("Le Fab'Lab : ÉCOLE & Santé!", "2026-04-04-le-fab-lab-ecole-sante"),  # Latin titles keep their slug
    ],
)
def test_slugs_of_other_scripts_are_transliterated(title: str, slug: str) -> None:
    assert slugify(title, DAY) == slug


def test_titles_without_letters_get_a_short_stable_hash() -> None:
    bangs, questions, party = slugify("!!!", DAY), slugify("???", DAY), slugify("🎉", DAY)
    assert bangs == f"2026-04-04-{hashlib.sha256('!!!'.encode()).hexdigest()[:8]}" == slugify("!!!", DAY)
    assert questions != bangs and questions.startswith("2026-04-04-")
    assert party.startswith("2026-04-04-tada-") and party != slugify("🎉🎉", DAY)


def published_talk(sha256: str, title: str = "Matériel libre", date: dt.date = DAY) -> SimpleNamespace:
    """What slug_conflict reads of a published manifest."""
    return SimpleNamespace(title=title, date=date, source=SimpleNamespace(sha256=sha256))


def test_slug_conflict_refuses_only_a_different_recording() -> None:
    talk = published_talk("a" * 64)
    assert slug_conflict("atelier", None, "b" * 64, replace=False) is None  # a free slug
    assert slug_conflict("atelier", talk, "a" * 64, replace=False) is None  # the same recording, new metadata
    assert slug_conflict("atelier", talk, "b" * 64, replace=True) is None  # the operator asked for it
    message = slug_conflict("atelier", talk, "b" * 64, replace=False)
    assert message is not None and "\n" not in message
    for fragment in ("'atelier'", "'Matériel libre'", "2026-04-04", "--slug", "--replace"):
        assert fragment in message


# --- text that breaks XML, files that break parsers ------------------------------------------------------------

HOSTILE_TEXT = "Logiciel\ufffe libre\uffff\x01 \ufdd0au\U0001fffe labo\ud800\x7f"


def test_clean_text_drops_what_xml_cannot_hold() -> None:
    cleaned = clean_text(HOSTILE_TEXT, field="title", max_chars=300)
    assert cleaned == "Logiciel libre au labo"
    ET.fromstring(f"<title>{cleaned}</title>")
    assert clean_text("Bonjour\tà\ntous \U0001f600", field="title", max_chars=300) == "Bonjour\tà\ntous \U0001f600"


def test_non_characters_are_dropped_from_every_field_of_a_json_sidecar(recording: Path) -> None:
    sidecar = {"title": "Atelier\ufffe\ud800", "speakers": ["Alice\uffff"], "description": "Texte\ufdd0 libre"}
    (recording.parent / "talk.mp4.json").write_text(json.dumps(sidecar), encoding="utf-8")  # \\u escapes
    meta = build_meta(recording, today=DAY)
    assert (meta.title, meta.speakers, meta.description) == ("Atelier", ("Alice",), "Texte libre")


@pytest.mark.parametrize(
    "name, content",
    [
        ("talk.mp4.yaml", "title: " + "[" * 10_000 + "]" * 10_000 + "\n"),
        ("talk.mp4.yaml", "- " * 10_000 + "x\n"),
        ("talk.mp4.json", '{"title": ' + "[" * 10_000 + "]" * 10_000 + "}"),
    ],
)
def test_a_deeply_nested_sidecar_is_a_one_line_error_naming_it(recording: Path, name: str, content: str) -> None:
    (recording.parent / name).write_text(content, encoding="utf-8")
    with pytest.raises(MetadataError) as error:
        build_meta(recording)
    message = str(error.value)
    assert name in message and "nested" in message and "\n" not in message
    assert "RecursionError" not in message


# --- end to end: the real command, a file:// site, the folder inbox --------------------------------------------

CONFCAST = str(Path(sys.executable).with_name("confcast"))


def clip(path: Path, frequency: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=10:duration=1.5",
         "-f", "lavfi", "-i", f"sine=frequency={frequency}:duration=1.5", "-c:v", "libx264", "-pix_fmt",
         "yuv420p", "-c:a", "aac", str(path)],
        check=True, stdin=subprocess.DEVNULL,
    )
    return path


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.slow
def test_a_different_recording_never_replaces_a_published_talk_silently(prefect_server, tmp_path: Path) -> None:
    from confcast.config.settings import Settings
    from confcast.flows.inbox import scan_inbox

    site, work = tmp_path / "site", tmp_path / "work"
    first, second = clip(tmp_path / "a" / "talk.mp4", 440), clip(tmp_path / "b" / "talk.mp4", 660)

    def publish(recording: Path, title: str, *options: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [CONFCAST, "publish", "--to", site.as_uri(), "--work-dir", str(work), "--language", "en", "--title", title,
             "--date", "2026-04-04", "--slug", "atelier", *options, "--", str(recording)],
            capture_output=True, text=True, timeout=600, env=dict(os.environ), stdin=subprocess.DEVNULL,
        )

    # Non-characters and controls in the title: cleaned, and the feed stays valid XML.
    published = publish(first, HOSTILE_TEXT.replace("\ud800", ""))
    assert published.returncode == 0, published.stderr
    feed = ET.fromstring((site / "feed.xml").read_bytes())
    assert [item.findtext("title") for item in feed.iter("item")] == ["Logiciel libre au labo"]
    before = snapshot(site)

    refused = publish(second, "Une autre conférence")
    lines = [line for line in refused.stderr.splitlines() if line.strip()]
    assert refused.returncode != 0 and len(lines) == 1, refused.stderr
    assert lines[0].startswith("confcast: error: slug 'atelier' already holds"), lines[0]
    for fragment in ("'Logiciel libre au labo'", "2026-04-04", "--slug", "--replace"):
        assert fragment in lines[0]
    assert snapshot(site) == before, "a refused recording changes nothing"

    # The inbox never replaces: the recording goes to failed/ with the same one-line reason.
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    (inbox / "autre.mp4").write_bytes(second.read_bytes())
    (inbox / "autre.mp4.yaml").write_text("title: Autre\ndate: 2026-04-05\nslug: atelier\n", encoding="utf-8")
    for _scan in range(2):  # a folder inbox may wait one scan for the recording's size to settle
        assert scan_inbox(inbox=str(inbox), settings=Settings(storage_url=site.as_uri(), work_dir=work)) == []
        reasons = [p.read_text(encoding="utf-8") for p in (inbox / "failed").glob("*.txt")]
        if reasons:
            break
    assert len(reasons) == 1 and "slug 'atelier' already holds" in reasons[0], reasons
    assert snapshot(site) == before

    replaced = publish(second, "Une autre conférence", "--replace")
    assert replaced.returncode == 0, replaced.stderr
    manifest = json.loads((site / "conferences" / "atelier" / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["source"]["sha256"] == hashlib.sha256(second.read_bytes()).hexdigest()
    catalog = json.loads((site / "catalog.json").read_text(encoding="utf-8"))
    assert [(c["slug"], c["title"]) for c in catalog["conferences"]] == [("atelier", "Une autre conférence")]


def test_a_slug_whose_manifest_cannot_be_read_is_not_free(tmp_path: Path) -> None:
    """A damaged or foreign manifest.json still marks the folder as someone's: refused unless --replace."""
    site = FileStorage(tmp_path)
    site.put_bytes("conferences/atelier/manifest.json", b"{not json")
    with pytest.raises(MetadataError, match="cannot read .*--replace"):
        refuse_slug_taken(site, "atelier", "a" * 64, replace=False)
    assert refuse_slug_taken(site, "atelier", "a" * 64, replace=True) is None
    assert refuse_slug_taken(site, "free", "a" * 64, replace=False) is None
