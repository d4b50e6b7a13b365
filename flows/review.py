"""`confcast review SLUG`: a local editor page for one caption track, served on 127.0.0.1 until Ctrl-C.

Only this machine can reach it: the server listens on the loopback address at a port the system picks, and every
address holds a random token made for this session (`http://127.0.0.1:PORT/TOKEN/`, valid until Ctrl-C). A request
without the token, or naming another host (a DNS-rebinding page), gets 403; the page sends no Referer (the token
stays off the media host's logs).

Media: where the site's public URLs are on the web (S3, or a folder with public_base_url), the editor plays the
published MP4 from there, as viewers get it: the storage answers the range requests of seeking and no video passes
through this process. A file:// site without a public URL cannot be read by a page on http://, so this server serves
that MP4 and poster from the site folder itself (ranges included), and nothing else of the folder.

Save: the edited cues become a WebVTT file (tasks.site.review), checked by `reviewed_cues` and republished by the
task of `confcast captions --replace` (replace_captions under the site lock, words timed by forced alignment), called
as a plain function: a Prefect flow run would start Prefect's temporary server (10-20 s) at the first save.
"""

from __future__ import annotations

import secrets
import socket
import sys
import traceback
import webbrowser
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import uvicorn
from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response

from confcast.config.settings import Settings
from confcast.flows.site_admin import open_site, replace_caption_files
from confcast.tasks.errors import ConfcastError, MetadataError, PublishError
from confcast.tasks.site import review
from confcast.tasks.site.layout import PAGE, Manifest, conference_prefix
from confcast.tasks.site.publish import read_manifest, read_published, transcript_lang
from confcast.tasks.storage.base import Storage
from confcast.tasks.storage.folder import FileStorage

LOOPBACK = "127.0.0.1"
LOOPBACK_NAMES = {LOOPBACK, "localhost", "::1"}  # the Host a request must name: never a DNS name that points here
MAX_BODY_BYTES = 32 * 1024 * 1024  # the cues of the longest talk, many times over
SHUTDOWN_S = 2  # Ctrl-C waits this long for a playing video's connection, no longer


@dataclass
class ReviewSession:
    """One caption track of one conference under review, and the token of its address (valid for this session)."""

    settings: Settings
    storage: Storage
    slug: str
    lang: str
    manifest: Manifest  # as last read or saved
    token: str
    port: int = 0

    @property
    def prefix(self) -> str:
        return conference_prefix(self.slug)

    @property
    def address(self) -> str:
        return f"http://{LOOPBACK}:{self.port}/{self.token}/"

    def reload(self) -> Manifest:
        manifest = read_manifest(self.storage, self.slug)
        if manifest is None:
            raise PublishError(f"{self.slug} is no longer published at {self.storage.url}; was it unpublished?")
        self.manifest = manifest
        return manifest

    # --- media -----------------------------------------------------------------------------------------------

    def media_url(self, path: str) -> str:
        """Where the page loads a published file: its public URL on the web, else through this server."""
        url = self.storage.public_url(f"{self.prefix}/{path}")
        return url if url.startswith(("http://", "https://")) else f"media/{path}"

    def served_media(self) -> set[str]:
        """The files this server serves from a file:// site without public URL: the MP4s and the poster only."""
        if not isinstance(self.storage, FileStorage):
            return set()
        video = self.manifest.video
        paths = {f.path for f in video.mp4} | {video.poster}
        return {path for path in paths if self.media_url(path) == f"media/{path}"}

    def media_origins(self) -> str:
        """The origins of the public media, for the page's Content-Security-Policy ('' when served here)."""
        urls = [self.media_url(review.pick_video(self.manifest)), self.media_url(self.manifest.video.poster)]
        origins = {f"{urlsplit(url).scheme}://{urlsplit(url).netloc}" for url in urls if "://" in url}
        return " ".join(sorted(origins))

    # --- data and save ---------------------------------------------------------------------------------------

    def data(self) -> review.EditorData:
        manifest = self.reload()
        track = next((t for t in manifest.captions if t.lang == self.lang), None)
        if track is None:
            raise PublishError(f"{self.slug} has no caption track in {self.lang!r} any more; start the editor again")
        vtt = self.storage.get_bytes(f"{self.prefix}/{track.path}")
        if vtt is None:
            raise PublishError(
                f"{self.storage.url}/{self.prefix}/{track.path} is missing; publish the conference again"
            )
        words = None
        if manifest.transcript is not None and manifest.transcript.lang == self.lang:
            words = self.storage.get_bytes(f"{self.prefix}/{manifest.transcript.json_}")
        try:
            text = vtt.decode("utf-8")
            media = review.EditorMedia(
                src=self.media_url(review.pick_video(manifest)), poster=self.media_url(manifest.video.poster)
            )
            return review.editor_data(manifest, self.lang, text, words, media)
        except ValueError as error:
            raise PublishError(f"the published captions {track.path} cannot be read ({error}); fix them with "
                               "`confcast captions --replace`") from None

    def save(self, body: bytes) -> str:
        """Validate and publish the edited cues (the JSON Save posts); returns the conference page's public URL.
        A ConfcastError names the editor's cue where the WebVTT check names a line."""
        source = f"{self.lang}.vtt from the review editor"
        text, timing_lines = review.saved_vtt(body, source, self.manifest.duration_s)  # before the site lock
        try:
            self.manifest = replace_caption_files.fn(self.slug, text, source, self.lang, self.settings)
        except MetadataError as error:
            raise MetadataError(review.name_cues(str(error), timing_lines)) from None
        except ConfcastError as error:
            raise PublishError(review.name_cues(str(error), timing_lines)) from None
        return self.storage.public_url(f"{self.prefix}/{PAGE}")


def open_review(settings: Settings, slug: str, lang: str | None) -> ReviewSession:
    """The session for a published conference's caption track (the transcript's language by default), or a
    one-line error before anything is served."""
    storage, _site = open_site(settings)
    manifest = read_published(storage, slug)
    lang = lang or transcript_lang(manifest)
    if not any(track.lang == lang for track in manifest.captions):
        present = ", ".join(track.lang for track in manifest.captions) or "none: the recording has no speech"
        raise MetadataError(f"{slug} has no caption track in {lang!r} (it has: {present}); choose one with --lang")
    return ReviewSession(settings, storage, slug, lang, manifest, token=secrets.token_urlsafe(24))


def host_name(header: str) -> str | None:
    """The host name of a Host header, without its port (an SSH tunnel may forward another port); None if malformed."""
    try:
        return urlsplit(f"//{header}").hostname
    except ValueError:
        return None


def error_response(status: int, message: str) -> JSONResponse:
    """The one line the page shows under Save."""
    return JSONResponse({"error": " ".join(message.split())}, status_code=status)


def review_app(session: ReviewSession) -> FastAPI:
    """The editor's routes, every one under the token; anything else is 403."""
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    base = f"/{session.token}"

    @app.middleware("http")
    async def only_with_the_token(request: Request, call_next: Callable) -> Response:
        first = request.url.path.split("/")[1] if request.url.path.startswith("/") else ""
        host = host_name(request.headers.get("host", ""))
        if not secrets.compare_digest(first.encode(), session.token.encode()) or host not in LOOPBACK_NAMES:
            return PlainTextResponse("forbidden: open the address that `confcast review` printed\n", status_code=403)
        response = await call_next(request)
        response.headers.setdefault("Cache-Control", "no-store")
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["X-Frame-Options"] = "DENY"
        return response

    @app.get(base)
    def to_the_page() -> RedirectResponse:
        return RedirectResponse(f"{base}/")

    @app.get(f"{base}/")
    def page() -> HTMLResponse:
        media = session.media_origins()
        policy = (
            "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
            f"media-src 'self' {media}; img-src 'self' data: {media}; base-uri 'none'; form-action 'none'; "
            "frame-ancestors 'none'"
        )
        html = review.render_review_page(session.manifest, session.lang)
        return HTMLResponse(html, headers={"Content-Security-Policy": policy})

    @app.get(f"{base}/review.js")
    @app.get(f"{base}/review.css")
    def editor_file(request: Request) -> Response:
        name = request.url.path.rsplit("/", 1)[1]
        return Response(review.editor_file(name), media_type=review.EDITOR_FILES[name])

    @app.get(f"{base}/data.json")
    def data() -> Response:
        try:
            return Response(session.data().model_dump_json(), media_type="application/json")
        except ConfcastError as error:
            return error_response(502, str(error))

    @app.get(base + "/media/{path:path}")
    def media(path: str) -> Response:
        if path not in session.served_media():
            return PlainTextResponse("not a file of this editor\n", status_code=404)
        assert isinstance(session.storage, FileStorage)
        try:
            file = session.storage.path_for(f"{session.prefix}/{path}")
        except PublishError:
            return PlainTextResponse("not a file of this editor\n", status_code=404)
        return FileResponse(file, headers={"Cache-Control": "private, max-age=3600"})

    @app.post(f"{base}/save")
    async def save(request: Request) -> Response:
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        origin = request.headers.get("origin")
        if origin is not None and origin != f"http://{request.headers.get('host')}":
            return error_response(403, "Save comes from the editor's own page only")
        if kind != "application/json":
            return error_response(415, "Save posts the cues as JSON (Content-Type: application/json)")
        too_big = error_response(413, f"the edited cues exceed {MAX_BODY_BYTES // 2**20} MiB; is it this talk?")
        body = bytearray()
        async for chunk in request.stream():  # read up to the limit, whatever Content-Length says (or not)
            body += chunk
            if len(body) > MAX_BODY_BYTES:
                return too_big
        try:
            page_url = await run_in_threadpool(session.save, bytes(body))
        except MetadataError as error:
            return error_response(422, str(error))
        except ConfcastError as error:
            return error_response(502, str(error))
        except Exception as error:  # the page shows one line; the terminal keeps the details
            traceback.print_exc(file=sys.stderr)
            message = f"unexpected {type(error).__name__}: {error}; the terminal of `confcast review` shows the details"
            return error_response(500, message)
        return JSONResponse({"page_url": page_url})

    return app


def loopback_socket() -> socket.socket:
    """A listening socket on 127.0.0.1 at a port the system chooses: nothing on the network can connect."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((LOOPBACK, 0))
    listener.listen(64)
    listener.set_inheritable(True)
    return listener


def serve_review(
    settings: Settings,
    slug: str,
    lang: str | None,
    *,
    announce: Callable[[str], None],
    open_browser: bool = False,
    verbose: bool = False,
) -> None:
    """Serve the editor until Ctrl-C (or SIGTERM); `announce` gets its address once it listens."""
    session = open_review(settings, slug, lang)
    listener = loopback_socket()
    session.port = listener.getsockname()[1]
    config = uvicorn.Config(
        review_app(session),
        log_config=None,  # uvicorn's own configuration would print to standard output, which carries results
        log_level="info" if verbose else "warning",
        access_log=verbose,
        lifespan="off",
        server_header=False,
        timeout_graceful_shutdown=SHUTDOWN_S,
    )
    server = uvicorn.Server(config)
    announce(session.address)
    if open_browser:
        webbrowser.open(session.address)
    try:
        server.run(sockets=[listener])
    except KeyboardInterrupt:  # uvicorn stops on Ctrl-C, then raises it again: here it is the normal way out
        pass
    finally:
        listener.close()
