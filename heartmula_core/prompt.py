"""Prompts: the lyrics' structure, the official text preprocessing and the prompt token layout.

Three pieces, each usable on its own:

- :func:`parse_lyrics` splits lyrics into :class:`Section` s and :class:`LyricLine` s with their
  character spans in the text as the user wrote it. The editor draws these on its timeline.
- :func:`preprocess_tags`, :func:`preprocess_lyrics` and :func:`with_bos_eos` are the reference
  pipeline's text rules (spec §3.1). Tags and lyrics are always *text*; nothing here ever reads a
  file named by them.
- :class:`PromptTokenizer` turns tags and lyrics into a :class:`Prompt`: the text-column tokens
  of the prompt rows (spec §3.2, tags, the MuQ row, lyrics) plus, for every prompt position, the
  lyric line whose characters that token covers.

Lines are split at ``\\r\\n``, ``\\r`` and ``\\n`` only. A line is kept when it is non-empty after
``str.strip()``; its span covers the stripped text. A *marker* is a line that is ``[...]`` alone
(after stripping), with no brackets inside and some non-space text; it starts a new section and
is not itself a lyric line. Everything else, brackets or not, is a lyric line.
"""

from __future__ import annotations

import logging
import os
import re
from bisect import bisect_right
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Union

from tokenizers import Tokenizer

from .config import GenConfig
from .errors import CheckpointError, PromptError
from .frontends import LyricsFrontend

log = logging.getLogger(__name__)

TAG_OPEN = "<tag>"
TAG_CLOSE = "</tag>"

UNMARKED_KIND = ""
"""Kind (and marker and label) of the section formed by lines before the first marker."""

MUQ_ROW_TOKEN = 0
"""Text-column id of the MuQ (reference-audio) row; its embedding is overwritten (spec §3.2)."""

MARKER_LINE = -1
"""Line index used in :attr:`Prompt.token_lines` for the tokens of a section's marker."""

LineKey = tuple[int, int]
"""``(section index, line index within the section)``; the line index is ``MARKER_LINE`` for
marker tokens."""

_NEWLINE = re.compile(r"\r\n|\r|\n")
_MARKER = re.compile(r"\[([^\[\]]*[^\[\]\s][^\[\]]*)\]")
_SEPARATORS = re.compile(r"[\s_\-]+")
_TRAILING_NUMBER = re.compile(r"(.*?\D)\s*#?\s*(\d+)")
_WORD_START = re.compile(r"(^|[\s\-])(\w)")

# Spellings (lower-case, separators collapsed to one space) -> normalised kind.
_KIND_ALIASES = {
    "intro": "intro",
    "introduction": "intro",
    "verse": "verse",
    "pre chorus": "pre-chorus",
    "prechorus": "pre-chorus",
    "chorus": "chorus",
    "post chorus": "post-chorus",
    "postchorus": "post-chorus",
    "hook": "hook",
    "bridge": "bridge",
    "outro": "outro",
    "instrumental": "instrumental",
    "inst": "instrumental",
    "interlude": "interlude",
    "solo": "solo",
    "break": "break",
    "refrain": "refrain",
}


# --------------------------------------------------------------------------------------------
# Lyrics structure
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LyricLine:
    """One sung line.

    ``text`` is the stripped line as written; ``text == lyrics[start:end]``. ``index`` counts
    lines over the whole song from 0 (markers are not lines); ``section`` is the index of the
    section holding it and ``line`` its index inside that section.
    """

    text: str
    start: int
    end: int
    index: int
    section: int
    line: int

    @property
    def key(self) -> LineKey:
        """``(section, line)``, the value :attr:`Prompt.token_lines` holds for its tokens."""
        return (self.section, self.line)


@dataclass(frozen=True)
class Section:
    """A run of lines that starts at a marker such as ``[Verse 1]`` (or at the top of the text).

    - ``marker``: the marker line as written, stripped (``"[Verse 1]"``); ``""`` when unmarked.
    - ``kind``: normalised kind: ``intro``, ``verse``, ``pre-chorus``, ``chorus``,
      ``post-chorus``, ``hook``, ``bridge``, ``outro``, ``instrumental``, ``interlude``,
      ``solo``, ``break``, ``refrain``; other markers keep their lower-cased name with spaces
      collapsed (``[Guitar Solo 2]`` -> ``"guitar solo"``); :data:`UNMARKED_KIND` when unmarked.
    - ``number``: a trailing number of the marker's name (``[Verse 2]`` -> 2), else None.
    - ``label``: display text: ``"Verse 1"``, ``"Pre-Chorus"``, ``"Verse 2: Anna"``; ``""`` when
      unmarked.
    - ``marker_span``: the marker's ``(start, end)`` in the text, None when unmarked.
    - ``lines``: its lyric lines; empty for a bare marker such as ``[intro]`` (an instrumental
      part), which is kept.
    """

    index: int
    marker: str
    kind: str
    number: int | None
    label: str
    marker_span: tuple[int, int] | None
    lines: tuple[LyricLine, ...]

    @property
    def span(self) -> tuple[int, int]:
        """``(start, end)`` from the marker (or first line) to the end of the last line."""
        start = self.marker_span[0] if self.marker_span else self.lines[0].start
        end = self.lines[-1].end if self.lines else self.marker_span[1]  # type: ignore[index]
        return (start, end)


@dataclass(frozen=True)
class Lyrics:
    """Parsed lyrics: the original ``text`` and its ``sections`` in order.

    Lyrics without any line (empty, or only markers) are valid: the song is instrumental.
    """

    text: str
    sections: tuple[Section, ...]

    @property
    def lines(self) -> tuple[LyricLine, ...]:
        """Every lyric line in song order; ``lines[i].index == i``."""
        return tuple(line for section in self.sections for line in section.lines)

    @property
    def is_instrumental(self) -> bool:
        """True when there is no line to sing."""
        return not any(section.lines for section in self.sections)

    def line(self, index: int) -> LyricLine:
        """The line with global index ``index`` (IndexError when there is none)."""
        lines = self.lines
        if not 0 <= index < len(lines):
            raise IndexError(f"line {index} does not exist; the lyrics have {len(lines)} lines")
        return lines[index]


def classify_marker(name: str) -> tuple[str, int | None, str]:
    """``(kind, number, label)`` for a marker's inner text, e.g. ``"Verse 1"``.

    Text after a colon is a detail (``"Verse 2: Anna"``): it does not change the kind and is
    kept in the label.
    """
    head, _, detail = name.partition(":")
    base = " ".join(head.lower().split())
    number = None
    match = _TRAILING_NUMBER.fullmatch(base)
    if match:
        base, number = match.group(1).strip(), int(match.group(2))
    if not base:
        base = " ".join(name.lower().split())
        number, detail = None, ""
    kind = _KIND_ALIASES.get(_SEPARATORS.sub(" ", base).strip(), base)
    label = _WORD_START.sub(lambda m: m.group(1) + m.group(2).upper(), kind)
    if number is not None:
        label += f" {number}"
    if detail.strip():
        label += f": {' '.join(detail.split())}"
    return kind, number, label


def _line_spans(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` of each stripped, non-empty line of ``text``."""
    spans = []
    start = 0
    for end in [m.start() for m in _NEWLINE.finditer(text)] + [len(text)]:
        raw = text[start:end]
        stripped = raw.strip()
        if stripped:
            lead = len(raw) - len(raw.lstrip())
            spans.append((start + lead, start + lead + len(stripped)))
        match = _NEWLINE.match(text, end)
        start = match.end() if match else end
    return spans


class _SectionBuilder:
    """Mutable section under construction; frozen by :meth:`build`."""

    def __init__(self, index: int, marker: str, marker_span: tuple[int, int] | None) -> None:
        self.index = index
        self.marker = marker
        self.marker_span = marker_span
        self.lines: list[LyricLine] = []

    def build(self) -> Section:
        """The frozen section, with kind, number and label read from the marker."""
        if self.marker_span is None:
            kind, number, label = UNMARKED_KIND, None, ""
        else:
            kind, number, label = classify_marker(self.marker[1:-1])
        return Section(self.index, self.marker, kind, number, label, self.marker_span,
                       tuple(self.lines))


def parse_lyrics(text: str) -> Lyrics:
    """Split ``text`` into sections and lines (see the module docstring for the rules).

    Lines before the first marker form an unmarked section (kind, marker and label ``""``,
    ``marker_span`` None); it exists only when there are such lines. Sections with no lines are
    kept.
    """
    if not isinstance(text, str):
        raise TypeError(f"lyrics must be str, found {type(text).__name__}")
    builders: list[_SectionBuilder] = []
    line_count = 0
    for start, end in _line_spans(text):
        piece = text[start:end]
        if _MARKER.fullmatch(piece):
            builders.append(_SectionBuilder(len(builders), piece, (start, end)))
            continue
        if not builders:
            builders.append(_SectionBuilder(0, "", None))
        current = builders[-1]
        current.lines.append(LyricLine(piece, start, end, line_count, current.index, len(current.lines)))
        line_count += 1
    return Lyrics(text, tuple(b.build() for b in builders))


# --------------------------------------------------------------------------------------------
# Official preprocessing (spec §3.1)
# --------------------------------------------------------------------------------------------


def preprocess_tags(tags: str) -> str:
    """Lower-case the tags and wrap them in ``<tag>``...``</tag>`` where either end is missing."""
    if not isinstance(tags, str):
        raise TypeError(f"tags must be str, found {type(tags).__name__}")
    text = tags.lower()
    if not text.startswith(TAG_OPEN):
        text = TAG_OPEN + text
    if not text.endswith(TAG_CLOSE):
        text = text + TAG_CLOSE
    return text


def preprocess_lyrics(lyrics: str) -> str:
    """Lower-case the whole lyrics, section markers included; no wrapping."""
    if not isinstance(lyrics, str):
        raise TypeError(f"lyrics must be str, found {type(lyrics).__name__}")
    return lyrics.lower()


def with_bos_eos(ids: list[int], bos: int, eos: int) -> list[int]:
    """Prepend ``bos`` unless it is the first id; append ``eos`` unless it is the last id.

    An empty list becomes ``[bos, eos]`` (the reference would fail on it).
    """
    out = list(ids)
    if not out or out[0] != bos:
        out.insert(0, bos)
    if out[-1] != eos:
        out.append(eos)
    return out


def lower_with_origin(text: str) -> tuple[str, list[int]]:
    """``text.lower()`` and, for each of its characters, the index of the source character.

    A few characters grow under ``lower()`` (``"İ"`` becomes two), so offsets in the lower-cased
    text can drift from the original; the map undoes that. It has one extra entry,
    ``len(text)``, for end offsets.
    """
    lowered = text.lower()
    origin = [i for i, char in enumerate(text) for _ in range(len(char.lower()))]
    if len(origin) != len(lowered):  # str.lower() is per-character apart from length-neutral final sigma
        raise RuntimeError("str.lower() changed length differently from per-character lowering")
    origin.append(len(text))
    return lowered, origin


def _original_span(offsets: tuple[int, int], origin: list[int]) -> tuple[int, int] | None:
    """Map a token's offsets in the lower-cased text back to the original text; None if empty."""
    start, end = offsets
    if end <= start:
        return None
    return (origin[start], origin[end - 1] + 1)


def map_tokens_to_lines(lyrics: Lyrics, spans: list[tuple[int, int] | None]) -> list[LineKey | None]:
    """For each token span (original characters), the marker or line it overlaps first.

    A span overlapping a line's stripped text maps to ``(section, line)``; one overlapping a
    marker maps to ``(section, MARKER_LINE)``; an empty span or one holding only whitespace
    between lines (newlines, indentation) maps to None. If a token were to cover characters of
    two lines, it maps to the first, which keeps the map non-decreasing.
    """
    items: list[tuple[int, int, LineKey]] = []
    for section in lyrics.sections:
        if section.marker_span is not None:
            items.append((*section.marker_span, (section.index, MARKER_LINE)))
        items.extend((line.start, line.end, line.key) for line in section.lines)
    ends = [end for _, end, _ in items]
    keys: list[LineKey | None] = []
    for span in spans:
        key = None
        if span is not None:
            i = bisect_right(ends, span[0])
            if i < len(items) and items[i][0] < span[1]:
                key = items[i][2]
        keys.append(key)
    return keys


# --------------------------------------------------------------------------------------------
# Prompt
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Prompt:
    """The text column of the prompt rows (spec §3.2) and where each lyric line sits in it.

    - ``tokens``: ``tags_ids + [empty MuQ row] + lyrics_ids``; the MuQ row holds 0. Length
      ``L = len(tags_ids) + 1 + len(lyrics_ids)``; positions are ``0 .. L-1``.
    - ``muq_index = len(tags_ids)``, ``lyrics_start = muq_index + 1`` (the lyrics' BOS).
    - ``token_lines[p]``: ``(section, line)`` of the lyric line whose characters token ``p``
      covers; ``(section, MARKER_LINE)`` for the tokens of a section marker; None for tag tokens,
      the MuQ row, BOS/EOS and whitespace-only tokens between lines.
    - ``token_spans[p]``: the ``(start, end)`` characters of ``lyrics`` that token ``p`` covers;
      None outside the lyrics text. Byte pieces of one character share its span.
    """

    tags: str
    lyrics: str
    structure: Lyrics
    tokens: tuple[int, ...]
    muq_index: int
    lyrics_start: int
    token_lines: tuple[LineKey | None, ...]
    token_spans: tuple[tuple[int, int] | None, ...]

    def __len__(self) -> int:
        """``L``, the number of prompt rows."""
        return len(self.tokens)

    @property
    def tag_tokens(self) -> tuple[int, ...]:
        """The tags' ids, BOS and EOS included."""
        return self.tokens[: self.muq_index]

    @property
    def lyrics_tokens(self) -> tuple[int, ...]:
        """The lyrics' ids, BOS and EOS included."""
        return self.tokens[self.lyrics_start :]

    def line_token_range(self, section: int, line: int) -> tuple[int, int]:
        """Prompt positions ``[start, stop)`` of the tokens of one line.

        ``line`` may be ``MARKER_LINE`` for the marker's tokens (an empty range for an unmarked
        section). An empty range sits where the tokens would be.
        """
        target = self._check_key(section, line)
        return self._range(lambda key: key == target, lambda key: key > target)

    def section_token_range(self, section: int) -> tuple[int, int]:
        """Prompt positions ``[start, stop)`` from a section's first token to its last.

        This includes its marker, its lines and the newline tokens between them, not the
        newlines after its last line.
        """
        self._check_key(section, MARKER_LINE)
        return self._range(lambda key: key[0] == section, lambda key: key[0] > section)

    def line_at(self, position: int) -> LyricLine | None:
        """The lyric line that prompt position ``position`` belongs to, or None."""
        key = self.token_lines[position]
        if key is None or key[1] == MARKER_LINE:
            return None
        return self.structure.sections[key[0]].lines[key[1]]

    def _check_key(self, section: int, line: int) -> LineKey:
        """``(section, line)`` after checking both exist (IndexError otherwise)."""
        sections = self.structure.sections
        if not 0 <= section < len(sections):
            raise IndexError(f"section {section} does not exist; the lyrics have {len(sections)} sections")
        count = len(sections[section].lines)
        if not MARKER_LINE <= line < count:
            raise IndexError(f"line {line} does not exist in section {section}, which has {count} lines")
        return (section, line)

    def _range(self, inside: Callable[[LineKey], bool], after: Callable[[LineKey], bool]) -> tuple[int, int]:
        """First and one-past-last position whose key satisfies ``inside``; keys are monotonic."""
        start = stop = None
        for pos in range(self.lyrics_start, len(self.tokens)):
            key = self.token_lines[pos]
            if key is None:
                continue
            if inside(key):
                start = pos if start is None else start
                stop = pos + 1
            elif after(key):
                if start is None:
                    return (pos, pos)
                break
        if start is None:
            end = len(self.tokens) - 1  # before the lyrics' EOS
            return (end, end)
        return (start, stop)  # type: ignore[return-value]


TokenizerSource = Union[Path, os.PathLike, Tokenizer]
"""What :class:`PromptTokenizer` is built from: a ``tokenizer.json`` path or a Tokenizer."""


def load_tokenizer(path: Path) -> Tokenizer:
    """Read a ``tokenizer.json``; CheckpointError naming the file when that fails."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"missing tokenizer.json: {path} does not exist")
    try:
        return Tokenizer.from_file(str(path))
    except Exception as exc:  # the Rust side raises plain Exception for every failure
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CheckpointError(f"{path}: not a valid tokenizer.json ({reason})") from None


class PromptTokenizer:
    """Tokenizes tags and lyrics like the reference pipeline and lays out the prompt.

    ``source`` is the path of a ``tokenizer.json`` (a :class:`pathlib.Path` or other
    ``os.PathLike``; a plain ``str`` is refused so that text is never mistaken for a path) or a
    ready :class:`tokenizers.Tokenizer`. ``gen_config`` gives the BOS/EOS ids, which must exist
    in the vocabulary. ``lyrics_frontend`` (see :mod:`heartmula_core.frontends`) rewrites the
    lower-cased lyrics before tokenization; official checkpoints have none.
    """

    def __init__(self, source: TokenizerSource, gen_config: GenConfig,
                 lyrics_frontend: LyricsFrontend | None = None) -> None:
        if isinstance(source, Tokenizer):
            self._tokenizer, where = source, "tokenizer"
        elif isinstance(source, os.PathLike):
            self._tokenizer, where = load_tokenizer(Path(source)), str(source)
        else:
            raise TypeError(f"source must be a pathlib.Path or a tokenizers.Tokenizer, found "
                            f"{type(source).__name__}")
        self._config = gen_config
        self._frontend = lyrics_frontend
        for name in ("text_bos_id", "text_eos_id"):
            token_id = getattr(gen_config, name)
            if self._tokenizer.id_to_token(token_id) is None:
                raise CheckpointError(f"{where}: no token with id {token_id} ({name} of gen_config.json); "
                                      f"the vocabulary has {self._tokenizer.get_vocab_size()} entries")

    @property
    def tokenizer(self) -> Tokenizer:
        """The underlying :class:`tokenizers.Tokenizer`."""
        return self._tokenizer

    @property
    def gen_config(self) -> GenConfig:
        """The config giving the BOS/EOS ids."""
        return self._config

    def encode_tags(self, tags: str) -> list[int]:
        """The tags' ids as the reference builds them (spec §3.1)."""
        ids = self._tokenizer.encode(preprocess_tags(tags)).ids
        return with_bos_eos(ids, self._config.text_bos_id, self._config.text_eos_id)

    def encode_lyrics(self, lyrics: str) -> list[int]:
        """The lyrics' ids as the reference builds them (spec §3.1)."""
        return self._encode_lyrics_with_spans(lyrics)[0]

    def _encode_lyrics_with_spans(self, lyrics: str) -> tuple[list[int], list[tuple[int, int] | None]]:
        """Lyrics ids and, per id, the span of original characters it covers (None if none)."""
        if not isinstance(lyrics, str):
            raise TypeError(f"lyrics must be str, found {type(lyrics).__name__}")
        lowered, origin = lower_with_origin(lyrics)  # lowered == preprocess_lyrics(lyrics)
        if self._frontend is not None:
            lowered, inner = self._frontend(lowered)
            origin = [origin[i] for i in inner]
        encoding = self._tokenizer.encode(lowered)
        ids = list(encoding.ids)
        spans = [_original_span(offsets, origin) for offsets in encoding.offsets]
        bos, eos = self._config.text_bos_id, self._config.text_eos_id
        if not ids or ids[0] != bos:
            ids.insert(0, bos)
            spans.insert(0, None)
        if ids[-1] != eos:
            ids.append(eos)
            spans.append(None)
        return ids, spans

    def encode(self, tags: str, lyrics: str, *, max_tokens: int | None = None) -> Prompt:
        """Build the :class:`Prompt` for ``tags`` and ``lyrics``.

        Lyrics with nothing to sing (empty, or only markers) are accepted: an instrumental.
        With ``max_tokens``, a longer prompt raises :class:`PromptError` saying by how much.
        """
        tag_ids = self.encode_tags(tags)
        lyric_ids, lyric_spans = self._encode_lyrics_with_spans(lyrics)
        length = len(tag_ids) + 1 + len(lyric_ids)
        if max_tokens is not None and length > max_tokens:
            over = length - max_tokens
            raise PromptError(f"prompt is {length} tokens ({len(tag_ids)} for the tags, 1 reference-audio "
                              f"row, {len(lyric_ids)} for the lyrics), over the limit of {max_tokens}; "
                              f"shorten the tags or lyrics by at least {over} tokens")
        structure = parse_lyrics(lyrics)
        lyric_lines = map_tokens_to_lines(structure, lyric_spans)
        head: list[None] = [None] * (len(tag_ids) + 1)
        log.debug("prompt: %d tag tokens, %d lyric tokens, %d sections", len(tag_ids), len(lyric_ids),
                  len(structure.sections))
        return Prompt(
            tags=tags,
            lyrics=lyrics,
            structure=structure,
            tokens=(*tag_ids, MUQ_ROW_TOKEN, *lyric_ids),
            muq_index=len(tag_ids),
            lyrics_start=len(tag_ids) + 1,
            token_lines=(*head, *lyric_lines),
            token_spans=(*head, *lyric_spans),
        )
