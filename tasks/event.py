"""An event: one recording of an evening, several talks cut from it, as its sidecar describes them (pure).

```yaml
event: {title: Soirée OpenLab, date: 2026-06-12, place: Clermont-Ferrand, description: ...}
talks:
  - {title: Premier exposé, speakers: [Alice], start: "0:02:10", end: "0:31:00.5", language: fr}
  - {title: Second talk, speakers: Bob, start: 1890, end: "1:02:03.5", language: en, slug: second-talk}
```

`event_sidecar` finds such a sidecar; `plan_event` checks it against the probed recording (times in order, inside
the recording, not overlapping, no empty talk, one slug each) and gives each talk its `ConferenceMeta` (its cut and
the event it belongs to), which the publish flow publishes as one conference each.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from confcast.tasks.errors import MetadataError
from confcast.tasks.media.cut import resolve_cut
from confcast.tasks.metadata import (
    MAX_DESCRIPTION_CHARS,
    MAX_TITLE_CHARS,
    Sidecar,
    build_meta,
    clean_text,
    clock_text,
    find_sidecar,
    load_sidecar,
    make_cut,
    slugify,
    validate_slug,
)
from confcast.tasks.models import ConferenceMeta, EventRef

MAX_PLACE_CHARS = 300


def describes_event(source: Path) -> bool:
    """Whether the recording's sidecar is about an event (`talks:` or `event:`), even a badly described one, which
    the event's publication then refuses; False without a sidecar or with one that cannot be read (a single talk's
    publication says why)."""
    path = find_sidecar(source)
    if path is None:
        return False
    try:
        sidecar = load_sidecar(path)
    except (MetadataError, OSError):
        return False
    return sidecar.talks is not None or sidecar.event is not None


def event_sidecar(source: Path) -> Sidecar | None:
    """The recording's sidecar when it describes an event's talks (`talks:`), else None."""
    path = find_sidecar(source)
    if path is None:
        return None
    sidecar = load_sidecar(path)
    if sidecar.talks is None:
        if sidecar.event is not None:
            raise MetadataError(f"sidecar {path}: event: needs its talks: (title, speakers, start, end for each)")
        return None
    # chapters and slides belong to one talk's time and slides: an event's would land on every talk
    whole = [key for key in ("chapters", "slides") if getattr(sidecar, key)]
    if whole:
        raise MetadataError(
            f"sidecar {path}: {', '.join(whole)} describe one talk, talks: several; leave them out (each talk of an "
            "event gets its chapters from its slide changes or its recording's chapters)"
        )
    single = [key for key in ("title", "speakers", "description", "slug", "start", "end") if getattr(sidecar, key)]
    if single:
        raise MetadataError(
            f"sidecar {path}: {', '.join(single)} describe one talk, talks: several; "
            "put them in the talks' entries (or the event: mapping)"
        )
    return sidecar


@dataclass(frozen=True)
class EventPlan:
    """What `confcast publish` publishes for an event: its talks (each with its cut and the event), in order."""

    event: EventRef
    talks: tuple[ConferenceMeta, ...]


def event_ref(sidecar: Sidecar, source: Path, today: dt.date | None = None) -> EventRef:
    spec = sidecar.event
    title = clean_text(spec.title if spec else source.stem.replace("_", " "), field="event title",
                       max_chars=MAX_TITLE_CHARS)
    if not title:
        raise MetadataError("the event's title is empty: give event: {title: ...} in the sidecar file")
    date = (spec.date if spec else None) or sidecar.date or today or dt.date.today()
    given = spec.slug if spec else None
    return EventRef(
        slug=validate_slug(given) if given is not None else slugify(title, date),
        title=title,
        date=date,
        place=clean_text((spec.place if spec else None) or "", field="event place", max_chars=MAX_PLACE_CHARS),
        description=clean_text((spec.description if spec else None) or "", field="event description",
                               max_chars=MAX_DESCRIPTION_CHARS),
    )


def plan_event(
    source: Path, sidecar: Sidecar, duration_s: float, *, default_language: str = "auto", today: dt.date | None = None
) -> EventPlan:
    """Each talk's metadata, checked: times parse, each end after its start and inside the recording, no talk
    empty, none overlapping the next, one slug each (and none the event's). MetadataError, naming the talk, else."""
    event = event_ref(sidecar, source, today)
    if not sidecar.talks:
        raise MetadataError("the sidecar's talks: is empty; list at least one talk (title, start, end)")
    language = sidecar.language or default_language
    talks = []
    for number, talk in enumerate(sidecar.talks, 1):
        where = f"talk {number} ({talk.title.strip()[:40]!r}): "
        try:
            cut = make_cut(talk.start, talk.end, where)
            assert cut is not None
            cut = resolve_cut(cut, duration_s, source.name, where)
            meta = build_meta(
                source,
                title=talk.title,
                date=event.date,
                speakers=talk.speakers or None,
                description=talk.description or "",
                language=talk.language or language,
                slug=talk.slug,
                default_language=default_language,
                event=event,
            )
        except MetadataError as error:
            message = str(error)
            raise MetadataError(message if message.startswith("talk ") else where + message) from None
        talks.append(meta.model_copy(update={"cut": cut}))
    ordered = sorted(talks, key=lambda meta: meta.cut.start_s)
    for before, after in zip(ordered, ordered[1:], strict=False):
        if after.cut.start_s < before.cut.end_s:
            raise MetadataError(
                f"talks {before.title!r} ({clock_text(before.cut.start_s)}-{clock_text(before.cut.end_s)}) and "
                f"{after.title!r} ({clock_text(after.cut.start_s)}-{clock_text(after.cut.end_s)}) overlap; "
                "a talk must end before the next one starts"
            )
    slugs = [meta.slug for meta in ordered]
    for slug in slugs:
        if slugs.count(slug) > 1:
            raise MetadataError(
                f"two talks would be published under the slug {slug!r} (same title and date); give each a slug:"
            )
    return EventPlan(event=event, talks=tuple(ordered))


def given_slugs(sidecar: Sidecar, plan: EventPlan) -> dict[str, str | None]:
    """For each talk's slug, the slug its sidecar entry gave (None: made from the title, so it follows its talk by
    recording and cut when the title is fixed, as a single talk's does)."""
    given = {talk.slug for talk in sidecar.talks or [] if talk.slug}
    return {talk.slug: talk.slug if talk.slug in given else None for talk in plan.talks}
