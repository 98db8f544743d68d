"""Undo/redo over immutable :class:`SongDocument` snapshots."""

from __future__ import annotations

from .document import EditError, SongDocument

MAX_UNDO = 200


class History:
    """A linear history: ``push`` after each edit, ``undo``/``redo`` move through it.

    Documents are immutable, so a snapshot is the document itself (frames of a 4-minute song are
    ~50 KB); undo restores exactly the earlier object. Pushing after an undo drops the redo branch.
    """

    def __init__(self, doc: SongDocument, label: str = "new song") -> None:
        self._items: list[tuple[SongDocument, str]] = [(doc, label)]
        self._index = 0

    @property
    def current(self) -> SongDocument:
        return self._items[self._index][0]

    def push(self, doc: SongDocument, label: str) -> SongDocument:
        """Make ``doc`` the current document, labelled ``label`` (e.g. "re-sample 0:30-0:42")."""
        del self._items[self._index + 1:]
        self._items.append((doc, label))
        if len(self._items) > MAX_UNDO + 1:
            del self._items[0]
        self._index = len(self._items) - 1
        return doc

    @property
    def can_undo(self) -> bool:
        return self._index > 0

    @property
    def can_redo(self) -> bool:
        return self._index + 1 < len(self._items)

    @property
    def undo_label(self) -> str | None:
        return self._items[self._index][1] if self.can_undo else None

    @property
    def redo_label(self) -> str | None:
        return self._items[self._index + 1][1] if self.can_redo else None

    def undo(self) -> SongDocument:
        if not self.can_undo:
            raise EditError("nothing to undo")
        self._index -= 1
        return self.current

    def redo(self) -> SongDocument:
        if not self.can_redo:
            raise EditError("nothing to redo")
        self._index += 1
        return self.current

    @classmethod
    def from_steps(cls, steps: list[tuple[SongDocument, str]], index: int) -> History:
        """A history holding ``steps`` (oldest first) with ``steps[index]`` current."""
        if not 0 <= index < len(steps):
            raise EditError(f"history index {index} outside 0..{len(steps) - 1}")
        history = cls(*steps[0])
        history._items = list(steps)
        history._index = index
        return history

    def items(self) -> list[tuple[SongDocument, str]]:
        """``(document, label)`` of every step, oldest first."""
        return list(self._items)

    def labels(self) -> list[str]:
        return [label for _, label in self._items]

    @property
    def index(self) -> int:
        return self._index
