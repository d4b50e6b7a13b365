"""The viewer site: conference page, catalog page and podcast feed, rendered from manifests with Jinja2.

Autoescape is on for every template: a title is text, never HTML.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
from dataclasses import dataclass
from urllib.parse import quote

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from tasks.layout import Catalog, CatalogEntry, Manifest
from tasks.models import Segment

LANGUAGE_NAMES = {
    "fr": {"fr": "Français", "en": "French"},
    "en": {"fr": "Anglais", "en": "English"},
    "de": {"fr": "Allemand", "en": "German"},
    "es": {"fr": "Espagnol", "en": "Spanish"},
    "it": {"fr": "Italien", "en": "Italian"},
}

STRINGS = {
    "fr": {
        "catalog": "Toutes les conférences",
        "speakers": "Intervenants",
        "date": "Date",
        "duration": "Durée",
        "language": "Langue",
        "downloads": "Téléchargements",
        "video": "Vidéo MP4",
        "audio": "Audio (M4A)",
        "transcript": "Transcription",
        "transcript_txt": "Transcription (texte)",
        "captions_auto": "Sous-titres automatiques, non relus",
        "captions_reviewed": "Sous-titres relus",
        "no_video": "Votre navigateur ne lit pas cette vidéo : téléchargez-la ci-dessous.",
        "empty_catalog": "Aucune conférence publiée pour l'instant.",
        "feed": "Flux podcast (RSS)",
        "jump": "Aller à",
        "back": "Retour au catalogue",
        "empty_transcript": "Aucune parole n'a été reconnue dans cet enregistrement.",
    },
    "en": {
        "catalog": "All talks",
        "speakers": "Speakers",
        "date": "Date",
        "duration": "Duration",
        "language": "Language",
        "downloads": "Downloads",
        "video": "MP4 video",
        "audio": "Audio (M4A)",
        "transcript": "Transcript",
        "transcript_txt": "Transcript (text)",
        "captions_auto": "Automatic captions, not reviewed",
        "captions_reviewed": "Reviewed captions",
        "no_video": "Your browser cannot play this video: download it below.",
        "empty_catalog": "No talk published yet.",
        "feed": "Podcast feed (RSS)",
        "jump": "Go to",
        "back": "Back to the catalog",
        "empty_transcript": "No speech was recognised in this recording.",
    },
}


@dataclass(frozen=True)
class SiteInfo:
    title: str
    language: str  # interface language: fr or en
    base_url: str  # public URL of the site root, ending with "/"


def clock(seconds: float) -> str:
    """`1:02:03` or `2:03`."""
    total = int(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def fragment_time(seconds: float) -> str:
    """The `#t=` fragment of a moment: `1m23s`."""
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def rss_duration(seconds: float) -> str:
    total = int(round(seconds))
    return f"{total // 3600:02d}:{total % 3600 // 60:02d}:{total % 60:02d}"


def language_name(code: str, interface: str) -> str:
    return LANGUAGE_NAMES.get(code, {}).get(interface, code)


def human_date(date: dt.date, interface: str) -> str:
    if interface == "fr":
        months = "janvier février mars avril mai juin juillet août septembre octobre novembre décembre".split()
        return f"{date.day} {months[date.month - 1]} {date.year}"
    return date.strftime("%B %-d, %Y")


def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("tasks", "templates"),
        autoescape=select_autoescape(["html", "xml"], default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(clock=clock, fragment_time=fragment_time, rss_duration=rss_duration)
    return env


def render_conference_page(manifest: Manifest, segments: tuple[Segment, ...], site: SiteInfo) -> str:
    interface = site.language
    caption = manifest.captions[0] if manifest.captions else None
    return environment().get_template("conference.html").render(
        m=manifest,
        site=site,
        t=STRINGS[interface],
        segments=segments,
        caption=caption,
        caption_label=language_name(caption.lang, interface) if caption else "",
        language_label=language_name(manifest.language, interface),
        date_label=human_date(manifest.date, interface),
        top_mp4=max(manifest.video.mp4, key=lambda f: f.height),
    )


def render_catalog_page(catalog: Catalog, site: SiteInfo) -> str:
    interface = site.language
    return environment().get_template("catalog.html").render(
        site=site,
        t=STRINGS[interface],
        entries=catalog.conferences,
        date_label=lambda entry: human_date(entry.date, interface),
    )


def render_feed(catalog: Catalog, manifests: dict[str, Manifest], site: SiteInfo) -> str:
    """RSS 2.0 podcast feed; enclosures and transcripts are absolute URLs."""

    def url(entry: CatalogEntry, relative: str) -> str:
        folder = entry.page.rsplit("/", 1)[0]
        return site.base_url + quote(f"{folder}/{relative}")

    items = []
    for entry in catalog.conferences:
        manifest = manifests.get(entry.slug)
        if manifest is None:
            continue
        published = dt.datetime.combine(entry.date, dt.time(12, 0), tzinfo=dt.timezone.utc)
        items.append(
            {
                "entry": entry,
                "manifest": manifest,
                "page_url": site.base_url + quote(entry.page),
                "audio_url": url(entry, manifest.audio.path),
                "transcripts": [
                    (url(entry, track.path), "text/vtt", track.lang) for track in manifest.captions
                ]
                + [(url(entry, manifest.transcript.srt), "application/x-subrip", manifest.transcript.lang)],
                "pub_date": email.utils.format_datetime(published),
            }
        )
    return environment().get_template("feed.xml").render(
        site=site, items=items, language=site.language, catalog_url=site.base_url + "index.html"
    )


def segments_json(segments: tuple[Segment, ...]) -> str:
    """Compact search data for a conference: start time and text of every segment."""
    return json.dumps([{"s": round(s.start, 2), "t": s.text.strip()} for s in segments], ensure_ascii=False)
