"""A tiny byte-level BPE tokenizer for tests, tiny checkpoints and the demo model.

The released HeartMuLa checkpoint ships the stock Llama-3.2 ``tokenizer.json`` (spec §1.4): a
128k-entry byte-level BPE whose post-processor puts ``<|begin_of_text|>`` in front and adds no
``<|end_of_text|>``. :func:`write_tiny_tokenizer` builds a tokenizer of the same *kind* with a few
hundred entries, so that the prompt code runs through exactly the same paths (byte-level pieces,
character offsets, a BOS-only post-processor) in milliseconds:

- id 0 ``<|pad|>``, id 1 ``<|begin_of_text|>`` (:data:`TINY_BOS_ID`), id 2 ``<|end_of_text|>``
  (:data:`TINY_EOS_ID`), then the 256 byte symbols, then the learned merges.
- Pre-tokenization splits the text the way Llama-3 does (letters with one leading non-letter,
  digits in groups of up to three, punctuation runs that swallow the newlines after them, newline
  runs, other spaces), then maps bytes to symbols. So, as with the real tokenizer, a token such
  as ``",\\n"`` can end a line and carry its newline.
- Training runs on the built-in corpus :data:`TINY_CORPUS` with fixed settings, so the written
  file is byte-for-byte the same on every run.

A checkpoint built with this tokenizer needs a ``gen_config.json`` with ``text_bos_id`` 1 and
``text_eos_id`` 2.
"""

from __future__ import annotations

import logging
from pathlib import Path

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors, trainers

log = logging.getLogger(__name__)

TINY_PAD_ID = 0
TINY_BOS_ID = 1
TINY_EOS_ID = 2
TINY_SPECIAL_TOKENS = ("<|pad|>", "<|begin_of_text|>", "<|end_of_text|>")

# The Llama-3 split rule written out: contractions; letters with at most one leading
# non-letter, non-digit, non-newline character; 1-3 digits; punctuation runs with an optional
# leading space and trailing newlines; whitespace ending in newlines; trailing spaces; spaces.
_SPLIT_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)"
    r"|[^\r\n\p{L}\p{N}]?\p{L}+"
    r"|\p{N}{1,3}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+"
    r"|\s+(?!\S)"
    r"|\s+"
)

_TAG_WORDS = (
    "pop rock piano happy sad guitar drums bass synthesizer electronic acoustic ballad jazz "
    "blues folk country hip-hop rap r&b soul funk dance edm house techno ambient lo-fi metal "
    "punk indie classical orchestral cinematic romantic wedding energetic calm chill dark "
    "uplifting melancholic dreamy epic female male vocal vocals duet choir strings violin "
    "cello saxophone trumpet upbeat slow fast groovy warm bright summer night party love"
)

_LYRIC_WORDS = (
    "i you me we us they he she it my your our the a an and or but so if when where why how "
    "what who is am are was were be been being have has had do does did will would can could "
    "should not no yes oh ooh yeah hey la na baby love heart soul night day light dark fire "
    "rain sun moon star stars sky sea ocean river road home away back down up out in on over "
    "under through tonight forever never always again alone together dream dreams dreaming "
    "hold hand hands eyes face smile tears cry crying dance dancing sing singing song songs "
    "music feel feeling know knew want need take give go going gone come coming run running "
    "fall falling fly flying stay leave time world life live living die free young old wild "
    "heartbeat memories remember forget lost found broken beautiful golden shining burning "
    "cold warm sweet kiss touch breathe wait waiting believe everything nothing something "
    "someone everyone anywhere somewhere here there now then just still only every one two "
    "three more last first til gonna wanna let me you're i'm it's don't can't won't i'll "
    "we're they're"
)

_SECTION_WORDS = (
    "[intro] [verse] [verse 1] [verse 2] [pre-chorus] [chorus] [post-chorus] [bridge] "
    "[hook] [outro] [instrumental] [interlude] [solo] [break] intro verse chorus bridge outro"
)

_SAMPLE_SONG = """[intro]

[verse]
the night is young and the stars are bright,
i hold your hand and we feel alright.
oh, we're dancing in the golden light,
don't let me go, stay with me tonight!

[pre-chorus]
and i know, i know, you feel it too...

[chorus]
love, love, love is all we need,
sing it loud (sing it loud) and set it free!
la la la, na na na, ooh-ooh, yeah,
hey - 1, 2, 3, 4 - here we go again?

[bridge]
when the rain falls down and the river runs,
i'll remember every song we sung.

[outro]
forever, forever... 2024 & 1999: "goodbye"
"""


def _corpus() -> list[str]:
    """The built-in training text: tag lines, word lists and a sample song, all lower-case."""
    tag_words = _TAG_WORDS.split()
    tag_lines = [
        "<tag>" + ",".join(tag_words[i : i + 5]) + "</tag>" for i in range(0, len(tag_words), 5)
    ]
    return [*tag_lines, _LYRIC_WORDS, _LYRIC_WORDS.replace(" ", "\n"), _SECTION_WORDS,
            _SAMPLE_SONG, _SAMPLE_SONG]


TINY_CORPUS: tuple[str, ...] = tuple(_corpus())


def build_tiny_tokenizer(*, vocab_size: int = 512, add_bos: bool = True) -> Tokenizer:
    """Train the tiny tokenizer in memory and return it.

    ``vocab_size`` counts the 3 special tokens and the 256 byte symbols, so it must be at least
    259. The corpus holds enough pairs for about 1,100 entries; a larger value stops there.
    With ``add_bos`` the post-processor prepends ``<|begin_of_text|>`` to every encoding, like
    stock Llama-3.2; without it, nothing is added.
    """
    if vocab_size < len(TINY_SPECIAL_TOKENS) + 256:
        raise ValueError(f"vocab_size must be at least {len(TINY_SPECIAL_TOKENS) + 256}, found {vocab_size}")
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(_SPLIT_PATTERN), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=1,
        special_tokens=list(TINY_SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(TINY_CORPUS, trainer=trainer)
    tokenizer.post_processor = _post_processor(add_bos)
    log.debug("trained tiny tokenizer: %d entries, add_bos=%s", tokenizer.get_vocab_size(), add_bos)
    return tokenizer


def _post_processor(add_bos: bool) -> processors.PostProcessor:
    """Byte-level offsets kept as they are (spaces included), plus BOS in front when asked."""
    byte_level = processors.ByteLevel(trim_offsets=False)
    if not add_bos:
        return byte_level
    bos = TINY_SPECIAL_TOKENS[TINY_BOS_ID]
    template = processors.TemplateProcessing(
        single=f"{bos} $A",
        pair=f"{bos} $A {bos} $B",
        special_tokens=[(bos, TINY_BOS_ID)],
    )
    return processors.Sequence([byte_level, template])


def write_tiny_tokenizer(path: Path, *, vocab_size: int = 512, add_bos: bool = True) -> None:
    """Train the tiny tokenizer (see :func:`build_tiny_tokenizer`) and save it as ``path``.

    The file is a regular ``tokenizer.json`` that :meth:`tokenizers.Tokenizer.from_file` reads.
    The parent folder must exist. The same arguments always give the same bytes.
    """
    tokenizer = build_tiny_tokenizer(vocab_size=vocab_size, add_bos=add_bos)
    Path(path).write_text(tokenizer.to_str(pretty=True), encoding="utf-8")
