"""HeartMuLa Editor entry point (``python main.py`` and the ``heartmula-editor`` console script).

With a subcommand it runs the headless CLI; with none it runs the default experience (for now a
demo song from a tiny checkpoint; the editor window replaces it once it exists).
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    from heartmula_core.cli import run

    return run(sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
