"""Application look: the Fusion style with a dark or light palette that follows the system.

:func:`apply_theme` reads ``QStyleHints.colorScheme()``: Light gives the light palette, Dark or
*Unknown* (no preference, e.g. offscreen or a bare X session) gives the dark one, because an
audio editor is easier on the eyes dark. It follows later system changes. The timeline keeps its
own dark colours in both (like most DAWs' arrange views). :data:`STYLE_SHEET` only adds spacing
and accents; colours come from the palette.
"""

from __future__ import annotations

from PySide6 import QtCore, QtGui, QtWidgets

from app import qt_fixes  # noqa: F401  (PySide6 6.12 refcount workaround, applied on import)

ACCENT = "#4c8dd6"
DARK = {
    "window": "#24272c", "base": "#1b1d21", "alt": "#2a2d33", "text": "#e8eaed", "muted": "#9aa0a6",
    "button": "#2f333a", "border": "#3a3f47", "highlight": ACCENT, "disabled": "#6b7078",
}
LIGHT = {
    "window": "#eceef1", "base": "#ffffff", "alt": "#f4f5f7", "text": "#1f2328", "muted": "#5f6670",
    "button": "#f7f8fa", "border": "#c5cad1", "highlight": "#2f6fb8", "disabled": "#a0a6ae",
}

STYLE_SHEET = """
QToolBar { spacing: 3px; padding: 3px 6px; border: none; border-bottom: 1px solid %(border)s; }
QToolBar QToolButton { padding: 4px 8px; border-radius: 4px; }
QToolBar QToolButton:hover { background: %(alt)s; }
QToolBar QToolButton:checked { background: %(highlight)s; color: white; }
QToolButton#primary { background: %(highlight)s; color: white; font-weight: 600; padding: 4px 14px; }
QToolButton#primary:hover { background: %(highlight_hover)s; }
QToolButton#primary:disabled { background: %(button)s; color: %(disabled)s; }
QToolButton#danger:enabled { color: #ff7a70; }
QFrame#panel { background: %(window)s; }
QLabel#panelTitle { color: %(muted)s; font-size: 10px; font-weight: 700; letter-spacing: 1px;
                    padding: 2px 0; }
QLabel#dropZone { border: 1px dashed %(border)s; border-radius: 5px; padding: 6px 8px; color: %(muted)s; }
QLabel#dropZone[active="true"] { border: 1px solid %(highlight)s; color: %(text)s; }
QFrame#messageBar { border-top: 1px solid %(border)s; }
QFrame#messageBar[level="error"] { background: #4a2327; }
QFrame#messageBar[level="warning"] { background: #4a3d1f; }
QFrame#messageBar[level="info"] { background: %(alt)s; }
QFrame#fixBar { background: %(alt)s; border: 1px solid %(highlight)s; border-radius: 4px; }
QLabel#timeDisplay { font-family: monospace; font-size: 15px; padding: 0 8px; }
QStatusBar QLabel { color: %(muted)s; padding: 0 6px; }
QSplitter::handle { background: %(border)s; }
QTreeWidget, QPlainTextEdit, QLineEdit { border: 1px solid %(border)s; border-radius: 3px; }
QProgressBar { border: 1px solid %(border)s; border-radius: 3px; text-align: center; max-height: 14px; }
QProgressBar::chunk { background: %(highlight)s; }
"""


def system_prefers_dark(app: QtGui.QGuiApplication) -> bool:
    """True unless the system says Light (Unknown counts as dark)."""
    scheme = app.styleHints().colorScheme()
    return scheme != QtCore.Qt.ColorScheme.Light


def palette(colors: dict[str, str]) -> QtGui.QPalette:
    """A QPalette from one of :data:`DARK` / :data:`LIGHT`."""
    pal = QtGui.QPalette()
    role, group = QtGui.QPalette.ColorRole, QtGui.QPalette.ColorGroup
    c = {k: QtGui.QColor(v) for k, v in colors.items()}
    for r, key in ((role.Window, "window"), (role.Base, "base"), (role.AlternateBase, "alt"),
                   (role.Text, "text"), (role.WindowText, "text"), (role.ButtonText, "text"),
                   (role.Button, "button"), (role.Highlight, "highlight"), (role.ToolTipBase, "alt"),
                   (role.ToolTipText, "text"), (role.PlaceholderText, "muted"), (role.Mid, "border"),
                   (role.Dark, "base"), (role.Midlight, "border"), (role.Light, "alt")):
        pal.setColor(r, c[key])
    pal.setColor(role.HighlightedText, QtGui.QColor("white"))
    pal.setColor(role.Link, c["highlight"])
    for r in (role.Text, role.WindowText, role.ButtonText):
        pal.setColor(group.Disabled, r, c["disabled"])
    return pal


def apply_theme(app: QtWidgets.QApplication, dark: bool | None = None) -> bool:
    """Apply Fusion + palette + style sheet; ``dark`` None follows the system. Returns dark."""
    if dark is None:
        dark = system_prefers_dark(app)
        if not getattr(app, "_heartmula_theme_hooked", False):
            app.styleHints().colorSchemeChanged.connect(lambda *_: apply_theme(app))
            app._heartmula_theme_hooked = True
    colors = DARK if dark else LIGHT
    app.setStyle("Fusion")
    app.setPalette(palette(colors))
    hover = QtGui.QColor(colors["highlight"]).lighter(115).name()
    app.setStyleSheet(STYLE_SHEET % {**colors, "highlight_hover": hover})
    app.setProperty("darkTheme", dark)
    return dark
