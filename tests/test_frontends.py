"""Lyrics front-ends declared by a checkpoint: lookup by name only, clear errors."""

from __future__ import annotations

import json

import pytest

from heartmula_core.demo.tokenizer import FRONTEND_NAME, syllable_frontend
from heartmula_core.errors import CheckpointError
from heartmula_core.frontends import FRONTEND_FILE, load_frontend, write_frontend_file


def test_round_trip_and_absent(tmp_path):
    assert load_frontend(tmp_path) is None
    write_frontend_file(tmp_path, FRONTEND_NAME)
    assert load_frontend(tmp_path) is syllable_frontend


@pytest.mark.parametrize("content, message", [
    ('{"name": "os.system", "version": 1}', "unknown lyrics front-end"),
    ('{"name": "heartmula-demo-syllables", "version": 9}', "not supported"),
    ('{"version": 1}', "name"),
    ("not json", "unreadable"),
])
def test_bad_files(tmp_path, content, message):
    (tmp_path / FRONTEND_FILE).write_text(content)
    with pytest.raises(CheckpointError, match=message):
        load_frontend(tmp_path)


def test_demo_checkpoint_declares_its_frontend():
    from heartmula_core.checkpoint import DEMO_MODEL_DIR

    data = json.loads((DEMO_MODEL_DIR / FRONTEND_FILE).read_text())
    assert data == {"name": FRONTEND_NAME, "version": 1}
