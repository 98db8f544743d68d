"""The editing engine: song document, operations, history, audio cache, song files."""

from .audio_cache import AudioCache
from .document import EditError, LineSpan, Reference, SectionSpan, SongDocument, Take
from .editor import DEFAULT_MODEL_DIR, Editor, ProgressEvent, token_space_mismatch
from .history import History
from .songfile import autosave_song, load_song, load_song_history, save_song

__all__ = ["DEFAULT_MODEL_DIR", "AudioCache", "EditError", "Editor", "History", "LineSpan", "ProgressEvent",
           "Reference", "SectionSpan", "SongDocument", "Take", "autosave_song", "load_song", "load_song_history",
           "save_song", "token_space_mismatch"]
