"""The demo model's ``tokenizer.json``: one token per character.

The demo model must sing lyrics whose words it never saw (the evaluation set is word-disjoint
from the corpus), and the syllable class it sings (codebook 0) is a function of the word's
*spelling* (:func:`heartmula_core.demo.syllables.text_syllables`). A character tokenizer shows
the model every letter of every word, the same way for seen and unseen words, so the spelling
rule can be learned once and applied anywhere; a BPE trained on corpus words would cut unseen
words into pieces it rarely saw together. Characters also keep the vocabulary tiny (< 100).

Layout (fixed, so the file is byte-for-byte the same on every run):

- id 0 ``<|pad|>``, 1 ``<|begin_of_text|>`` (:data:`DEMO_BOS_ID`), 2 ``<|end_of_text|>``
  (:data:`DEMO_EOS_ID`), 3 ``<|unk|>`` (any character not listed below);
- then newline, carriage return, tab, space, ``a``-``z``, ``0``-``9`` and ASCII punctuation.

The text reaching the tokenizer is already lower-cased by :mod:`heartmula_core.prompt` (tags
wrapped in ``<tag>``...``</tag>``, section markers such as ``[verse 2]`` kept in the lyrics), so
markers, tag brackets and line breaks are spelled out character by character; ``\\n`` is its own
token, which marks line ends for the model. The post-processor prepends ``<|begin_of_text|>``
like stock Llama-3.2 (and the tiny tokenizer); :class:`~heartmula_core.prompt.PromptTokenizer`
appends ``<|end_of_text|>``. Offsets are exact character offsets.
"""

from __future__ import annotations

import logging
import string
from pathlib import Path

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors

from ..config import GenConfig

log = logging.getLogger(__name__)

DEMO_PAD_ID = 0
DEMO_BOS_ID = 1
DEMO_EOS_ID = 2
DEMO_UNK_ID = 3
DEMO_SPECIAL_TOKENS = ("<|pad|>", "<|begin_of_text|>", "<|end_of_text|>", "<|unk|>")
DEMO_CHARACTERS: tuple[str, ...] = tuple("\n\r\t " + string.ascii_lowercase + string.digits
                                         + string.punctuation)


def demo_vocab() -> dict[str, int]:
    """Token -> id: the specials, then :data:`DEMO_CHARACTERS` in order."""
    tokens = [*DEMO_SPECIAL_TOKENS, *DEMO_CHARACTERS]
    return {token: i for i, token in enumerate(tokens)}


def demo_gen_config(audio_eos_id: int) -> GenConfig:
    """The ``gen_config.json`` values matching this tokenizer."""
    return GenConfig(text_bos_id=DEMO_BOS_ID, text_eos_id=DEMO_EOS_ID, audio_eos_id=audio_eos_id, empty_id=0)


def build_demo_tokenizer() -> Tokenizer:
    """The character tokenizer described in the module docstring (deterministic, no training)."""
    unk = DEMO_SPECIAL_TOKENS[DEMO_UNK_ID]
    tokenizer = Tokenizer(models.BPE(vocab=demo_vocab(), merges=[], unk_token=unk))
    tokenizer.add_special_tokens(list(DEMO_SPECIAL_TOKENS))
    # every character is its own pre-token, so no merge or word boundary can ever matter
    tokenizer.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
    tokenizer.decoder = decoders.Fuse()
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
