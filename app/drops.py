"""Files dropped on the window: what kind they are and how to read them (no Qt here).

Songs (``.hmsong``) are opened by the controller; lyrics (``.txt``) are read as UTF-8 text; audio
files are checked with soundfile (a header read, cheap enough for the GUI thread) before the
controller has the engine embed them as the song's *reference* track, which steers generation
and every edit.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from heartmula_core.errors import HeartMuLaError

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3")
SONG_SUFFIX = ".hmsong"
LYRICS_SUFFIX = ".txt"
DROP_SUFFIXES = (SONG_SUFFIX, LYRICS_SUFFIX, *AUDIO_SUFFIXES)


@dataclass(frozen=True)
class ReferenceAudio:
    """What a quick look at a dropped audio file found (the engine reads and embeds it later)."""

    path: Path
    seconds: float
    sample_rate: int
    channels: int

    @property
    def summary(self) -> str:
        return f"{self.path.name} ({self.seconds:.1f} s)"


def format_minutes(seconds: float) -> str:
    """``m:ss`` (a reference track's length)."""
    total = round(max(0.0, float(seconds)))
    return f"{total // 60}:{total % 60:02d}"


def read_reference(path: str | Path) -> ReferenceAudio:
    """Validate an audio file with soundfile; HeartMuLaError with a clear message otherwise."""
    import soundfile as sf

    path = Path(path)
    if path.suffix.lower() not in AUDIO_SUFFIXES:
        raise HeartMuLaError(f"{path.name}: unsupported audio type {path.suffix or '(none)'}; "
                             f"use {', '.join(AUDIO_SUFFIXES)}")
    try:
        info = sf.info(str(path))
    except (RuntimeError, OSError, sf.LibsndfileError) as exc:  # LibsndfileError is a RuntimeError
        raise HeartMuLaError(f"{path.name}: cannot read this audio file ({exc})") from None
    if info.frames <= 0 or info.samplerate <= 0:
        raise HeartMuLaError(f"{path.name}: the audio file holds no samples")
    return ReferenceAudio(path, info.frames / info.samplerate, int(info.samplerate), int(info.channels))


def read_lyrics_file(path: str | Path, limit: int = 200_000) -> str:
    """The text of a dropped ``.txt`` file (UTF-8, with or without BOM); HeartMuLaError otherwise."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise HeartMuLaError(f"{path.name}: cannot be read ({exc.strerror or exc})") from None
    if len(raw) > limit:
        raise HeartMuLaError(f"{path.name}: {len(raw)} bytes is too long for lyrics (limit {limit})")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise HeartMuLaError(f"{path.name}: not UTF-8 text") from None
