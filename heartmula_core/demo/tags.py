"""The demo's tag vocabulary: how a tags string picks tempo, mode, instruments and energy.

Tags are read as words (lower-case, split at anything that is not a letter, digit, ``&`` or
``-``); unknown words are ignored. Later words win over earlier ones of the same kind
("slow, fast" is fast). Everything not fixed by a tag is drawn from the song's seed.

- **Genres** (:data:`GENRES`) set the default tempo range, instruments, drum and bass patterns,
  an energy offset and the chance of a major key.
- **Tempo words** (:data:`TEMPO_WORDS`): ``fast`` (150-188 bpm), ``medium`` (107-125 bpm),
  ``slow`` (75-94 bpm); ``NNNbpm`` or ``NNN bpm`` picks the nearest tempo on the frame grid.
- **Mode words** (:data:`MODE_WORDS`): ``major``, ``minor``; moods imply one (``happy`` major,
  ``sad`` / ``dark`` minor). An explicit ``major`` / ``minor`` wins over moods.
- **Energy words** (:data:`ENERGY_WORDS`) shift every section's energy (``energetic`` +1,
  ``calm`` -1...).
- **Instruments** (:data:`INSTRUMENT_WORDS`): the first two named become the verse and chorus
  instruments (piano, guitar, synth, strings, organ); ``drums`` keeps drums, ``acoustic`` /
  ``unplugged`` softens them to the ballad pattern.
- **Voice**: ``female`` / ``male`` (and synonyms) set the melody register.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from . import vocab


@dataclass(frozen=True)
class Genre:
    fpb: tuple[int, ...]           # frames per beat to choose from
    instruments: tuple[str, ...]   # verse (and chorus) instrument defaults
    drums: str                     # drum pattern name (composer.DRUM_PATTERNS)
    bass: str                      # bass pattern name (composer.BASS_PATTERNS)
    energy: int                    # energy offset
    major: float                   # probability of a major key
    sevenths: bool = False         # jazzy seventh chords


GENRES: dict[str, Genre] = {
    "pop": Genre((6, 7), ("piano", "synth"), "backbeat", "eighths", 0, 0.7),
    "rock": Genre((5, 6), ("guitar", "organ"), "rock", "eighths", 1, 0.6),
    "ballad": Genre((8, 9, 10), ("piano", "strings"), "ballad", "half", -1, 0.5),
    "folk": Genre((6, 7, 8), ("guitar",), "folk", "root_fifth", 0, 0.6),
    "country": Genre((6, 7), ("guitar", "piano"), "backbeat", "root_fifth", 0, 0.75),
    "electronic": Genre((6,), ("synth",), "four", "octave", 1, 0.5),
    "disco": Genre((6,), ("strings", "synth"), "four", "octave", 1, 0.8),
    "hiphop": Genre((8, 9), ("synth", "piano"), "hiphop", "sync", 0, 0.3),
    "jazz": Genre((6, 7, 8), ("piano", "organ"), "jazz", "quarter", 0, 0.6, sevenths=True),
    "blues": Genre((7, 8, 9), ("guitar", "organ"), "backbeat", "quarter", 0, 0.5, sevenths=True),
    "soul": Genre((7, 8), ("organ", "piano"), "backbeat", "sync", 0, 0.5, sevenths=True),
    "funk": Genre((6, 7), ("guitar", "organ"), "funk", "sync", 1, 0.5),
    "punk": Genre((4,), ("guitar",), "rock", "eighths", 2, 0.6),
    "metal": Genre((4, 5), ("guitar",), "metal", "eighths", 2, 0.2),
    "indie": Genre((6, 7), ("guitar", "synth"), "backbeat", "eighths", 0, 0.6),
    "lofi": Genre((9, 10), ("piano", "synth"), "hiphop", "half", -1, 0.5, sevenths=True),
    "ambient": Genre((9, 10), ("strings", "synth"), "ballad", "half", -2, 0.5),
    "classical": Genre((7, 8, 9), ("strings", "piano"), "ballad", "half", -1, 0.5),
    "gospel": Genre((7, 8), ("organ", "piano"), "backbeat", "quarter", 0, 0.9),
}
GENRE_ALIASES = {
    "edm": "electronic", "dance": "electronic", "house": "electronic", "techno": "electronic",
    "trance": "electronic", "electro": "electronic", "synthpop": "pop", "k-pop": "pop",
    "kpop": "pop", "hip-hop": "hiphop", "rap": "hiphop", "trap": "hiphop", "r&b": "soul",
    "rnb": "soul", "lo-fi": "lofi", "chillhop": "lofi", "orchestral": "classical",
    "cinematic": "classical", "grunge": "rock", "alternative": "rock", "acoustic": "folk",
    "singer-songwriter": "folk", "swing": "jazz", "motown": "soul", "hardcore": "punk",
}
DEFAULT_GENRE = "pop"

FAST, MEDIUM, SLOW = (4, 5), (6, 7), (8, 9, 10)
TEMPO_WORDS = {
    "fast": FAST, "upbeat": FAST, "uptempo": FAST, "up-tempo": FAST, "quick": FAST, "rapid": FAST,
    "medium": MEDIUM, "moderate": MEDIUM, "midtempo": MEDIUM, "mid-tempo": MEDIUM,
    "slow": SLOW, "downtempo": SLOW, "laid-back": SLOW, "relaxed": SLOW, "lullaby": SLOW,
}
MODE_WORDS = {"major": "major", "minor": "minor"}
MOOD_MODES = {
    "happy": "major", "joyful": "major", "cheerful": "major", "bright": "major",
    "uplifting": "major", "sunny": "major", "fun": "major", "playful": "major",
    "hopeful": "major", "triumphant": "major", "sad": "minor", "melancholic": "minor",
    "melancholy": "minor", "dark": "minor", "moody": "minor", "gloomy": "minor",
    "lonely": "minor", "somber": "minor", "haunting": "minor", "mysterious": "minor",
    "heartbroken": "minor", "angry": "minor", "tense": "minor",
}
ENERGY_WORDS = {
    "energetic": 1, "powerful": 1, "intense": 2, "aggressive": 2, "epic": 1, "loud": 1,
    "driving": 1, "party": 1, "calm": -1, "gentle": -1, "soft": -1, "quiet": -2,
    "peaceful": -1, "relaxing": -1, "dreamy": -1, "romantic": -1, "intimate": -1, "chill": -1,
}
INSTRUMENT_WORDS = {
    "piano": "piano", "keys": "piano", "keyboard": "piano", "rhodes": "piano",
    "guitar": "guitar", "guitars": "guitar", "banjo": "guitar", "ukulele": "guitar",
    "synth": "synth", "synths": "synth", "synthesizer": "synth", "synthwave": "synth",
    "strings": "strings", "violin": "strings", "cello": "strings", "orchestra": "strings",
    "organ": "organ", "hammond": "organ",
}
SOFT_DRUM_WORDS = frozenset({"acoustic", "unplugged"})
VOICE_WORDS = {
    "female": "female", "woman": "female", "girl": "female", "soprano": "female",
    "male": "male", "man": "male", "boy": "male", "baritone": "male", "tenor": "male",
}
#: melody range (MIDI) of each voice
VOICE_RANGES = {"female": (57, 76), "male": (48, 67)}

_WORD = re.compile(r"[a-z0-9&\-]+")
_BPM = re.compile(r"(\d{2,3})\s*bpm")


@dataclass(frozen=True)
class Style:
    """What the tags (and the seed) fixed for a song."""

    genre: str
    fpb: int
    key: int                       # tonic pitch class, 0 = C
    mode: str                      # "major" or "minor"
    instruments: tuple[str, str]   # (verse, chorus)
    drums: str
    bass: str
    energy: int                    # offset added to each section's energy
    voice: str
    sevenths: bool

    @property
    def bpm(self) -> float:
        return vocab.bpm_of_fpb(self.fpb)

    @property
    def key_name(self) -> str:
        return f"{vocab.NOTE_NAMES[self.key]} {self.mode}"


def tag_words(tags: str) -> list[str]:
    """The words of a tags string, in order (``hip-hop`` and ``r&b`` stay whole)."""
    words = []
    for word in _WORD.findall(tags.lower()):
        words.append(word)
        if "-" in word and word not in GENRE_ALIASES and word not in TEMPO_WORDS:
            words.extend(part for part in word.split("-") if part)
    return words


def resolve_style(tags: str, rng: np.random.Generator) -> Style:
    """The :class:`Style` for ``tags``; choices left open are drawn from ``rng``."""
    words = tag_words(tags)
    genre_name = DEFAULT_GENRE
    tempo: tuple[int, ...] | None = None
    mode = mood = voice = None
    energy = 0
    soft_drums = False
    instruments: list[str] = []
    for word in words:
        name = GENRE_ALIASES.get(word, word)
        if name in GENRES:
            genre_name = name
            if word == "ballad":
                tempo = SLOW
        if word in TEMPO_WORDS:
            tempo = TEMPO_WORDS[word]
        mode = MODE_WORDS.get(word, mode)
        mood = MOOD_MODES.get(word, mood)
        energy += ENERGY_WORDS.get(word, 0)
        voice = VOICE_WORDS.get(word, voice)
        soft_drums |= word in SOFT_DRUM_WORDS
        if word in INSTRUMENT_WORDS and INSTRUMENT_WORDS[word] not in instruments:
            instruments.append(INSTRUMENT_WORDS[word])
    for match in _BPM.finditer(tags.lower()):
        bpm = float(match.group(1))
        tempo = (int(np.clip(round(60.0 * vocab.FRAME_RATE / bpm), vocab.MIN_FPB, vocab.MAX_FPB)),)
    genre = GENRES[genre_name]
    fpb = int(rng.choice(tempo or genre.fpb))
    chosen_mode = mode or mood or ("major" if rng.random() < genre.major else "minor")
    key = int(rng.integers(12))
    pool = instruments or list(genre.instruments)
    verse = pool[0]
    chorus = pool[1] if len(pool) > 1 else verse
    voice = voice or ("female" if rng.random() < 0.5 else "male")
    drums = "ballad" if soft_drums and genre.drums not in ("ballad",) else genre.drums
    return Style(genre_name, fpb, key, chosen_mode, (verse, chorus), drums, genre.bass,
                 int(np.clip(energy + genre.energy, -3, 3)), voice, genre.sevenths)


def without_tempo_and_mode(tags: str) -> str:
    """``tags`` with every item (comma-separated) that sets tempo or mode removed: tempo words,
    ``NNN bpm``, ``major``/``minor`` and mood words. Training uses it so that a reference track
    is sometimes the only source of tempo and mode."""
    separator = ", " if ", " in tags else ","
    kept = []
    for item in tags.split(","):
        words = tag_words(item)
        sets = any(w in TEMPO_WORDS or w in MODE_WORDS or w in MOOD_MODES for w in words)
        if not sets and not _BPM.search(item.lower()):
            kept.append(item.strip())
    return separator.join(k for k in kept if k)
