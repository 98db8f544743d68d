"""The editing engine: song document, operations, history, audio cache, song files."""

from .document import EditError, LineSpan, Reference, SectionSpan, SongDocument, Take
from .editor import DEFAULT_MODEL_DIR, Editor, ProgressEvent

__all__ = ["DEFAULT_MODEL_DIR", "EditError", "Editor", "LineSpan", "ProgressEvent", "Reference", "SectionSpan",
           "SongDocument", "Take"]
