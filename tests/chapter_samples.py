"""A generated talk over slides whose text changes at known times, with a speaker inset moving in a corner and
spoken French (espeak-ng); and a slides PDF of the same slides. Made once a session; nothing is committed."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from confcast.tasks.media.drawtext import FONT_FILE, filter_value

WIDTH, HEIGHT, FPS = 960, 540, 15
DURATION_S = 16.0


@dataclass(frozen=True)
class SlideSpec:
    start: float
    title: str
    body: str


SLIDES = (
    SlideSpec(0.0, "Microscope libre", "Une imprimante et une petite caméra"),
    SlideSpec(4.0, "Résultats mesurés", "Trois laboratoires partenaires"),
    SlideSpec(8.5, "Calendrier commun", "Prochaine rencontre en automne"),
    SlideSpec(12.0, "Questions ouvertes", "Merci pour votre attention"),
)
SPOKEN = (
    "Bonjour à tous. Voici notre microscope construit avec une imprimante. "
    "Les résultats viennent de trois laboratoires. Le calendrier est commun. Avez-vous des questions ?"
)


@dataclass(frozen=True)
class SlidesTalk:
    video: Path
    pdf: Path
    slides: tuple[SlideSpec, ...]


def _text(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def _drawtext(text_file: Path, size: int, y: str, start: float, end: float) -> str:
    return "drawtext=" + ":".join([
        f"fontfile={filter_value(str(FONT_FILE))}", f"textfile={filter_value(str(text_file))}", "expansion=none",
        "fontcolor=0x102030", f"fontsize={size}", "x=60", f"y={y}",
        f"enable={filter_value(f'between(t,{start:.3f},{end - 0.001:.3f})')}",
    ])  # fmt: skip


def make_slides_talk(folder: Path) -> SlidesTalk:
    folder.mkdir(parents=True, exist_ok=True)
    speech = folder / "speech.wav"
    subprocess.run(["espeak-ng", "-v", "fr", "-s", "150", "-w", str(speech), SPOKEN], check=True)
    filters = []
    for number, slide in enumerate(SLIDES):
        end = SLIDES[number + 1].start if number + 1 < len(SLIDES) else DURATION_S + 1
        filters.append(_drawtext(_text(folder, f"t{number}.txt", slide.title), 56, "70", slide.start, end))
        filters.append(_drawtext(_text(folder, f"b{number}.txt", slide.body), 34, "200", slide.start, end))
    # the speaker: a moving picture in the bottom-right corner, itself drifting inside the corner
    graph = (
        f"[0:v]{','.join(filters)}[slides];[1:v]scale=240:136[inset];"
        "[slides][inset]overlay=x='W-w-30-20*sin(t*1.7)':y='H-h-30-12*cos(t*1.3)',format=yuv420p[v]"
    )
    video = folder / "slides-talk.mp4"
    subprocess.run([
        "ffmpeg", "-v", "error", "-y",
        "-f", "lavfi", "-i", f"color=c=0xf4f1e8:s={WIDTH}x{HEIGHT}:r={FPS}:d={DURATION_S}",
        "-f", "lavfi", "-i", f"testsrc2=s=320x180:r={FPS}:d={DURATION_S}",
        "-i", str(speech),
        "-filter_complex", graph, "-map", "[v]", "-map", "2:a", "-af", "apad", "-t", f"{DURATION_S}",
        "-c:v", "libx264", "-preset", "veryfast", "-crf", "23", "-c:a", "aac", "-b:a", "96k", str(video),
    ], check=True)  # fmt: skip
    return SlidesTalk(video=video, pdf=make_slides_pdf(folder / "slides.pdf"), slides=SLIDES)


def make_slides_pdf(path: Path) -> Path:
    """A small PDF, one page a slide plus one page never shown, with real text (written by hand: PDF 1.4)."""
    pages = [(s.title, s.body) for s in SLIDES] + [("Annexe bibliographique", "Ouvrages de référence")]
    objects = ["<< /Type /Catalog /Pages 2 0 R >>", ""]  # the page tree is filled in below
    font_id = 3
    objects.append("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
    kids = []
    for title, body in pages:
        stream = (f"BT /F1 28 Tf 40 300 Td ({_pdf_text(title)}) Tj ET BT /F1 16 Tf 40 250 Td ({_pdf_text(body)}) Tj ET")
        data = stream.encode("cp1252")
        objects.append(f"<< /Length {len(data)} >>\nstream\n{data.decode('cp1252')}\nendstream")
        content_id = len(objects)
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 640 360] /Contents {content_id} 0 R "
            f"/Resources << /Font << /F1 {font_id} 0 R >> >> >>"
        )
        kids.append(len(objects))
    objects[1] = f"<< /Type /Pages /Kids [{' '.join(f'{k} 0 R' for k in kids)}] /Count {len(kids)} >>"
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{body}\nendobj\n".encode("cp1252")
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += "".join(f"{offset:010d} 00000 n \n" for offset in offsets).encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    path.write_bytes(bytes(out))
    return path


def _pdf_text(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
