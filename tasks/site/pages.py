"""The viewer site: conference page, catalog page and podcast feed, rendered from manifests with Jinja2.

Autoescape is on for every template: a title is text, never HTML.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import functools
import html
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from urllib.parse import quote

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from confcast.tasks.models import Segment
from confcast.tasks.site.layout import CaptionTrack, Catalog, CatalogEntry, Manifest, conference_prefix

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
        "no_audio": "Cet enregistrement n'a pas de son : il n'a donc ni transcription, ni sous-titres, ni audio.",
        "skip": "Aller au contenu",
        "video_label": "Vidéo de la conférence",
        "follow": "Suivre la lecture",
        "transcript_help": "Chaque passage est un bouton : l'activer lance la vidéo à ce moment. "
        "Les flèches haut et bas passent d'un passage à l'autre.",
        "text": "texte",
        "search_label": "Rechercher dans ce qui a été dit",
        "search_button": "Rechercher",
        "search_hint": "Trouve les passages de toutes les conférences où ces mots sont prononcés.",
        "search_results": "Résultats de la recherche",
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
        "no_audio": "This recording has no sound, so it has no transcript, captions nor audio.",
        "skip": "Skip to content",
        "video_label": "Video of the talk",
        "follow": "Follow playback",
        "transcript_help": "Each passage is a button: activating it plays the video from that moment. "
        "The up and down arrows move between passages.",
        "text": "text",
        "search_label": "Search what was said",
        "search_button": "Search",
        "search_hint": "Finds the passages of every talk where these words are spoken.",
        "search_results": "Search results",
    },
}

# Messages of the catalog's search script ({n}: a count, {talks}: a number of talks).
SEARCH_STRINGS = {
    "fr": {
        "searching": "Recherche…",
        "too_short": "Tapez au moins deux lettres.",
        "none": "Aucun passage ne contient ces mots.",
        "found_one": "{n} passage trouvé, {talks} conférence(s) en parlent.",
        "found_many": "{n} passages trouvés, {talks} conférence(s) en parlent.",
        "more": "Cette conférence contient d'autres passages avec ces mots.",
        "other_talks": "Ces mots sont aussi prononcés dans :",
        "failed": "La recherche n'a pas pu charger ses données ; réessayez plus tard.",
    },
    "en": {
        "searching": "Searching…",
        "too_short": "Type at least two letters.",
        "none": "No passage holds these words.",
        "found_one": "{n} passage found, {talks} talk(s) mention it.",
        "found_many": "{n} passages found, {talks} talk(s) mention them.",
        "more": "This talk has more passages with these words.",
        "other_talks": "These words are also spoken in:",
        "failed": "The search could not load its data; try again later.",
    },
}

CAPTION_KINDS = {
    "fr": {"auto": "sous-titres automatiques", "reviewed": "sous-titres relus", "translated": "traduction automatique"},
    "en": {"auto": "automatic captions", "reviewed": "reviewed captions", "translated": "machine translation"},
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


def iso_duration(seconds: float) -> str:
    """An ISO 8601 duration for <time datetime>: `PT1H2M5S`."""
    total = int(round(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return "PT" + (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "") + f"{secs}S"


def human_size(count: int, interface: str = "fr") -> str:
    """`1,5 Mo` / `1.5 MB`."""
    units = ["o", "ko", "Mo", "Go"] if interface == "fr" else ["B", "kB", "MB", "GB"]
    value, unit = float(count), 0
    while value >= 1000 and unit < len(units) - 1:
        value, unit = value / 1000, unit + 1
    text = f"{value:.0f}" if unit == 0 or value >= 100 else f"{value:.1f}"
    return f"{text.replace('.', ',') if interface == 'fr' else text} {units[unit]}"


@functools.cache
def script(name: str) -> Markup:
    """One of our scripts from static/ beside this module, to inline in a page (one file to fetch, no version skew)."""
    text = resources.files(__package__).joinpath("static", name).read_text(encoding="utf-8")
    if "</script" in text.lower():
        raise ValueError(f"confcast/tasks/site/static/{name} must not contain '</script'")
    return Markup(text)


def environment() -> Environment:
    env = Environment(
        loader=PackageLoader(__package__, "templates"),
        autoescape=select_autoescape(["html", "xml"], default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        clock=clock,
        rss_duration=rss_duration,
        iso_duration=iso_duration,
        size=human_size,
        # RSS descriptions are HTML: plain text is escaped as HTML here, then as XML by autoescape.
        html_text=lambda text: html.escape(str(text), quote=False),
    )
    return env


def track_label(track: CaptionTrack, interface: str) -> str:
    """`Français (sous-titres automatiques)`: players show it in their captions menu."""
    kind = "translated" if track.machine_translated and track.status == "auto" else track.status
    return f"{language_name(track.lang, interface)} ({CAPTION_KINDS[interface][kind]})"


def default_track(manifest: Manifest) -> int:
    """The caption track shown by default: the first in the spoken language, else the first."""
    for index, track in enumerate(manifest.captions):
        if track.lang == manifest.language:
            return index
    return 0


def render_conference_page(manifest: Manifest, segments: Sequence[Segment], site: SiteInfo) -> str:
    interface = site.language
    return environment().get_template("conference.html").render(
        m=manifest,
        site=site,
        t=STRINGS[interface],
        segments=[s for s in segments if s.text.strip()],
        track_labels=[track_label(track, interface) for track in manifest.captions],
        default_track=default_track(manifest),
        language_label=language_name(manifest.language, interface),
        date_label=human_date(manifest.date, interface),
        top_mp4=max(manifest.video.mp4, key=lambda f: f.height),
        folder_url=f"{site.base_url}{quote(conference_prefix(manifest.slug))}/",
        page_url=f"{site.base_url}{quote(conference_prefix(manifest.slug))}/{quote(manifest.page)}",
        script=script("player.js"),
    )


def render_catalog_page(catalog: Catalog, site: SiteInfo) -> str:
    interface = site.language
    return environment().get_template("catalog.html").render(
        site=site,
        t=STRINGS[interface],
        entries=catalog.conferences,
        date_label=lambda entry: human_date(entry.date, interface),
        search_strings=SEARCH_STRINGS[interface],
        script=script("search.js"),
    )


def render_feed(catalog: Catalog, manifests: dict[str, Manifest], site: SiteInfo) -> str:
    """RSS 2.0 podcast feed; enclosures and transcripts are absolute URLs."""

    def url(entry: CatalogEntry, relative: str) -> str:
        folder = entry.page.rsplit("/", 1)[0]
        return site.base_url + quote(f"{folder}/{relative}")

    items = []
    for entry in catalog.conferences:
        manifest = manifests.get(entry.slug)
        if manifest is None or manifest.audio is None:  # a silent recording has no podcast episode
            continue
        published = dt.datetime.combine(entry.date, dt.time(12, 0), tzinfo=dt.timezone.utc)
        items.append(
            {
                "entry": entry,
                "manifest": manifest,
                "page_url": site.base_url + quote(entry.page),
                "audio_url": url(entry, manifest.audio.path),
                "image_url": url(entry, manifest.video.poster),
                "transcripts": [
                    (url(entry, track.path), "text/vtt", track.lang) for track in manifest.captions
                ]
                + [
                    (url(entry, t.srt), "application/x-subrip", t.lang)
                    for t in (manifest.transcript,)
                    if t is not None
                ],
                "pub_date": email.utils.format_datetime(published),
            }
        )
    return environment().get_template("feed.xml").render(
        site=site, items=items, language=site.language, catalog_url=site.base_url + "index.html"
    )

