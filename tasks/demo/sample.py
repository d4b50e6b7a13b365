"""The demo's sample conferences: real French speech over slides or a test pattern, or any text spoken by espeak-ng.

`make_demo_talk` is what `confcast demo` publishes: the ten FLEURS utterances (real speakers, CC BY 4.0, see
tasks/demo/speech.py) joined with short pauses, over slides that say what confcast does. `make_speech_sample` puts
chosen utterances over a `testsrc2` pattern with the title on a dark box for the first seconds (the tests' short
talk), and `make_sample_conference` does the same with a given text spoken by espeak-ng (talks made to measure).
Each makes one MP4 with ffmpeg (H.264 + AAC); the output path is derived from the inputs, so asking twice for the
same sample reuses the file. Programs are run with argument lists (never a shell); texts and titles travel in files.
espeak-ng is run here; ffmpeg through the media adapter (`tasks.media.ffmpeg.run`), with the drawtext font and
escaping of `tasks.media.drawtext`. Only the `confcast demo` command, the benchmarks and the tests import this
module.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import wave
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from confcast.tasks.demo.speech import CREDIT_FR, Utterance, fleurs_french
from confcast.tasks.errors import ConfcastError, stderr_tail
from confcast.tasks.media import ffmpeg
from confcast.tasks.media.drawtext import FONT_FILE, filter_value, wrap_lines

SAMPLE_TEXT_FR = (
    "Bonjour à toutes et à tous, et merci d'être venus ce soir. "
    "Je m'appelle Claire, et je travaille dans un laboratoire de Clermont-Ferrand. "
    "Aujourd'hui, je vais vous parler du matériel libre dans nos laboratoires. "
    "Le matériel libre, c'est un appareil dont les plans sont publics. "
    "Tout le monde peut le fabriquer, le réparer et l'améliorer. "
    "Dans notre équipe, nous avons construit un microscope avec une imprimante 3D et une petite caméra. "
    "Il coûte dix fois moins cher qu'un modèle du commerce. "
    "Les étudiants peuvent le monter en une après-midi. "
    "Nous partageons les fichiers et la documentation sur internet. "
    "Des entreprises de la région nous aident à tester les pièces. "
    "En retour, elles utilisent nos résultats pour leurs propres produits. "
    "Bien sûr, il reste des difficultés. "
    "Il faut du temps pour écrire une bonne documentation. "
    "Il faut aussi trouver des financements pour le long terme. "
    "Mais le matériel libre rend la science plus ouverte et plus simple à partager. "
    "Merci de votre attention, et place aux questions."
)
"""About 60 s of plain French on open hardware in Clermont-Ferrand's labs, spoken by espeak-ng."""

SPEECH_WPM = 150  # espeak-ng words a minute: a moderate pace (its default is 175)
TITLE_CARD_S = 4.0  # seconds the title stays on screen
TITLE_WRAP_CHARS = 36  # characters a title line, before wrapping
AUDIO_RATE = 48_000  # Hz, as a camera records


class SampleError(ConfcastError):
    """The sample conference could not be made (a missing program or font, or a failed run)."""


@dataclass(frozen=True)
class SampleConference:
    path: Path
    title: str
    language: str
    text: str  # what is said (for the real speech: the human transcription, lower case, no punctuation)
    duration_s: float  # the speech's duration, which the video matches
    description: str = ""  # for the page: the credit of the voices, when they are not synthetic


def make_sample_conference(
    out_dir: Path,
    *,
    text: str = SAMPLE_TEXT_FR,
    language: str = "fr",
    title: str = "Conférence de démonstration",
    width: int = 1280,
    height: int = 720,
    fps: int = 25,
) -> SampleConference:
    """Make (or reuse) the sample conference MP4 in out_dir and say what it holds."""
    if not text.strip():
        raise SampleError("the sample text is empty: give some sentences for espeak-ng to speak")
    if width <= 0 or height <= 0 or width % 2 or height % 2 or fps <= 0:
        raise SampleError(f"sample size {width}x{height} at {fps} fps: use even, positive sizes and a positive rate")
    espeak = _require_program("espeak-ng", "espeak-ng")
    _require_program("ffmpeg", "ffmpeg")
    if not FONT_FILE.is_file():
        raise SampleError(f"font {FONT_FILE} is missing: install the Debian package fonts-dejavu-core")

    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"sample-{language}-{_key(text, language, title, width, height, fps)}"
    video = out_dir / f"{stem}.mp4"
    speech = out_dir / f"{stem}.wav"

    if not (speech.is_file() and speech.stat().st_size > 0):
        _speak(espeak, text, language, speech, out_dir / f"{stem}.txt")
    duration = wav_duration(speech)
    if not (video.is_file() and video.stat().st_size > 0):
        title_file = out_dir / f"{stem}.title.txt"
        title_file.write_text(wrap_title(title), encoding="utf-8")
        partial = out_dir / f".{stem}.partial.mp4"
        args = build_sample_args(speech, title_file, partial, duration, width=width, height=height, fps=fps)
        _encode_video(args, partial, video)
    return SampleConference(path=video, title=title, language=language, text=text, duration_s=duration)


DEMO_TITLE = "Conférence de démonstration"
DEMO_SLIDES = (
    "confcast\nUne conférence enregistrée\ndevient une page web",
    "Vidéo adaptative (HLS),\nMP4 à télécharger,\naudio pour le podcast",
    "Transcription et sous-titres\npar Whisper, hors ligne,\nsur vos machines",
    "Recherche dans tout ce qui a été dit :\nchaque résultat mène au moment exact",
    "Corrections relues et publiées\nen quelques secondes",
    "Voix : corpus FLEURS (Google)\nlicence CC BY 4.0",
)
"""What the demo's slides say, in order, spread evenly over the talk (the first under the title)."""
PAUSE_S = 0.8  # between two utterances, as a speaker breathes between sentences


def join_with_pauses(clips: list[Path], output: Path, *, pause_s: float, rate: int, channels: int = 1) -> None:
    """The clips one after the other, `pause_s` of silence after each, as one PCM WAV (ffmpeg's concat filter)."""
    inputs = [arg for clip in clips for arg in ("-i", str(clip))]
    graph = "".join(f"[{i}:a]apad=pad_dur={pause_s}[a{i}];" for i in range(len(clips)))
    graph += "".join(f"[a{i}]" for i in range(len(clips))) + f"concat=n={len(clips)}:v=0:a=1"
    partial = output.with_name(f".{output.stem}.partial.wav")
    args = ["-nostdin", "-v", "error", "-y", *inputs, "-filter_complex", graph, "-ar", str(rate), "-ac", str(channels),
            str(partial)]
    returncode, stderr = ffmpeg.run(args)
    if returncode != 0 or not ffmpeg.non_empty(partial):
        partial.unlink(missing_ok=True)
        raise SampleError(f"ffmpeg could not join {len(clips)} speech clips (exit {returncode}): "
                          f"{stderr_tail(stderr) or 'no message'}")
    partial.replace(output)


@dataclass(frozen=True)
class _SpeechTalk:
    folder: Path
    stem: str  # the files' common name, a key of what makes them
    video: Path  # not made yet when absent
    speech: Path
    duration_s: float


def _speech_talk(out_dir: Path, kind: str, utterances: Sequence[Utterance], *key_parts: object) -> _SpeechTalk:
    """Where a talk of these real utterances goes, its speech joined with pauses (made once)."""
    _require_program("ffmpeg", "ffmpeg")
    if not FONT_FILE.is_file():
        raise SampleError(f"font {FONT_FILE} is missing: install the Debian package fonts-dejavu-core")
    folder = Path(out_dir).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"{kind}-fr-{_key(*key_parts, PAUSE_S, *(u.text for u in utterances))}"
    video, speech = folder / f"{stem}.mp4", folder / f"{stem}.wav"
    if not (speech.is_file() and speech.stat().st_size > 0):
        join_with_pauses([u.audio for u in utterances], speech, pause_s=PAUSE_S, rate=AUDIO_RATE)
    return _SpeechTalk(folder, stem, video, speech, wav_duration(speech))


def make_demo_talk(out_dir: Path, *, width: int = 1280, height: int = 720, fps: int = 25) -> SampleConference:
    """Make (or reuse) the demo's talk: real French speech (FLEURS) over slides that say what confcast does."""
    utterances = fleurs_french()
    talk = _speech_talk(out_dir, "demo", utterances, DEMO_TITLE, DEMO_SLIDES, width, height, fps)
    if not (talk.video.is_file() and talk.video.stat().st_size > 0):
        step = talk.duration_s / len(DEMO_SLIDES)
        slides = []
        for index, text in enumerate(DEMO_SLIDES):
            shown = f"{DEMO_TITLE}\n\n{text}" if index == 0 else text
            text_file = talk.folder / f"{talk.stem}.slide{index}.txt"
            text_file.write_text("\n".join(wrap_lines(line, TITLE_WRAP_CHARS) for line in shown.split("\n")),
                                 encoding="utf-8")
            slides.append((text_file, index * step, (index + 1) * step))
        partial = talk.folder / f".{talk.stem}.partial.mp4"
        args = build_slides_args(talk.speech, slides, partial, talk.duration_s, width=width, height=height, fps=fps)
        _encode_video(args, partial, talk.video)
    return SampleConference(
        path=talk.video, title=DEMO_TITLE, language="fr", text=" ".join(u.text for u in utterances),
        duration_s=talk.duration_s, description=CREDIT_FR,
    )


def make_speech_sample(
    out_dir: Path,
    *,
    utterances: tuple[int, ...],
    title: str,
    width: int = 640,
    height: int = 360,
    fps: int = 25,
) -> SampleConference:
    """Make (or reuse) a short talk of real French: the chosen FLEURS utterances (by index) over the test pattern
    with the title card, as `make_sample_conference` draws it. Whisper hears it as it hears a speaker, quickly and
    without the loops that synthetic speech sends it into."""
    every = fleurs_french()
    if not utterances or not all(0 <= i < len(every) for i in utterances):
        raise SampleError(f"utterances {utterances}: choose among 0 to {len(every) - 1}")
    chosen = [every[i] for i in utterances]
    talk = _speech_talk(out_dir, "speech", chosen, title, width, height, fps)
    if not (talk.video.is_file() and talk.video.stat().st_size > 0):
        title_file = talk.folder / f"{talk.stem}.title.txt"
        title_file.write_text(wrap_title(title), encoding="utf-8")
        partial = talk.folder / f".{talk.stem}.partial.mp4"
        args = build_sample_args(talk.speech, title_file, partial, talk.duration_s, width=width, height=height, fps=fps)
        _encode_video(args, partial, talk.video)
    return SampleConference(path=talk.video, title=title, language="fr", text=" ".join(u.text for u in chosen),
                            duration_s=talk.duration_s, description=CREDIT_FR)


def _encode_video(args: list[str], partial: Path, video: Path) -> None:
    """Run ffmpeg writing `partial`, then move it to `video`; SampleError (nothing left behind) if it fails."""
    returncode, stderr = ffmpeg.run(args)
    if returncode != 0 or not ffmpeg.non_empty(partial):
        partial.unlink(missing_ok=True)
        raise SampleError(
            f"ffmpeg could not make the sample video {video} (exit {returncode}): "
            f"{stderr_tail(stderr) or 'no message'}; check that ffmpeg has libx264 and drawtext"
        )
    partial.replace(video)


def _drawtext(text_file: Path, fontsize: int, enable: str) -> str:
    """A drawtext filter: the text of `text_file`, centred in white on a dark box while `enable` holds."""
    return "drawtext=" + ":".join(
        [
            f"fontfile={filter_value(str(FONT_FILE))}",
            f"textfile={filter_value(str(text_file))}",
            "expansion=none",  # the text is text: no %{...} expansion
            "fontcolor=white",
            f"fontsize={fontsize}",
            f"line_spacing={fontsize // 3}",
            "box=1",
            "boxcolor=black@0.75",
            f"boxborderw={max(4, fontsize // 2)}",
            "x=(w-text_w)/2",
            "y=(h-text_h)/2",
            f"enable={filter_value(enable)}",
        ]
    )


def _font_size(width: int, height: int) -> int:
    return max(12, min(height // 14, width // 25))  # TITLE_WRAP_CHARS bold characters fit the width


def _encode_args(picture: str, speech: Path, filters: str, output: Path) -> list[str]:
    """ffmpeg arguments: a lavfi picture and a speech file, the picture through `filters`, to H.264 + AAC MP4."""
    return [
        "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
        "-f", "lavfi", "-i", picture,
        "-i", str(speech),
        "-filter_complex", f"[0:v]{filters},format=yuv420p[v]",
        "-map", "[v]", "-map", "1:a",
        "-c:v", "libx264", "-preset", "veryfast", "-crf", "26", "-profile:v", "high", "-pix_fmt", "yuv420p",
        "-c:a", "aac", "-b:a", "128k", "-ar", str(AUDIO_RATE),
        "-metadata", "comment=confcast sample conference",
        "-movflags", "+faststart",
        str(output),
    ]  # fmt: skip


def build_sample_args(
    speech: Path,
    title_file: Path,
    output: Path,
    duration_s: float,
    *,
    width: int = 1280,
    height: int = 720,
    fps: int = 25,
) -> list[str]:
    """ffmpeg arguments (without the program name) for the sample MP4: pattern + title card + speech."""
    title = _drawtext(title_file, _font_size(width, height), f"lt(t,{TITLE_CARD_S})")
    return _encode_args(f"testsrc2=s={width}x{height}:r={fps}:d={duration_s:.3f}", speech, title, output)


def build_slides_args(
    speech: Path,
    slides: list[tuple[Path, float, float]],
    output: Path,
    duration_s: float,
    *,
    width: int = 1280,
    height: int = 720,
    fps: int = 25,
) -> list[str]:
    """ffmpeg arguments for a talk over slides: each (text file, start, end) shown on a plain background."""
    size = _font_size(width, height)
    shown = ",".join(_drawtext(text, size, f"between(t,{start:.3f},{end:.3f})") for text, start, end in slides)
    return _encode_args(f"color=c=0x1d3557:s={width}x{height}:r={fps}:d={duration_s:.3f}", speech, shown, output)


def wrap_title(title: str, width: int = TITLE_WRAP_CHARS) -> str:
    """The title on lines short enough for the card; whitespace runs become single spaces."""
    return wrap_lines(title, width)


def wav_duration(path: Path) -> float:
    """Seconds of audio in a PCM WAV file."""
    try:
        with wave.open(str(path), "rb") as wav:
            return wav.getnframes() / float(wav.getframerate())
    except (OSError, wave.Error, ZeroDivisionError) as exc:
        raise SampleError(f"{path}: not a readable WAV file ({exc}); delete it and make the sample again") from exc


def _speak(espeak: str, text: str, language: str, output: Path, text_file: Path) -> None:
    text_file.write_text(text, encoding="utf-8")
    partial = output.with_name(f".{output.stem}.partial.wav")
    args = [espeak, "-v", language, "-s", str(SPEECH_WPM), "-b", "1", "-f", str(text_file), "-w", str(partial)]
    done = subprocess.run(args, capture_output=True, stdin=subprocess.DEVNULL)
    if done.returncode != 0 or not (partial.is_file() and partial.stat().st_size > 44):
        partial.unlink(missing_ok=True)
        raise SampleError(
            f"espeak-ng could not speak the sample text in {language!r} (exit {done.returncode}): "
            f"{stderr_tail(done.stderr) or 'no message'}; check the language with `espeak-ng --voices`"
        )
    partial.replace(output)


def _require_program(name: str, package: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise SampleError(f"{name} is not installed: install the Debian package {package} (apt-get install {package})")
    return found


def _key(*parts: object) -> str:
    return hashlib.sha256("\x1f".join(map(str, parts)).encode("utf-8")).hexdigest()[:12]
