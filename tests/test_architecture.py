"""Checked rules: the engine never imports Qt, ``app`` or ``ui``, and never unpickles user files."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORE = ROOT / "heartmula_core"
FORBIDDEN = ("PySide6", "PyQt5", "PyQt6", "pyqtgraph", "qtpy", "app", "ui")


def imported_modules(path: Path):
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module


def test_core_sources_import_no_gui_or_app():
    offenders = [f"{p.relative_to(ROOT)}:{line} imports {name}"
                 for p in CORE.rglob("*.py")
                 for line, name in imported_modules(p)
                 if name.split(".")[0] in FORBIDDEN]
    assert not offenders, "heartmula_core must stay headless:\n" + "\n".join(offenders)


def test_importing_every_core_module_loads_no_gui():
    modules = sorted("heartmula_core." + ".".join(p.relative_to(CORE).with_suffix("").parts)
                     for p in CORE.rglob("*.py") if p.name != "__init__.py" and p.parent.name != "__pycache__")
    code = ("import importlib, sys\n"
            f"for m in {modules!r}: importlib.import_module(m)\n"
            f"bad = [m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r}]\n"
            "assert not bad, bad\n")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]


def test_no_pickle_loading_outside_tests():
    patterns = ("torch.load(", "pickle.load", "allow_pickle=True")
    hits = [f"{p.relative_to(ROOT)}: {pat}" for p in ROOT.rglob("*.py")
            if ".venv" not in p.parts and "tests" not in p.parts
            for pat in patterns if pat in p.read_text(encoding="utf-8")]
    assert not hits, hits
