"""`confcast`: the command line. Settings are built here, once, and passed down.

Standard output carries only results (the page URL as the last line); progress and errors go to standard error.
The imports inside command bodies defer Prefect, and the flow modules that import it, until `prepare_prefect` (or
`configure_prefect`) has set Prefect's environment; everything else is imported here.
"""

from __future__ import annotations

import sys
from importlib import metadata as package_metadata
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from confcast.config.settings import Settings
from confcast.flows.bench import bench_app
from confcast.flows.cli_support import (
    ConfigOption,
    EndpointOption,
    ToOption,
    VerboseOption,
    WorkDirOption,
    check_before_flow,
    check_settings,
    fail,
    guarded,
    prepare_prefect,
    quick_storage,
    settings_or_fail,
    start_prefect_beside,
    unchanged_publication,
)
from confcast.flows.prefect_env import configure_prefect
from confcast.tasks.demo.sample import make_demo_talk
from confcast.tasks.errors import MetadataError
from confcast.tasks.event import event_sidecar, given_slugs, plan_event
from confcast.tasks.media.cut import cut_probe
from confcast.tasks.media.probe import probe_recording
from confcast.tasks.metadata import validate_slug
from confcast.tasks.notify import run_notice, send_webhook
from confcast.tasks.site.corrections import caption_language, reviewed_cues
from confcast.tasks.site.layout import event_page
from confcast.tasks.stagecache import remove_if_unused
from confcast.tasks.storage.seaweedfs import ensure_local_s3, running_local_s3, stop_local_s3
from confcast.tasks.transcription.doctor import diagnose

if TYPE_CHECKING:  # imported for real only where Prefect may be
    from confcast.flows.site_admin import QuickPublish

app = typer.Typer(
    name="confcast",
    help="Publish recorded conferences on the web: video, captions, transcript and a viewer page on object storage.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
local_s3_app = typer.Typer(help="The embedded local S3 server (SeaweedFS) used by the demo and by default.")
app.add_typer(local_s3_app, name="local-s3")
app.add_typer(bench_app, name="bench")


def print_version(value: bool) -> None:
    if value:
        typer.echo(f"confcast {package_metadata.version('confcast')}")
        raise typer.Exit()


@app.callback()
def confcast_options(
    version: Annotated[
        bool,
        typer.Option("--version", callback=print_version, is_eager=True, help="Print confcast's version and exit."),
    ] = False,
) -> None:
    """Options that come before any command."""


def run_publish(settings: Settings, verbose: bool, via_server: bool = False, **parameters: object) -> str:
    if event_sidecar(Path(str(parameters["source"])).expanduser()) is not None:  # an evening: several talks
        return run_publish_event(settings, verbose, via_server, parameters)
    meta, probe = check_before_flow(settings, parameters)
    if not via_server and not parameters.get("replace") and not parameters.get("retranscribe"):  # served: its settings
        unchanged_url = unchanged_publication(settings, meta, probe)
        if unchanged_url is not None:  # answered in about a second, without Prefect
            typer.echo("confcast: unchanged since its publication, nothing to do", err=True)
            return unchanged_url
        edited = metadata_only_publication(settings, verbose, meta, probe, parameters)
        if edited is not None:  # pages rewritten in a second or two, without Prefect's server
            typer.echo(f"confcast: {edited.notice}", err=True)
            return edited.page_url
    prepare_prefect(settings, verbose)
    if via_server:
        from confcast.flows.serve import publish_via_server

        return publish_via_server({**parameters, "source": str(Path(str(parameters["source"])).resolve())})
    from confcast.flows.publish import publish_conference

    return publish_conference(settings=settings, show_progress=True, **parameters)


EVENT_OPTIONS = ("title", "date", "speakers", "description", "language", "slug", "start", "end")


def run_publish_event(settings: Settings, verbose: bool, via_server: bool, parameters: dict) -> str:
    """Publish each talk of the recording's event sidecar (flows/event.py); the talks' page URLs, then the event
    page's (the last line). Everything is checked before Prefect starts; talks unchanged since their publication
    are answered from storage, and when only metadata changed the pages are rewritten without the flow."""
    given = [f"--{key.rstrip('s')}" for key in EVENT_OPTIONS if parameters.get(key)]
    if given:
        raise MetadataError(
            f"the sidecar describes an event's talks: give {', '.join(given)} in its talks: entries, not as options"
        )
    if parameters.get("vocabulary"):
        raise MetadataError("the sidecar describes an event's talks: give vocabulary: in the sidecar (it serves "
                            "every talk), not --vocabulary")
    check_settings(settings)
    source = Path(str(parameters["source"])).expanduser()
    probe = probe_recording(source)
    sidecar = event_sidecar(source)
    plan = plan_event(source, sidecar, probe.duration_s, default_language=settings.language)
    if via_server:  # served: its settings decide what is unchanged, so the event goes to the server
        return "\n".join(publish_event_via_server(source, settings, verbose, parameters))
    slugs = given_slugs(sidecar, plan) if sidecar is not None else {}
    urls: list[str | None] = []
    forced = parameters.get("replace") or parameters.get("retranscribe")
    edited = 0
    for talk in plan.talks:
        talk_probe = cut_probe(probe, talk.cut)
        url = None if forced else unchanged_publication(settings, talk, talk_probe)
        if url is None and not forced:
            quick = metadata_only_publication(settings, verbose, talk, talk_probe, {"slug": slugs.get(talk.slug)})
            url = quick.page_url if quick is not None else None
            edited += url is not None
        urls.append(url)
    quick = quick_storage(settings) if all(urls) else None
    if quick is not None:
        typer.echo(f"confcast: the event's {len(urls)} talks are unchanged since their publication"
                   + (f" ({edited} with new metadata: pages rewritten, no encode)" if edited else ", nothing to do"),
                   err=True)
        return "\n".join([*(url for url in urls if url), quick.public_url(event_page(plan.event.slug))])
    prepare_prefect(settings, verbose)
    from confcast.flows.event import publish_event

    return "\n".join(publish_event(
        source=str(source), settings=settings, show_progress=True,
        replace=bool(parameters.get("replace")), retranscribe=bool(parameters.get("retranscribe")),
    ))


def publish_event_via_server(source: Path, settings: Settings, verbose: bool, parameters: dict) -> list[str]:
    """The event as a run of the served publish-event deployment: every talk's slug checked on the served site (which
    may not be this --to) before the first is published; the talks' page URLs, then the event page's."""
    prepare_prefect(settings, verbose)
    from confcast.flows.serve import publish_event_via_server as run_event

    forced = {key: True for key in ("replace", "retranscribe") if parameters.get(key)}
    return run_event({"source": str(source.resolve()), **forced})


def metadata_only_publication(
    settings: Settings, verbose: bool, meta, probe, parameters: dict
) -> QuickPublish | None:
    """What was rewritten (the page URL, and a notice) once only the metadata, or the sidecar's chapters or slides
    PDF, of a published recording changed (flows/site_admin.py, publish_metadata_only); None when the run has
    more to do or the published state cannot be read: the flow then does it all. Once the rewrite has begun, its
    errors are the command's (one line), never hidden by a re-run."""
    try:
        quick = quick_storage(settings)
        if quick is None:
            return None
        prepare_prefect(settings, verbose)  # the site lock's module imports Prefect (no server is started)
        from confcast.flows.site_admin import publish_metadata_only
    except Exception:  # the run meets it again and says it properly
        return None
    slug = parameters.get("slug")
    done = publish_metadata_only(quick, settings, meta, probe, slug=str(slug) if slug else None,
                                 retranscribe=bool(parameters.get("retranscribe")))
    if done is not None and settings.webhook_url is not None:  # something was published: tell, as a run does
        problem = send_webhook(settings.webhook_url.get_secret_value(),
                               run_notice(probe.source.filename, meta, page_url=done.page_url))
        if problem:
            typer.echo(f"confcast: warning: {problem}", err=True)
    return done


@app.command()
def publish(
    source: Annotated[Path, typer.Argument(help="The recording: one video or audio file (MP4, MKV, WebM, WAV, ...).")],
    title: Annotated[
        Optional[str], typer.Option(help="Title of the talk (default: sidecar file, else file name).")
    ] = None,
    date: Annotated[
        Optional[str], typer.Option(help="Date of the talk, YYYY-MM-DD (default: sidecar, else today).")
    ] = None,
    speaker: Annotated[
        Optional[list[str]], typer.Option("--speaker", help="A speaker's name; repeat for several.")
    ] = None,
    description: Annotated[
        Optional[str], typer.Option(help="A short description shown on the page and in the feed.")
    ] = None,
    language: Annotated[
        Optional[str], typer.Option(help="Spoken language: auto (detect), fr, en, ... (default: settings, else auto).")
    ] = None,
    slug: Annotated[
        Optional[str],
        typer.Option(help="Folder name of the conference (default: date and title, e.g. 2026-04-04-mon-titre)."),
    ] = None,
    start: Annotated[
        Optional[str],
        typer.Option(help="Publish the talk from this time of the recording: seconds (62.5) or H:MM:SS.s."),
    ] = None,
    end: Annotated[
        Optional[str],
        typer.Option(help="... up to this time (default: the end of the recording), seconds or H:MM:SS.s."),
    ] = None,
    vocabulary: Annotated[
        Optional[list[str]],
        typer.Option(
            "--vocabulary",
            help="A word or name the talk uses that Whisper may misspell (a lab, a place, an acronym); repeat for "
            "several. Given to Whisper as a prompt with the site's vocabulary setting; replaces the sidecar's list.",
        ),
    ] = None,
    to: ToOption = None,
    endpoint_url: EndpointOption = None,
    model: Annotated[
        Optional[str], typer.Option(help="Whisper model: base (packaged) or a local model folder.")
    ] = None,
    engine: Annotated[
        Optional[str],
        typer.Option(help="Whisper engine: faster-whisper (fast, default) or openai-whisper (the reference, slower)."),
    ] = None,
    translate: Annotated[
        Optional[str],
        typer.Option(help="Also publish a machine-translated caption track: en (Whisper translates into English)."),
    ] = None,
    level: Annotated[
        Optional[bool],
        typer.Option(
            "--level/--no-level",
            help="Level quiet voices (questions from the room) for Whisper and in the published audio, the original "
            "mix published beside (default: on; setting level_audio).",
        ),
    ] = None,
    work_dir: WorkDirOption = None,
    config: ConfigOption = None,
    via_server: Annotated[
        bool,
        typer.Option(
            "--via-server", help="Run it on the Prefect server (PREFECT_API_URL) where `confcast serve` runs."
        ),
    ] = False,
    replace: Annotated[
        bool,
        typer.Option(
            "--replace",
            help="Replace the talk published under this slug even if it came from a different recording "
            "(without it, such a slug is refused).",
        ),
    ] = False,
    retranscribe: Annotated[
        bool,
        typer.Option(
            "--retranscribe",
            help="Run Whisper again on a published recording. Without it a published transcript is kept when it is "
            "still right (same settings, or reviewed by a person); with it, reviewed captions stay the default "
            "track and the new automatic ones are published beside them.",
        ),
    ] = False,
    verbose: VerboseOption = False,
) -> None:
    """Publish one recording: transcode, transcribe, caption, and upload with its page.

    A sidecar file beside the recording (talk.mp4.yaml, talk.yaml or .json) may hold title, date, speakers,
    description, language, slug and vocabulary; options override it. Prints the page's public URL as the last line.

    An evening's recording: a sidecar with `event:` and `talks:` (title, speakers, start, end, ... each) publishes
    every talk as its own conference, cut at its times, and an event page; the talks' URLs are printed, then the
    event page's as the last line.
    """
    settings = settings_or_fail(
        config,
        storage_url=to,
        s3_endpoint_url=endpoint_url,
        work_dir=work_dir,
        whisper_model=model,
        whisper_engine=engine,
        translate=translate,
        level_audio=level,
    )
    url = guarded(
        verbose,
        lambda: run_publish(
            settings,
            verbose,
            via_server,
            source=str(source),
            title=title,
            date=date,
            speakers=speaker,
            description=description,
            language=language,
            slug=slug,
            start=start,
            end=end,
            vocabulary=vocabulary,
            replace=replace,
            retranscribe=retranscribe,
        ),
    )
    typer.echo(url)


@app.command()
def demo(
    to: ToOption = None,
    endpoint_url: EndpointOption = None,
    work_dir: WorkDirOption = None,
    config: ConfigOption = None,
    verbose: VerboseOption = False,
) -> None:
    """Make a sample conference (real French speech over slides) and publish it; prints the page URL.

    With no --to and no configured storage, it starts the embedded local S3 server if it is not running.
    """
    settings = settings_or_fail(config, storage_url=to, s3_endpoint_url=endpoint_url, work_dir=work_dir)

    def make_and_publish() -> str:
        prefect_ready = start_prefect_beside(settings, verbose)  # a first run migrates its database meanwhile
        typer.echo("confcast: making the sample conference (real French speech over slides, ffmpeg)", err=True)
        sample = make_demo_talk(settings.work_path / "demo")
        prefect_ready()
        return run_publish(
            settings,
            verbose,
            source=str(sample.path),
            title=sample.title,
            description="Une conférence d'exemple faite par confcast : diapositives et voix réelles. "
            + sample.description,
            language="auto",  # shows detection; the sample is French
            slug="conference-de-demonstration",
            replace=True,  # the demo's own slug: a newer sample replaces the older one
        )

    typer.echo(guarded(verbose, make_and_publish))


@app.command("rebuild-site")
def rebuild_site(
    to: ToOption = None,
    endpoint_url: EndpointOption = None,
    work_dir: WorkDirOption = None,
    config: ConfigOption = None,
    verbose: VerboseOption = False,
) -> None:
    """Regenerate every conference page, the catalog, the feed and the search data from the manifests in storage.

    Needs nothing but the storage: run it after a template change or an upgrade. Prints the catalog's URL.
    """
    settings = settings_or_fail(config, storage_url=to, s3_endpoint_url=endpoint_url, work_dir=work_dir)

    def run() -> str:
        prepare_prefect(settings, verbose)
        from confcast.flows.site_admin import open_site
        from confcast.flows.site_admin import rebuild_site as rebuild_flow
        report = rebuild_flow(settings=settings)
        for problem in report.skipped:
            typer.echo(f"confcast: left out {problem}", err=True)
        typer.echo(f"confcast: rebuilt {len(report.pages)} conference page(s), catalog, feed and search", err=True)
        storage, _site = open_site(settings)
        return storage.public_url("index.html")

    typer.echo(guarded(verbose, run))


@app.command()
def unpublish(
    slug: Annotated[str, typer.Argument(help="The conference's folder name, as in its page URL.")],
    to: ToOption = None,
    endpoint_url: EndpointOption = None,
    work_dir: WorkDirOption = None,
    config: ConfigOption = None,
    verbose: VerboseOption = False,
) -> None:
    """Remove a published conference: the catalog, feed and search forget it first, then its files are deleted."""
    settings = settings_or_fail(config, storage_url=to, s3_endpoint_url=endpoint_url, work_dir=work_dir)

    def run() -> int:
        validate_slug(slug)  # refuse a bad slug before Prefect's start-up
        prepare_prefect(settings, verbose)
        from confcast.flows.site_admin import unpublish as unpublish_flow
        return unpublish_flow(slug, settings=settings)

    deleted = guarded(verbose, run)
    typer.echo(f"unpublished {slug} ({deleted} files deleted)")


@app.command()
def captions(
    slug: Annotated[str, typer.Argument(help="The conference's folder name, as in its page URL.")],
    replace: Annotated[
        Optional[Path],
        typer.Option("--replace", help="A corrected WebVTT file (for example the published one, edited)."),
    ] = None,
    add: Annotated[
        Optional[Path],
        typer.Option("--add", help="A WebVTT file in a language the conference has no track in (with --lang)."),
    ] = None,
    lang: Annotated[
        Optional[str],
        typer.Option(help="The track's language, such as de or pt-BR (default for --replace: the transcript's)."),
    ] = None,
    to: ToOption = None,
    endpoint_url: EndpointOption = None,
    work_dir: WorkDirOption = None,
    config: ConfigOption = None,
    verbose: VerboseOption = False,
) -> None:
    """Replace a conference's captions with a reviewed WebVTT file, or add a track in a new language, without
    transcribing again.

    The file is validated (line numbers in the errors); captions, HLS subtitles, transcript files (TXT, SRT, JSON),
    page, feed and search data are republished, and the track is marked "reviewed". Voice tags (<v Alice>) become
    speaker labels; in the transcript's language, the words are timed on the recording by the Whisper model.
    """
    settings = settings_or_fail(config, storage_url=to, s3_endpoint_url=endpoint_url, work_dir=work_dir)

    def run() -> str:
        validate_slug(slug)
        if (replace is None) == (add is None):
            raise MetadataError("give one WebVTT file: --replace FILE (correct a track) or --add FILE --lang CODE")
        if add is not None and lang is None:
            raise MetadataError("--add needs the track's language: give --lang, for example --lang de")
        if lang is not None:
            caption_language(lang)
        source = replace if replace is not None else add
        try:
            text = source.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise MetadataError(f"{source}: cannot read it as UTF-8 text ({error}); give a WebVTT file") from None
        reviewed_cues(text, source.name, float("inf"))  # refuse a broken file before Prefect's start-up
        prepare_prefect(settings, verbose)
        from confcast.flows.site_admin import replace_captions_flow

        return replace_captions_flow(slug, text, source.name, lang, settings=settings, add=add is not None)

    typer.echo(f"reviewed captions published for {slug}: {guarded(verbose, run)}")


@app.command()
def edit(
    slug: Annotated[str, typer.Argument(help="The conference's folder name, as in its page URL.")],
    title: Annotated[Optional[str], typer.Option(help="New title.")] = None,
    date: Annotated[Optional[str], typer.Option(help="New date, YYYY-MM-DD.")] = None,
    speaker: Annotated[
        Optional[list[str]], typer.Option("--speaker", help="A speaker's name; repeat for several (replaces them all).")
    ] = None,
    description: Annotated[Optional[str], typer.Option(help="New description.")] = None,
    new_slug: Annotated[
        Optional[str],
        typer.Option("--slug", help="Move the talk to this folder; its old address sends viewers on."),
    ] = None,
    to: ToOption = None,
    endpoint_url: EndpointOption = None,
    work_dir: WorkDirOption = None,
    config: ConfigOption = None,
    verbose: VerboseOption = False,
) -> None:
    """Change a published talk's title, date, speakers, description or slug, from the storage alone.

    No recording, encode, Whisper or media upload: the page, manifest, catalog, feed and search are rewritten in
    seconds. Prints the page's public URL as the last line.
    """
    settings = settings_or_fail(config, storage_url=to, s3_endpoint_url=endpoint_url, work_dir=work_dir)

    def run() -> str:
        validate_slug(slug)  # refuse a bad slug before importing Prefect
        configure_prefect(settings.work_path)  # the site lock's module imports Prefect (no server is started)
        from confcast.flows.site_admin import edit_talk
        from confcast.tasks.site.edit import MetaChanges

        changes = MetaChanges(
            title=title,
            date=date,
            speakers=tuple(speaker) if speaker else None,
            description=description,
            slug=new_slug,
        )
        return edit_talk(slug, changes, settings)

    typer.echo(guarded(verbose, run))


@app.command()
def review(
    slug: Annotated[str, typer.Argument(help="The conference's folder name, as in its page URL.")],
    lang: Annotated[
        Optional[str], typer.Option(help="Which caption track (default: the transcript's language).")
    ] = None,
    open_page: Annotated[
        bool, typer.Option("--open", help="Open the editor in this machine's web browser.")
    ] = False,
    to: ToOption = None,
    endpoint_url: EndpointOption = None,
    work_dir: WorkDirOption = None,
    config: ConfigOption = None,
    verbose: VerboseOption = False,
) -> None:
    """Review a conference's captions in a local editor: the video, the cues beside it, Whisper's doubtful words.

    Prints the editor's address (127.0.0.1, a random port and a token made for this session: only this machine can
    open it) and serves it until Ctrl-C. Save publishes the edited cues as `captions --replace` does: validated,
    then captions, transcript files, page and search republished, the track marked "reviewed".
    """
    settings = settings_or_fail(config, storage_url=to, s3_endpoint_url=endpoint_url, work_dir=work_dir)

    def run() -> None:
        validate_slug(slug)
        prepare_prefect(settings, verbose)
        from confcast.flows.review import serve_review

        def announce(address: str) -> None:
            typer.echo(address)
            typer.echo(f"confcast: reviewing the captions of {slug} at the address above; Ctrl-C stops", err=True)

        serve_review(settings, slug, lang, announce=announce, open_browser=open_page, verbose=verbose)

    guarded(verbose, run)


@app.command()
def serve(
    inbox: Annotated[
        Optional[str],
        typer.Option(
            help="Inbox that scan-inbox watches: a folder, file:// URL or s3://bucket/prefix (else inbox_url)."
        ),
    ] = None,
    cron: Annotated[Optional[str], typer.Option(help="When scan-inbox runs (cron; default every 15 minutes).")] = None,
    to: ToOption = None,
    endpoint_url: EndpointOption = None,
    work_dir: WorkDirOption = None,
    config: ConfigOption = None,
    verbose: VerboseOption = False,
) -> None:
    """Run the deployments publish-conference, publish-event, rebuild-site and (with an inbox) scan-inbox here.

    Uses the Prefect server of PREFECT_API_URL (start one with `prefect server start`); trigger runs with
    `confcast publish --via-server` or `prefect deployment run publish-conference/publish-conference`.
    """
    settings = settings_or_fail(
        config, storage_url=to, s3_endpoint_url=endpoint_url, work_dir=work_dir, inbox_url=inbox, inbox_cron=cron
    )

    def run() -> None:
        configure_prefect(settings.work_path)
        from confcast.flows.serve import serve_deployments

        serve_deployments(settings)

    guarded(verbose, run)


@app.command("scan-inbox")
def scan_inbox_command(
    inbox: Annotated[
        str,
        typer.Argument(
            help="The inbox: a folder, a file:// URL, or s3://bucket/prefix (private; the storage's endpoint and keys)."
        ),
    ],
    to: ToOption = None,
    endpoint_url: EndpointOption = None,
    work_dir: WorkDirOption = None,
    config: ConfigOption = None,
    verbose: VerboseOption = False,
) -> None:
    """Scan an inbox once: publish complete recordings, file them in done/ or failed/; prints each page URL."""
    settings = settings_or_fail(config, storage_url=to, s3_endpoint_url=endpoint_url, work_dir=work_dir)

    def run() -> list[str]:
        prepare_prefect(settings, verbose)
        from confcast.flows.inbox import scan_inbox
        return scan_inbox(inbox=inbox, settings=settings)

    for url in guarded(verbose, run):
        typer.echo(url)


@app.command()
def cleanup(work_dir: WorkDirOption = None, config: ConfigOption = None) -> None:
    """Remove the work folders that failed runs kept for a retry (never one a running publication uses)."""
    settings = settings_or_fail(config, work_dir=work_dir)
    runs = settings.work_path / "runs"
    folders = sorted(p for p in runs.iterdir() if p.is_dir()) if runs.is_dir() else []
    freed, removed = 0, 0
    for folder in folders:
        size = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
        if remove_if_unused(folder):
            freed, removed = freed + size, removed + 1
    typer.echo(f"removed {removed} work folder(s) of {len(folders)}, {freed / 1024**2:.1f} MiB freed")


@app.command()
def doctor(work_dir: WorkDirOption = None, config: ConfigOption = None) -> None:
    """Say which Whisper engines work here on cpu and cuda and, when one does not, why and what to install.

    Exits 1 when the configured engine and device (or ffmpeg, or the weights) do not work."""
    settings = settings_or_fail(config, work_dir=work_dir)
    problems = []
    for finding in diagnose(settings):
        typer.echo(finding.line())
        if finding.essential and not finding.ok:
            problems.append(finding)
    if len(problems) == 1:
        fail(problems[0].text())
    if problems:
        fail(f"{len(problems)} problems: {', '.join(p.topic for p in problems)} (see above)")


@local_s3_app.command("start")
def local_s3_start(work_dir: WorkDirOption = None, config: ConfigOption = None) -> None:
    """Start the embedded S3 server in the background (or report the running one); prints its endpoint."""
    settings = settings_or_fail(config, work_dir=work_dir)
    server = guarded(False, lambda: ensure_local_s3(settings.work_path / "seaweedfs", settings.local_s3_port))
    typer.echo(server.endpoint_url)


@local_s3_app.command("stop")
def local_s3_stop(work_dir: WorkDirOption = None, config: ConfigOption = None) -> None:
    """Stop the embedded S3 server if it is running."""
    settings = settings_or_fail(config, work_dir=work_dir)
    server = running_local_s3(settings.work_path / "seaweedfs", settings.local_s3_port)
    if server is None:
        typer.echo("confcast: the local S3 server is not running", err=True)
        return
    stop_local_s3(server)
    typer.echo(f"stopped {server.endpoint_url}")


@local_s3_app.command("status")
def local_s3_status(work_dir: WorkDirOption = None, config: ConfigOption = None) -> None:
    """Say whether the embedded S3 server is running; exits 1 when it is not."""
    settings = settings_or_fail(config, work_dir=work_dir)
    server = running_local_s3(settings.work_path / "seaweedfs", settings.local_s3_port)
    if server is None:
        typer.echo("not running")
        raise typer.Exit(1)
    typer.echo(f"running at {server.endpoint_url} (pid {server.pid}, data in {server.data_dir})")


def main() -> None:
    app(prog_name="confcast")


if __name__ == "__main__":
    sys.exit(main())
