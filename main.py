"""HeartMuLa Editor entry point (``python main.py`` and the ``heartmula-editor`` console script).

- With a command (``generate``, ``new``, ``edit``, ``render``, ``info``, ``frames``, ``score``,
  ``demo``, ``make-tiny``) it runs the headless CLI (:mod:`heartmula_core.cli`).
- Otherwise it opens the editor window (:mod:`app.gui_main`): ``[SONG.hmsong] [--model DIR]
  [--screenshot OUT.png]``. On a machine with no display (no ``DISPLAY`` / ``WAYLAND_DISPLAY``
  and no ``QT_QPA_PLATFORM`` chosen) the window cannot be shown: it is then rendered offscreen
  with a demo song, saved as ``heartmula-editor.png`` and the program says so and exits.
"""

from __future__ import annotations

import os
import sys

CLI_COMMANDS = {"generate", "score", "demo", "make-tiny", "new", "edit", "render", "info", "frames"}
HEADLESS_SHOT = "heartmula-editor.png"


def has_display() -> bool:
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY") or os.environ.get("QT_QPA_PLATFORM")
                or sys.platform in ("win32", "darwin"))


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and (argv[0] in CLI_COMMANDS or argv[0] in ("-v", "--verbose")):
        from heartmula_core.cli import run

        return run(argv)
    if not has_display() and "--screenshot" not in argv:
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
        argv = [*argv, "--screenshot", HEADLESS_SHOT, "--demo-song"]
        sys.stderr.write(f"No display found: rendering the editor offscreen with a demo song to {HEADLESS_SHOT}.\n"
                         "Run it on a desktop (or with xvfb-run) to use the window.\n")
    from app.gui_main import run_gui

    return run_gui(argv)


if __name__ == "__main__":
    sys.exit(main())
