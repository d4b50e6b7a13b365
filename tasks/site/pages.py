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

from confcast.tasks.models import EventRef, Segment
from confcast.tasks.site.assets import hlsjs_key
from confcast.tasks.site.layout import CaptionTrack, Catalog, CatalogEntry, Manifest, conference_prefix, event_page

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
        "audio_original": "Audio original, voix non nivelées (M4A)",
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
        "chapters": "Chapitres",
        "slides": "Diapositives (PDF)",
        "follow": "Suivre la lecture",
        "transcript_help": "Chaque passage est un bouton : l'activer lance la vidéo à ce moment. "
        "Les flèches haut et bas passent d'un passage à l'autre.",
        "text": "texte",
        "search_label": "Rechercher dans ce qui a été dit",
        "search_button": "Rechercher",
        "search_hint": "Trouve les conférences dont le titre, les orateurs, la description ou les paroles "
        "contiennent ces mots (ou leurs formes : pluriel, féminin, conjugaison), et les moments où ils sont dits.",
        "search_results": "Résultats de la recherche",
        "event_talks": "Les exposés",
        "part_of": "Fait partie de",
        "place": "Lieu",
        "in_recording": "dans l'enregistrement",
        "search_filters": "Filtres",
        "filter_language": "Langue",
        "filter_speaker": "Orateur",
        "filter_year": "Année",
        "filter_any": "Tous",
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
        "audio_original": "Original audio, voices not levelled (M4A)",
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
        "chapters": "Chapters",
        "slides": "Slides (PDF)",
        "follow": "Follow playback",
        "transcript_help": "Each passage is a button: activating it plays the video from that moment. "
        "The up and down arrows move between passages.",
        "text": "text",
        "search_label": "Search what was said",
        "search_button": "Search",
        "search_hint": "Finds the talks whose title, speakers, description or speech hold these words (or their "
        "forms: plural, conjugated), and the moments they are said.",
        "search_results": "Search results",
        "event_talks": "Talks",
        "part_of": "Part of",
        "place": "Place",
        "in_recording": "in the recording",
        "search_filters": "Filters",
        "filter_language": "Language",
        "filter_speaker": "Speaker",
        "filter_year": "Year",
        "filter_any": "Any",
    },
}

# Messages of the catalog's search script ({n}: a number of talks, {moments}: of moments shown).
SEARCH_STRINGS = {
    "fr": {
        "searching": "Recherche…",
        "none": "Aucune conférence ne contient ces mots.",
        "found_one": "{n} conférence trouvée ({moments} moment(s) montré(s)).",
        "found_many": "{n} conférences trouvées ({moments} moment(s) montré(s)).",
        "more": "Cette conférence contient d'autres passages avec ces mots.",
        "more_results": "D'autres passages correspondent : précisez la recherche ou filtrez-la.",
        "failed": "La recherche n'a pas pu charger ses données ; réessayez plus tard.",
    },
    "en": {
        "searching": "Searching…",
        "none": "No talk holds these words.",
        "found_one": "{n} talk found ({moments} moment(s) shown).",
        "found_many": "{n} talks found ({moments} moment(s) shown).",
        "more": "This talk has more passages with these words.",
        "more_results": "More passages match: narrow the search or filter it.",
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
        event_url=f"../../{quote(event_page(manifest.event.slug))}" if manifest.event else None,
        page_url=f"{site.base_url}{quote(conference_prefix(manifest.slug))}/{quote(manifest.page)}",
        script=script("player.js"),
        hlsjs=f"../../{hlsjs_key()}" if manifest.video.hls else None,  # the page is conferences/<slug>/index.html
    )


@dataclass(frozen=True)
class CatalogGroup:
    """Talks shown together on the catalog page: an event's (event set), or talks of no event in a row."""

    entries: tuple[CatalogEntry, ...]
    event: str | None = None
    event_title: str = ""
    event_page: str = ""


def catalog_groups(entries: Sequence[CatalogEntry]) -> list[CatalogGroup]:
    """The catalog's talks grouped: an event's talks together (in their order in the recording), where its newest
    talk comes in the catalog's order; other talks in that order between them. Pure."""
    groups: list[CatalogGroup] = []
    seen: set[str] = set()
    loose: list[CatalogEntry] = []
    for entry in entries:
        if entry.event is None:
            loose.append(entry)
            continue
        if entry.event in seen:
            continue
        seen.add(entry.event)
        if loose:
            groups.append(CatalogGroup(entries=tuple(loose)))
            loose = []
        talks = sorted((e for e in entries if e.event == entry.event), key=lambda e: (e.start_s or 0.0, e.slug))
        groups.append(CatalogGroup(entries=tuple(talks), event=entry.event, event_title=entry.event_title or "",
                                   event_page=event_page(entry.event)))
    if loose:
        groups.append(CatalogGroup(entries=tuple(loose)))
    return groups


def render_catalog_page(catalog: Catalog, site: SiteInfo) -> str:
    interface = site.language
    return environment().get_template("catalog.html").render(
        site=site,
        t=STRINGS[interface],
        entries=catalog.conferences,
        groups=catalog_groups(catalog.conferences),
        date_label=lambda entry: human_date(entry.date, interface),
        search_strings={**SEARCH_STRINGS[interface], "languages": {
            code: names.get(interface, code) for code, names in LANGUAGE_NAMES.items()
        }},
        script=script("search.js"),
    )


def render_event_page(event: EventRef, talks: Sequence[CatalogEntry], site: SiteInfo) -> str:
    """An event's page (events/<slug>/index.html): its title, date, place and description, and its talks in their
    order in the recording, each with its times, speakers and poster, linking to the talk's page."""
    interface = site.language
    return environment().get_template("event.html").render(
        site=site,
        t=STRINGS[interface],
        event=event,
        talks=sorted(talks, key=lambda e: (e.start_s or 0.0, e.slug)),
        date_label=human_date(event.date, interface),
        page_url=f"{site.base_url}{quote(event_page(event.slug))}",
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
                "chapters_url": url(entry, manifest.chapters.json_) if manifest.chapters is not None else None,
            }
        )
    return environment().get_template("feed.xml").render(
        site=site, items=items, language=site.language, catalog_url=site.base_url + "index.html"
    )

