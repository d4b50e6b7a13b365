"""The French talk the benches speak (espeak-ng): its sentences, and a text of about a given length from them.

Shared by `confcast bench transcribe` (tasks/bench/whisper.py) and `confcast bench pipeline`
(tasks/bench/pipeline.py); pure, no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence

# A talk about open hardware, spoken by espeak-ng: plain words, no digits (so the reference text is unambiguous).
FRENCH_SENTENCES = (
    "Bonjour à tous et merci d'être venus ce soir.",
    "Je vais vous parler du matériel libre dans nos laboratoires.",
    "Nous avons construit un microscope avec une imprimante et une petite caméra.",
    "Les plans sont publiés en ligne et chacun peut les modifier.",
    "Le projet a commencé il y a deux ans avec trois étudiants.",
    "Aujourd'hui une vingtaine de personnes y contribuent chaque semaine.",
    "La difficulté principale reste la documentation des pièces.",
    "Nous écrivons des guides simples avec beaucoup de photographies.",
    "Les écoles de la région utilisent déjà nos instruments en classe.",
    "Un instrument libre coûte souvent dix fois moins cher qu'un modèle commercial.",
    "Il peut aussi être réparé par ceux qui s'en servent.",
    "Nous cherchons maintenant des partenaires pour fabriquer des kits.",
    "Si vous voulez participer, venez nous voir à la fin de la séance.",
    "Je vous remercie pour votre attention et je réponds volontiers à vos questions.",
)


def talk_text(minutes: float, sentences: Sequence[str], wpm: int) -> str:
    """Sentences in turn until they fill about `minutes` at `wpm` words a minute."""
    words_needed = minutes * wpm
    chosen, words = [], 0
    while words < words_needed:
        sentence = sentences[len(chosen) % len(sentences)]
        chosen.append(sentence)
        words += len(sentence.split())
    return " ".join(chosen)
