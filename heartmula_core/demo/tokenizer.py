"""The demo model's text side: a syllable lyrics front-end and a word-level ``tokenizer.json``.

**Why syllables.** The demo model sings codebook-0 *syllable classes*
(:mod:`heartmula_core.demo.syllables`). If the prompt spelled lyrics out letter by letter, the
model would have to learn English spelling rules (magic ``e``, digraphs, syllable splits) before
it could sing an unseen word; a first character-level model learned the music but sang none of
the words (token error rate ~1.0 after 2,400 CPU steps). So the demo checkpoint declares a
*lyrics front-end* (``lyrics_frontend.json``, see :mod:`heartmula_core.frontends`): before
tokenization, every lyric line is rewritten as the syllable names the composer sings
(``"hello world"`` -> ``"h.e l.oh w.u.l d.u"``), markers and line breaks are kept. Singing is
then a monotonic *copy* of prompt tokens into codebook 0, which a small transformer learns fast.
Official checkpoints have no front-end file and are untouched.

**Tokenizer** (:func:`build_demo_tokenizer`, fixed, byte-for-byte the same on every run): a
word-level model. Pre-tokenization removes spaces and tabs, then isolates ``<tag>``, ``</tag>``,
words of ``a-z & -`` (dotted syllable names are one word), single digits, ``\\n`` and any other
single character. The vocabulary:

- id 0 ``<|pad|>``, 1 ``<|begin_of_text|>`` (:data:`DEMO_BOS_ID`), 2 ``<|end_of_text|>``
  (:data:`DEMO_EOS_ID`), 3 ``<|unk|>`` (anything not listed);
- ``\\n``, ASCII punctuation, digits, ``<tag>``, ``</tag>``;
- every word of the tag vocabulary (:mod:`.tags`, the corpus' neutral tags) and of the section
  markers the parser knows;
- the 960 syllable names (:func:`heartmula_core.demo.syllables.syllable_name`), in class order.

Token offsets map back to the characters the user typed (a syllable token covers its whole
word), so the prompt's token -> (section, line) map works as for official tokenizers.
"""

from __future__ import annotations

import logging
import re
import string
from pathlib import Path

from tokenizers import Regex, Tokenizer, models, pre_tokenizers, processors

from ..config import GenConfig
from ..prompt import parse_lyrics
from .corpus import MARKERS, NEUTRAL_TAGS
from .syllables import NUM_SYLLABLES, syllable_name, word_syllables, word_spans
from .tags import (ENERGY_WORDS, GENRE_ALIASES, GENRES, INSTRUMENT_WORDS, MODE_WORDS, MOOD_MODES,
                   SOFT_DRUM_WORDS, TEMPO_WORDS, VOICE_WORDS)

log = logging.getLogger(__name__)

DEMO_PAD_ID = 0
DEMO_BOS_ID = 1
DEMO_EOS_ID = 2
DEMO_UNK_ID = 3
DEMO_SPECIAL_TOKENS = ("<|pad|>", "<|begin_of_text|>", "<|end_of_text|>", "<|unk|>")
FRONTEND_NAME = "heartmula-demo-syllables"
"""Name of :func:`syllable_frontend` in ``lyrics_frontend.json``."""

_PIECES = r"</?tag>|[a-z&\-]+(?:\.[a-z]+)*|[0-9]|\n|[^\s]"
_WORDS = re.compile(r"[a-z&\-]+")
_EXTRA_MARKER_WORDS = ("intro", "introduction", "verse", "pre-chorus", "prechorus", "pre", "chorus",
                       "post-chorus", "postchorus", "post", "hook", "bridge", "outro", "instrumental",
                       "inst", "interlude", "solo", "break", "refrain")


def syllable_token(index: int) -> str:
    """The vocabulary entry of syllable class ``index`` (its dotted name)."""
    return syllable_name(index)


def _word_entries() -> list[str]:
    tag_words = [*GENRES, *GENRE_ALIASES, *TEMPO_WORDS, *MODE_WORDS, *MOOD_MODES, *ENERGY_WORDS,
                 *INSTRUMENT_WORDS, *SOFT_DRUM_WORDS, *VOICE_WORDS, *NEUTRAL_TAGS, "drums", "bass", "bpm"]
    marker_words = [w for markers in MARKERS.values() for m in markers for w in _WORDS.findall(m.lower())]
    words = []
    for entry in [*tag_words, *marker_words, *_EXTRA_MARKER_WORDS]:
        words.extend(_WORDS.findall(entry))
    return words


def demo_vocab() -> dict[str, int]:
    """Token -> id, in the order of the module docstring (duplicates keep their first id)."""
    tokens = [*DEMO_SPECIAL_TOKENS, "\n", *string.punctuation, *string.digits, "<tag>", "</tag>",
              *_word_entries(), *(syllable_token(i) for i in range(NUM_SYLLABLES))]
    return {token: i for i, token in enumerate(dict.fromkeys(tokens))}


def syllable_token_ids() -> list[int]:
    """Text-token id of each syllable class ``0 .. NUM_SYLLABLES - 1``."""
    vocab = demo_vocab()
    return [vocab[syllable_token(i)] for i in range(NUM_SYLLABLES)]


def demo_gen_config(audio_eos_id: int) -> GenConfig:
    """The ``gen_config.json`` values matching this tokenizer."""
    return GenConfig(text_bos_id=DEMO_BOS_ID, text_eos_id=DEMO_EOS_ID, audio_eos_id=audio_eos_id, empty_id=0)


def build_demo_tokenizer() -> Tokenizer:
    """The word-level tokenizer described in the module docstring (deterministic, no training)."""
    unk = DEMO_SPECIAL_TOKENS[DEMO_UNK_ID]
    tokenizer = Tokenizer(models.WordLevel(vocab=demo_vocab(), unk_token=unk))
    tokenizer.add_special_tokens(list(DEMO_SPECIAL_TOKENS))
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(r"[ \t\r\f\v]+"), behavior="removed"),
        pre_tokenizers.Split(Regex(_PIECES), behavior="isolated"),
    ])
    bos = DEMO_SPECIAL_TOKENS[DEMO_BOS_ID]
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A", pair=f"{bos} $A {bos} $B", special_tokens=[(bos, DEMO_BOS_ID)])
    log.debug("built demo tokenizer: %d entries", tokenizer.get_vocab_size())
    return tokenizer


def write_demo_tokenizer(path: Path | str) -> Path:
    """Save the demo tokenizer as ``path`` (a regular ``tokenizer.json``); return the path."""
    path = Path(path)
    path.write_text(build_demo_tokenizer().to_str(pretty=True), encoding="utf-8")
    return path


class _Writer:
    """Builds front-end output text and its origin map (one source index per output character)."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.origin: list[int] = []

    def copy(self, source: str, start: int, end: int) -> None:
        """Copy ``source[start:end]`` unchanged."""
        self.parts.append(source[start:end])
        self.origin.extend(range(start, end))

    def word(self, text: str, start: int, end: int) -> None:
        """Emit ``text`` plus a space standing for ``source[start:end]`` (first char -> start,
        last -> end - 1, so a token of it spans the whole word)."""
        self.parts.append(text + " ")
        self.origin.extend([start] * (len(text) - 1) + [end - 1, end - 1])

    def newline(self, at: int) -> None:
        self.parts.append("\n")
        self.origin.append(at)


def syllable_frontend(lowered: str) -> tuple[str, list[int]]:
    """Rewrite lower-cased lyrics for the demo tokenizer (see the module docstring).

    Returns ``(text, origin)``: each lyric line becomes its syllable names separated by
    spaces, each marker line is kept as written, one ``\\n`` ends each; ``origin[i]`` is the
    index in ``lowered`` that character ``i`` of ``text`` came from, plus a final entry
    ``len(lowered)``.
    """
    out = _Writer()
    for section in parse_lyrics(lowered).sections:
        if section.marker_span is not None:
            out.copy(lowered, *section.marker_span)
            out.newline(section.marker_span[1] - 1)
        for line in section.lines:
            for start, end, word in word_spans(lowered[line.start:line.end]):
                for syllable in word_syllables(word):
                    out.word(syllable_token(syllable), line.start + start, line.start + end)
            out.newline(line.end - 1)
    out.origin.append(len(lowered))
    return "".join(out.parts), out.origin
