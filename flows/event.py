"""The `publish-event` flow: the talks of one recording of an evening, each published as its own conference.

The sidecar (tasks/event.py) is checked against the probed recording before anything is published (bad times,
overlaps, a slug that holds another recording's talk: one error, nothing published); then each talk goes through the
`publish-conference` flow as a subflow, cut at its times: its own encode of its own part of the recording, its own
Whisper run on its own audio (in its own language), its own page, captions, transcript, feed item and search
passages. The event's page (events/<slug>/index.html) is written with the site's lists each time a talk is
published (tasks/site/publish.py, write_event_pages). An unchanged talk costs nothing; a talk whose times changed is
encoded again alone.
"""

from __future__ import annotations

from pathlib import Path

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact
from prefect.task_runners import ThreadPoolTaskRunner

from confcast.config.settings import Settings, load_settings
from confcast.flows.hooks import notify_webhook
from confcast.flows.publish import publish_conference
from confcast.flows.stage_tasks import check_published, probe_recording
from confcast.flows.targets import resolve_target
from confcast.tasks.errors import MetadataError
from confcast.tasks.event import EventPlan, event_sidecar, given_slugs, plan_event
from confcast.tasks.markdown import escape_markdown
from confcast.tasks.models import ConferenceMeta
from confcast.tasks.site.layout import event_page

EVENT_LINKS_DESCRIPTION = "Published event pages"


def talk_parameters(source: str, talk: ConferenceMeta, sidecar_slug: str | None) -> dict[str, object]:
    """The publish-conference parameters of one talk of an event (JSON-able: they travel as Prefect parameters).
    The slug goes only when the sidecar gave one: a slug made from the title follows its talk (by recording and
    cut) when the title is fixed later, as for a single talk."""
    assert talk.cut is not None and talk.event is not None
    return {
        "source": source,
        "title": talk.title,
        "date": talk.date.isoformat(),
        "speakers": list(talk.speakers),
        "description": talk.description,
        "language": talk.language,
        "slug": sidecar_slug,
        "start": talk.cut.start_s,
        "end": talk.cut.end_s,
        "event": talk.event.model_dump(mode="json"),
    }


def event_talks(source: str, plan: EventPlan, given_slugs: dict[str, str | None]) -> list[dict[str, object]]:
    return [talk_parameters(source, talk, given_slugs.get(talk.slug)) for talk in plan.talks]


def load_event(source_path: Path, duration_s: float, settings: Settings) -> tuple[EventPlan, dict[str, str | None]]:
    """The event's plan and, for each talk's slug, the slug its sidecar entry gave (None: made from the title)."""
    sidecar = event_sidecar(source_path)
    if sidecar is None:
        raise MetadataError(f"{source_path}: its sidecar file has no talks: list; publish it as one talk")
    plan = plan_event(source_path, sidecar, duration_s, default_language=settings.language)
    return plan, given_slugs(sidecar, plan)


# A refused or failed evening tells the webhook, as a talk does (each talk's own run tells how it ended).
@flow(
    name="publish-event",
    task_runner=ThreadPoolTaskRunner(max_workers=3),
    validate_parameters=False,
    on_failure=[notify_webhook],
)
def publish_event(
    source: str,
    settings: Settings | None = None,
    show_progress: bool = False,
    replace: bool = False,
    retranscribe: bool = False,
) -> list[str]:
    """Publish every talk of the recording's event sidecar; returns the talks' page URLs, then the event page's."""
    settings = settings or load_settings()
    source_path = Path(source).expanduser()
    probe = probe_recording(source_path)
    plan, given = load_event(source_path, probe.duration_s, settings)
    target = resolve_target(settings)
    for talk in plan.talks:  # every talk's slug is checked before the first is published
        check_published(target, talk.slug, probe.source.sha256, replace, given[talk.slug] is not None, talk.cut)
    urls = []
    for parameters in event_talks(source, plan, given):
        get_run_logger().info("Talk %s", parameters["title"])
        urls.append(
            publish_conference(
                **parameters, settings=settings, show_progress=show_progress, replace=replace,
                retranscribe=retranscribe,
            )
        )
    urls.append(target.open().public_url(event_page(plan.event.slug)))
    create_markdown_artifact(event_links_markdown(plan, urls), description=EVENT_LINKS_DESCRIPTION)
    return urls


def event_links_markdown(plan: EventPlan, urls: list[str]) -> str:
    """The talks' pages, then the event's, one markdown link a line (titles escaped: user text shows as typed);
    `confcast publish --via-server` reads the addresses back (flows/serve.py)."""
    titles = [talk.title for talk in plan.talks] + [plan.event.title]
    return "\n".join(f"- [{escape_markdown(title)}]({url})" for title, url in zip(titles, urls, strict=True))
