"""A tiny random checkpoint root in the official layout (tests, the interim demo, smoke checks).

The weights are random, so the "music" is noise-like; what it exercises is the real loading,
generation and decoding code on any CPU in seconds.
"""

from __future__ import annotations

from pathlib import Path

from .checkpoint import CODEC_DIR, GEN_CONFIG_FILE, MODEL_PREFIX, TOKENIZER_FILE
from .codec.heartcodec.random_init import tiny_config as tiny_codec_config
from .codec.heartcodec.random_init import write_random_heartcodec
from .config import GenConfig
from .model.random_init import tiny_config, write_gen_config, write_random_heartmula
from .tiny_tokenizer import TINY_BOS_ID, TINY_EOS_ID, write_tiny_tokenizer

TINY_TEXT_VOCAB = 512


def tiny_gen_config() -> GenConfig:
    return GenConfig(text_bos_id=TINY_BOS_ID, text_eos_id=TINY_EOS_ID, audio_eos_id=8193, empty_id=0)


def write_tiny_checkpoint(root: Path, *, seed: int = 0, model_shards: int = 2, codec_shards: int = 1) -> Path:
    """Write a complete tiny checkpoint root (custom flavors, official key names) and return it."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    write_random_heartmula(root / f"{MODEL_PREFIX}3B", tiny_config(text_vocab_size=TINY_TEXT_VOCAB),
                           seed=seed, shards=model_shards)
    write_random_heartcodec(root / CODEC_DIR, tiny_codec_config(), seed=seed, shards=codec_shards)
    write_tiny_tokenizer(root / TOKENIZER_FILE, vocab_size=TINY_TEXT_VOCAB)
    write_gen_config(root / GEN_CONFIG_FILE, tiny_gen_config())
    return root
