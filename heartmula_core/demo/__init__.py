"""The built-in demo model's music side: a token codec, its synthesizer, a composer and a corpus.

- :mod:`.vocab`: what the 8 codebooks of a demo frame mean (musical events, ids < 962).
- :mod:`.syllables`: the 960 sung-syllable classes of codebook 0 and the text -> syllable rule.
- :mod:`.codec` (:class:`DemoCodec`), :mod:`.renderer`, :mod:`.synth`: frames -> 48 kHz stereo.
- :mod:`.tags`, :mod:`.composer` (:func:`compose`): (tags, lyrics) -> arrangement -> frames.
- :mod:`.analysis`: lyric tokens, sections, tempo, key read back from frames or audio.
- :mod:`.lexicon`, :mod:`.corpus` (:func:`make_corpus`), :mod:`.eval_set`: training data and
  held-out evaluation prompts.

See ``README.md`` in this folder for the design.
"""

from .analysis import analyze_audio, analyze_frames, token_error_rate
from .codec import DemoCodec, load_demo_codec, write_demo_codec_folder
from .composer import Song, compose
from .corpus import make_corpus, make_song
from .eval_set import EVAL_SET
from .syllables import text_syllables

__all__ = [
    "EVAL_SET", "DemoCodec", "Song", "analyze_audio", "analyze_frames", "compose", "load_demo_codec",
    "make_corpus", "make_song", "text_syllables", "token_error_rate", "write_demo_codec_folder",
]
