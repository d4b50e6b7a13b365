"""`confcast bench`: measurements printed as tables, every compared variant measured side by side in one run.

The imports inside command bodies defer Prefect, and the flow modules that import it, until its environment is set
(flows/cli_support.py); everything else is imported here.
"""

from __future__ import annotations

import datetime as dt
import os
import shlex
import shutil
import sys
import tempfile
from pathlib import Path

import typer

from confcast.flows.cli_support import (
    EndpointOption,
    ToOption,
    check_before_flow,
    fail,
    guarded,
    prepare_prefect,
    settings_or_fail,
)
from confcast.flows.prefect_env import configure_prefect
from confcast.tasks.bench import cores as cores_bench
from confcast.tasks.bench import decoding as decoding_bench
from confcast.tasks.bench import edit as edit_bench
from confcast.tasks.bench import levelling as levelling_bench
from confcast.tasks.bench import media as media_bench
from confcast.tasks.bench import pipeline as bp
from confcast.tasks.bench import search as search_bench
from confcast.tasks.bench import vocabulary as vocabulary_bench
from confcast.tasks.bench import whisper as whisper_bench
from confcast.tasks.bench.uploads import site_listing
from confcast.tasks.site.layout import file_sha256
from confcast.tasks.storage.factory import open_storage
from confcast.tasks.storage.seaweedfs import ensure_local_s3, with_local_credentials
from confcast.tasks.transcription.engine import pick_threads
from confcast.tasks.transcription.model_lookup import packaged_base_dir

bench_app = typer.Typer(
    help="Measure speed, memory and accuracy; prints a table with ratios (see docs/performance.md). "
    "With no subcommand: the whole pipeline (`confcast bench pipeline` with its defaults)."
)

PIPELINE_MINUTES = "2,10,30"
PIPELINE_SIZE = "640x360"
BENCH_BUCKET = "confcast-bench"


@bench_app.callback(invoke_without_command=True)
def bench_default(ctx: typer.Context) -> None:
    """Measure speed, memory and accuracy. With no subcommand: the whole pipeline on 2, 10 and 30-minute talks."""
    if ctx.invoked_subcommand is None:
        run_pipeline_bench(PIPELINE_MINUTES, PIPELINE_SIZE, None, None, None, keep=False)


@bench_app.command("search")
def bench_search(
    talks: int = typer.Option(100, help="Talks on the synthetic site."),
    minutes: int = typer.Option(120, help="Length of each talk, in minutes."),
    query: list[str] = typer.Option(
        None, "--query", help="Words to search (default: a frequent, a middling, a rare one)."
    ),
) -> None:
    """The catalog's search, Pagefind vs the hand-written index it replaced: build time, a publication's cost, and
    what a viewer's browser loads for a first search (measured in Chromium)."""
    try:
        rows, figures = search_bench.measure(talks, minutes, tuple(query or ()))
    except RuntimeError as error:
        fail(str(error))
    typer.echo(search_bench.table(rows, figures))


@bench_app.command("transcode")
def bench_transcode(
    seconds: float = typer.Option(120.0, help="Length of the generated 1080p source, in seconds."),
    work_dir: str = typer.Option(None, help="Keep the source and outputs in this folder (default: a temporary one)."),
) -> None:
    """The single-decode HLS ladder vs the same ladder as one ffmpeg process per rendition (equal settings)."""
    typer.echo(f"confcast: making a {seconds:g} s 1080p source, then encoding the ladder three ways", err=True)
    rows, probe = media_bench.measure(seconds, Path(work_dir) if work_dir else None)
    typer.echo(media_bench.table(rows, probe))


@bench_app.command("transcribe")
def bench_transcribe(
    english_repeat: int = typer.Option(
        3, min=0, help="Times the LibriVox clips (18 s with pauses) are joined; 0 skips."
    ),
    fleurs: bool = typer.Option(True, help="Real French: the ten FLEURS utterances (110 s), every variant."),
    talk_minutes: float = typer.Option(
        1.5, min=0.0, help="Length of espeak-ng's French talk every variant runs on; 0 skips."
    ),
    growth_minutes: str = typer.Option(
        "10,60", help="Recordings (minutes, a minute of speech in every five) for faster-whisper int8's memory as a "
        "recording grows; empty skips."
    ),
    work_dir: str = typer.Option(None, help="Model cache folder (default: ~/.cache/confcast)."),
    decoding: bool = typer.Option(
        True, help="Decoding rows on the FLEURS clips: beam size, temperature fallback, previous text, VAD "
        "threshold, batched inference (faster-whisper int8), each as a ratio to the default."
    ),
    decoding_threads: int = typer.Option(0, min=0, help="Threads of the decoding rows; 0: every core."),
    decoding_rounds: int = typer.Option(2, min=1, help="Interleaved rounds of the decoding rows (each keeps its "
                                        "fastest)."),
    vocabulary: bool = typer.Option(
        False, "--vocabulary", help="Then FLEURS with and without a vocabulary prompt (its proper nouns, a site's "
        "words): WER and recall of the proper nouns, as a talk and one utterance at a time. Alone: add "
        "--no-fleurs --english-repeat 0 --talk-minutes 0 --growth-minutes ''."
    ),
) -> None:
    """faster-whisper int8 and float32 vs openai-whisper fp32 on the same weights and audio: speed, memory, WER;
    then the decoding rows."""
    try:
        growth = bp.parse_minutes(growth_minutes) if growth_minutes.strip() else []
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None
    cache = Path(work_dir or "~/.cache/confcast").expanduser()
    measures = whisper_bench.run_bench(
        english_repeat=english_repeat,
        fleurs=fleurs,
        talk_minutes=talk_minutes,
        growth_minutes=growth,
        cache_dir=cache,
        echo=lambda line: typer.echo(line, err=True),
    )
    if measures:
        typer.echo(whisper_bench.table(measures))
    if vocabulary:
        rows = vocabulary_bench.run_bench(cache, echo=lambda line: typer.echo(line, err=True))
        typer.echo(vocabulary_bench.table(rows))
    if decoding:
        run_decoding_bench(cache, decoding_threads, decoding_rounds, None)


def run_decoding_bench(cache: Path, threads: int, rounds: int, count: int | None) -> None:
    """The decoding rows (tasks/bench/decoding.py) on the first ``count`` FLEURS utterances (all when None)."""
    threads = pick_threads(threads)
    load_before = bp.load_now()
    with tempfile.TemporaryDirectory(prefix="confcast-bench-") as tmp:
        audio, rows = decoding_bench.run_bench(
            cache_dir=cache, folder=Path(tmp), threads=threads, count=count, rounds=rounds,
            echo=lambda line: typer.echo(line, err=True),
        )  # fmt: skip
    typer.echo("")
    typer.echo(decoding_bench.table(audio, rows, threads, bp.machine_line(load_before)))


@bench_app.command("cores")
def bench_cores(
    seconds: float = typer.Option(300.0, min=5.0, help="Length of the slides-and-speaker talk, in seconds."),
    size: str = typer.Option("1920x1080", help="Its picture size, WIDTHxHEIGHT."),
    only: str = typer.Option("", help="Only the rows whose numbers are given, e.g. 1,3 (default: every row)."),
    work_dir: str = typer.Option(None, help="Work folder: the talk, the model (default: the settings' work folder)."),
) -> None:
    """The transcode and Whisper side by side under several thread splits, x264 settings and batched Whisper:
    time over the talk's length, Whisper's WER, each rung's SSIM against the source."""
    try:
        video_size = bp.parse_size(size)
        rows = sorted({int(part) for part in only.replace(" ", "").split(",") if part})
    except ValueError as error:
        fail(str(error))
        return
    settings = settings_or_fail(None, work_dir=work_dir)
    work = settings.work_path
    packaged_base_dir(work)  # the model assembled once, outside the timings
    cores = pick_threads(0)
    variants = cores_bench.variants(cores)
    if any(row < 1 or row > len(variants) for row in rows):
        fail(f"--only: give row numbers from 1 to {len(variants)}")
        return
    chosen = [variants[row - 1] for row in rows] if rows else list(variants)
    load_before = bp.load_now()
    typer.echo(f"confcast: making (or reusing) a {seconds:g} s slides-and-speaker talk, {size}", err=True)
    talk, reference = cores_bench.make_talk(work / "bench" / "cores", seconds, video_size)
    measures = []
    with tempfile.TemporaryDirectory(prefix="confcast-bench-cores-", dir=work) as tmp:
        for index, variant in enumerate(chosen):
            typer.echo(f"bench: cores: {variant.label}", err=True)
            out = Path(tmp) / str(index)
            measures.append(cores_bench.run_variant(variant, talk, reference, out, work))
            shutil.rmtree(out, ignore_errors=True)
            typer.echo(cores_bench.table(measures[-1:], "").splitlines()[2], err=True)
    setup = (f"talk: {seconds:g} s, {size}, slides and a speaker inset, FLEURS French; {bp.machine_line(load_before)}; "
             f"command: `confcast bench cores --seconds {seconds:g} --size {size}"
             + (f" --only {','.join(map(str, rows))}" if rows else "") + "`")  # fmt: skip
    typer.echo(cores_bench.table(measures, setup))


@bench_app.command("levelling")
def bench_levelling(
    levels: str = typer.Option("20,30,40,50", help="dB the question is lowered by, separated by commas."),
    size: str = typer.Option("1280x720", help="Picture under the 40 dB talk, WIDTHxHEIGHT, for the CPU cost."),
    work_dir: str = typer.Option(None, help="Model cache folder (default: ~/.cache/confcast)."),
) -> None:
    """A question from the room lowered 20-50 dB in real French speech (FLEURS): its words transcribed and its
    loudness in the podcast, levelling off and on, and levelling's CPU cost; then music and applause (pumping)."""
    try:
        lowered = [float(part) for part in levels.split(",") if part.strip()]
    except ValueError:
        raise typer.BadParameter(f"give numbers of dB separated by commas, not {levels!r}") from None
    if not lowered or any(not 0 <= value <= 90 for value in lowered):
        raise typer.BadParameter("give levels between 0 and 90 dB")
    cache = Path(work_dir or "~/.cache/confcast").expanduser()
    try:
        width, height = bp.parse_size(size)
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None
    picture = f"{width}x{height}"
    echo = lambda line: typer.echo(line, err=True)  # noqa: E731
    rows, costs = levelling_bench.run_bench(lowered, cache, echo, size=picture)
    mixed = levelling_bench.run_mixed(echo)
    typer.echo(levelling_bench.table(rows, costs, picture) + "\n\n" + levelling_bench.mixed_table(mixed))


@bench_app.command("pipeline")
def bench_pipeline(
    minutes: str = typer.Option(PIPELINE_MINUTES, help="Talk lengths in minutes, separated by commas."),
    size: str = typer.Option(PIPELINE_SIZE, help="Video size of the generated talks, WIDTHxHEIGHT."),
    to: ToOption = None,
    endpoint_url: EndpointOption = None,
    work_dir: str = typer.Option(
        None, help="Work folder: talks, reports, caches (default: the settings' work folder)."
    ),
    keep: bool = typer.Option(False, help="Keep what the bench published (default: delete it at the end)."),
    slides: bool = typer.Option(
        False, help="A slides-and-speaker talk with real French speech (as `confcast bench cores`) instead of "
        "espeak-ng over a test pattern."
    ),
) -> None:
    """The publish flow on generated talks: time per stage, overhead, an unchanged re-run, peak memory."""
    run_pipeline_bench(minutes, size, to, endpoint_url, work_dir, keep=keep, slides=slides)


def run_pipeline_bench(
    minutes: str, size: str, to: str | None, endpoint_url: str | None, work_dir: str | None, *, keep: bool,
    slides: bool = False,
) -> None:
    try:
        lengths, video_size = bp.parse_minutes(minutes), bp.parse_size(size)
    except ValueError as error:
        fail(str(error))
        return
    settings = settings_or_fail(None, work_dir=work_dir)
    work = settings.work_path
    configure_prefect(work)  # the children's Prefect home, and this process's (it names run folders, below)
    load_before = bp.load_now()
    env = dict(os.environ)
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d-%H%M%S")
    if to:
        storage_url, target = to.rstrip("/"), f"{to} ({'S3' if to.startswith('s3://') else 'local folder'})"
    else:
        server = ensure_local_s3(work / "seaweedfs", settings.local_s3_port)  # started here: not in a child's tree
        env.update(with_local_credentials(server))
        os.environ.update(with_local_credentials(server))  # for this process's clean-up
        storage_url, endpoint_url = f"s3://{BENCH_BUCKET}/{stamp}", server.endpoint_url
        target = f"the embedded SeaweedFS (S3 over boto3, {server.endpoint_url}), a fresh prefix each bench"
    packaged_base_dir(work)  # the model assembled once, outside the timings

    def child_args(source: Path, title: str, slug: str, report: Path) -> list[str]:
        args = [sys.executable, "-m", "confcast.flows.cli", "bench", "publish-one", str(source), "--title", title,
                "--slug", slug, "--report", str(report), "--to", storage_url, "--work-dir", str(work)]  # fmt: skip
        return args + (["--endpoint-url", endpoint_url] if endpoint_url else [])

    def before_first(source: Path) -> None:
        """A first run starts from nothing: an interrupted earlier bench may have left this talk's stages."""
        from confcast.flows.stage_tasks import run_folder

        leftover = run_folder(work, file_sha256(source))
        if leftover.is_dir():
            typer.echo(f"confcast: removing {leftover}, left by an interrupted bench", err=True)
            shutil.rmtree(leftover)

    env["CONFCAST_KEEP_WORK"] = "true"  # the first run's ladder stays for its SSIM, then goes

    def after_first(source: Path) -> dict[str, float]:
        """Each rung's SSIM against the source, from the first run's work folder (removed afterwards)."""
        from confcast.flows.stage_tasks import run_folder

        folder = run_folder(work, file_sha256(source))
        try:
            return cores_bench.rung_ssim(source, folder / "hls")
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    site = open_storage(storage_url, endpoint_url=endpoint_url)
    rows = bp.run_bench(
        lengths,
        size=video_size,
        talks_dir=work / "bench" / "talks",
        reports_dir=work / "bench" / "reports" / stamp,
        child_args=child_args,
        listing=lambda: site_listing(site),
        env=env,
        echo=lambda line: typer.echo(line, err=True),
        before_first=before_first,
        after_first=after_first,
        talk_maker=bp.make_slides_talk if slides else bp.make_talk,
    )
    command = "confcast bench pipeline --minutes " + ",".join(f"{m:g}" for m in lengths)
    command += " --slides" if slides else ""
    if size != PIPELINE_SIZE:
        command += f" --size {size}"
    if to:
        command += f" --to {shlex.quote(to)}"
    setup = bp.Setup(target=target, machine=bp.machine_line(load_before), command=command)
    if not keep:
        site.delete_keys(site.list_keys())
    typer.echo(bp.table(rows, setup))


@bench_app.command("edit")
def bench_edit(
    minutes: float = typer.Option(2.0, min=0.1, help="Length of the generated talk, in minutes."),
    size: str = typer.Option(PIPELINE_SIZE, help="Video size of the generated talk, WIDTHxHEIGHT."),
    to: ToOption = None,
    endpoint_url: EndpointOption = None,
    work_dir: str = typer.Option(None, help="Work folder: talk, caches (default: the settings' work folder)."),
    keep: bool = typer.Option(False, help="Keep what the bench published (default: delete it at the end)."),
) -> None:
    """A first publication vs `confcast edit` vs a metadata-only re-publish: time as ratios, media bytes uploaded."""
    try:
        video_size = bp.parse_size(size)
    except ValueError as error:
        fail(str(error))
        return
    settings = settings_or_fail(None, work_dir=work_dir)
    work = settings.work_path
    configure_prefect(work)
    load_before = bp.load_now()
    env = dict(os.environ)
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d-%H%M%S")
    if to:
        storage_url, target = to.rstrip("/"), to
    else:
        server = ensure_local_s3(work / "seaweedfs", settings.local_s3_port)
        env.update(with_local_credentials(server))
        os.environ.update(with_local_credentials(server))  # for this process's listings and clean-up
        storage_url, endpoint_url = f"s3://{BENCH_BUCKET}/edit-{stamp}", server.endpoint_url
        target = f"the embedded SeaweedFS ({server.endpoint_url})"
    packaged_base_dir(work)  # the model assembled once, outside the timings
    typer.echo(f"confcast: making a {minutes:g}-minute talk (espeak-ng, ffmpeg)", err=True)
    talk = bp.make_talk(work / "bench" / "talks", minutes, video_size)
    from confcast.flows.stage_tasks import run_folder

    leftover = run_folder(work, file_sha256(talk.path))  # a first publication starts from nothing
    if leftover.is_dir():
        shutil.rmtree(leftover)
    slug = f"bench-edit-{stamp}"
    common = ["--to", storage_url, "--work-dir", str(work)] + (["--endpoint-url", endpoint_url] if endpoint_url else [])
    cli = [sys.executable, "-m", "confcast.flows.cli"]
    publish = [*cli, "publish", str(talk.path), "--date", "2026-01-15", "--language", "fr", "--slug", slug]
    steps = [
        ("first publication", [*publish, "--title", "Banc d'essai", *common]),
        ("confcast edit (title, description)",
         [*cli, "edit", slug, "--title", "Banc d'essai, titre corrigé", "--description", "Corrigé.", *common]),
        ("re-publish, new metadata only",
         [*publish, "--title", "Banc d'essai, titre revu", "--description", "Revu.", *common]),
    ]
    site = open_storage(storage_url, endpoint_url=endpoint_url)
    measured = []
    for name, args in steps:
        typer.echo(f"confcast: {name}", err=True)
        measured.append(edit_bench.run_step(name, args, lambda: site_listing(site), env))
    if not keep and not to:  # the bench's own prefix; a site given with --to keeps the talk (unpublish removes it)
        site.delete_keys(site.list_keys())
    elif to:
        typer.echo(f"confcast: left {slug} on {to}; `confcast unpublish {slug} --to {shlex.quote(to)}` removes it",
                   err=True)
    setup = f"{minutes:g}-minute talk, {size}, published to {target}; {bp.machine_line(load_before)}"
    typer.echo(edit_bench.table(measured, setup))


@bench_app.command("publish-one", hidden=True)
def bench_publish_one(
    source: str = typer.Argument(...),
    title: str = typer.Option(...),
    slug: str = typer.Option(...),
    report: str = typer.Option(..., help="Write the flow run's task runs (names, start, end) here (JSON)."),
    to: ToOption = None,
    endpoint_url: EndpointOption = None,
    work_dir: str = typer.Option(None),
) -> None:
    """The bench's child: what `confcast publish` runs, then the task runs Prefect recorded of it."""
    settings = settings_or_fail(None, storage_url=to, s3_endpoint_url=endpoint_url, work_dir=work_dir)
    parameters = {"source": source, "title": title, "date": "2026-01-15", "speakers": ["Banc d'essai"],
                  "description": None, "language": "fr", "slug": slug}  # fmt: skip

    def run() -> str:
        check_before_flow(settings, parameters)
        prepare_prefect(settings, verbose=False)
        from confcast.flows.publish import publish_conference
        from confcast.flows.run_record import task_run_times

        state = publish_conference(settings=settings, show_progress=True, return_state=True, **parameters)
        url = state.result()  # a failed run raises its error here
        flow_run_id = state.state_details.flow_run_id
        bp.write_report(Path(report), str(flow_run_id), task_run_times(flow_run_id))
        return url

    typer.echo(guarded(False, run))
