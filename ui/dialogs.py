"""Dialogs: settings (model, device, dtype, memory, autosave) and the crash-recovery prompt.

The settings dialog validates a checkpoint folder with ``ModelSpec.validate`` (which uses
``heartmula_core.checkpoint.locate_checkpoint``) before it accepts, and shows the message inline.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from pathlib import Path

from PySide6 import QtWidgets

from app import qt_fixes  # noqa: F401  (PySide6 6.12 refcount workaround, applied on import)
from app.settings import DEVICES, DTYPES, MEMORY_MODES, EditorSettings, ModelSpec
from heartmula_core.errors import HeartMuLaError


class SettingsDialog(QtWidgets.QDialog):
    """Edit :class:`EditorSettings`; :meth:`result_settings` after ``exec()`` returns Accepted."""

    def __init__(self, settings: EditorSettings, parent: QtWidgets.QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.setMinimumWidth(520)
        self._settings = settings
        model = settings.model

        self.builtin = QtWidgets.QRadioButton("Built-in demo model")
        self.builtin.setToolTip("The tiny model shipped with the editor: instant, runs anywhere, for trying "
                                "the editing tools (it does not sound like the real model)")
        self.folder_choice = QtWidgets.QRadioButton("Checkpoint folder")
        self.folder_choice.setToolTip("An official HeartMuLa checkpoint folder (HeartMuLa-oss-*, HeartCodec-oss, "
                                      "tokenizer.json, gen_config.json)")
        self.folder = QtWidgets.QLineEdit(model.root or "")
        self.folder.setPlaceholderText("/path/to/ckpt")
        self.folder.setToolTip(self.folder_choice.toolTip())
        browse = QtWidgets.QPushButton("Browse…")
        browse.setToolTip("Choose the checkpoint folder")
        browse.clicked.connect(self._browse)
        (self.builtin if model.root is None else self.folder_choice).setChecked(True)
        self.builtin.toggled.connect(self._sync)
        self.folder.textChanged.connect(lambda _: self.error.hide())

        self.device = _combo(DEVICES, model.device, "Where the model runs; auto picks CUDA, then MPS, then CPU")
        self.dtype = _combo(DTYPES, model.dtype or "auto",
                            "Weights precision; auto is bfloat16 on CUDA and float32 elsewhere")
        self.memory = _combo(MEMORY_MODES, model.memory,
                             "low: for 12–16 GB GPUs, keeps the codec in CPU memory (audio is decoded after "
                             "generation instead of streamed)")
        self.autosave = QtWidgets.QSpinBox()
        self.autosave.setRange(0, 3600)
        self.autosave.setSuffix(" s")
        self.autosave.setSpecialValueText("off")
        self.autosave.setValue(settings.autosave_seconds)
        self.autosave.setToolTip("Autosave the song every N seconds while it has unsaved changes (0: off)")
        self.candidates = QtWidgets.QSpinBox()
        self.candidates.setRange(1, 16)
        self.candidates.setValue(settings.candidates)
        self.candidates.setToolTip("Takes sampled per re-sample / line fix; the one with the best seam is used")

        self.error = QtWidgets.QLabel()
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #ff7a70;")
        self.error.hide()

        folder_row = QtWidgets.QHBoxLayout()
        folder_row.addWidget(self.folder, 1)
        folder_row.addWidget(browse)
        self._browse_button = browse
        model_box = QtWidgets.QGroupBox("Model")
        form = QtWidgets.QFormLayout(model_box)
        form.addRow(self.builtin)
        form.addRow(self.folder_choice)
        form.addRow(folder_row)
        form.addRow("Device", self.device)
        form.addRow("Precision", self.dtype)
        form.addRow("Memory", self.memory)
        edit_box = QtWidgets.QGroupBox("Editing")
        form2 = QtWidgets.QFormLayout(edit_box)
        form2.addRow("Autosave every", self.autosave)
        form2.addRow("Candidates", self.candidates)
        buttons = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.StandardButton.Ok
                                             | QtWidgets.QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QtWidgets.QVBoxLayout(self)
        layout.addWidget(model_box)
        layout.addWidget(edit_box)
        layout.addWidget(self.error)
        layout.addWidget(buttons)
        self._sync()

    def _sync(self) -> None:
        custom = self.folder_choice.isChecked()
        self.folder.setEnabled(custom)
        self._browse_button.setEnabled(custom)
        self.error.hide()

    def _browse(self) -> None:
        folder = QtWidgets.QFileDialog.getExistingDirectory(self, "Checkpoint folder", self.folder.text())
        if folder:
            self.folder.setText(folder)

    def model_spec(self) -> ModelSpec:
        dtype = self.dtype.currentText()
        root = self.folder.text().strip() if self.folder_choice.isChecked() else ""
        return ModelSpec(root=root or None,
                         device=self.device.currentText(), dtype=None if dtype == "auto" else dtype,
                         memory=self.memory.currentText())

    def validation_error(self) -> str:
        """'' when the choice is usable, else the message shown in the dialog."""
        if self.folder_choice.isChecked() and not self.folder.text().strip():
            return "Choose a checkpoint folder, or the built-in demo model."
        try:
            self.model_spec().validate()
        except (HeartMuLaError, ValueError) as exc:
            return f"This folder cannot be used: {exc}"
        return ""

    def accept(self) -> None:
        message = self.validation_error()
        if message:
            self.error.setText(message)
            self.error.show()
            return
        super().accept()

    def result_settings(self) -> EditorSettings:
        return replace(self._settings, model=self.model_spec(), autosave_seconds=self.autosave.value(),
                       candidates=self.candidates.value())


def _combo(items, current: str, tip: str) -> QtWidgets.QComboBox:
    box = QtWidgets.QComboBox()
    box.addItems(list(items))
    box.setCurrentText(current if current in items else items[0])
    box.setToolTip(tip)
    return box


RECOVER, DISCARD, LATER = "recover", "discard", "later"


def recovery_prompt(parent: QtWidgets.QWidget | None, autosave: Path, song_name: str) -> QtWidgets.QMessageBox:
    """A (not yet shown) question: recover ``autosave`` of ``song_name``? Buttons carry the
    choice in their ``choice`` property (:data:`RECOVER`, :data:`DISCARD`, :data:`LATER`)."""
    when = dt.datetime.fromtimestamp(autosave.stat().st_mtime).strftime("%Y-%m-%d %H:%M")
    box = QtWidgets.QMessageBox(parent)
    box.setIcon(QtWidgets.QMessageBox.Icon.Question)
    box.setWindowTitle("Recover unsaved work")
    box.setText(f"The editor closed unexpectedly while “{song_name}” had unsaved changes.")
    box.setInformativeText(f"An autosave from {when} was found. Recover it?")
    role = QtWidgets.QMessageBox.ButtonRole
    for text, choice, r in (("Recover", RECOVER, role.AcceptRole), ("Discard", DISCARD, role.DestructiveRole),
                            ("Later", LATER, role.RejectRole)):
        button = box.addButton(text, r)
        button.setProperty("choice", choice)
    box.setDefaultButton(box.buttons()[0])
    return box


def ask_recovery(parent: QtWidgets.QWidget | None, autosave: Path, song_name: str) -> str:
    """Show :func:`recovery_prompt` modally; return the choice."""
    box = recovery_prompt(parent, autosave, song_name)
    box.exec()
    clicked = box.clickedButton()
    return clicked.property("choice") if clicked is not None else LATER


def ask_save_changes(parent: QtWidgets.QWidget | None, song_name: str) -> str:
    """"save", "discard" or "cancel" for a song with unsaved changes."""
    buttons = QtWidgets.QMessageBox.StandardButton
    answer = QtWidgets.QMessageBox.question(
        parent, "Unsaved changes", f"Save the changes to “{song_name}”?",
        buttons.Save | buttons.Discard | buttons.Cancel, buttons.Save)
    return {buttons.Save: "save", buttons.Discard: "discard"}.get(answer, "cancel")
