"""The engine thread on the fake engine: jobs, batched streaming, cancel, errors, audio updates."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

pytest.importorskip("pytestqt")

from app.settings import ModelSpec  # noqa: E402
from app.worker import AudioUpdate, EngineThread, Job, JobResult, audio_update, call_supported, describe_error  # noqa: E402
from heartmula_core.errors import HeartMuLaError, PromptError  # noqa: E402
from tests.gui import fake_engine  # noqa: E402
from tests.gui.editor_helpers import LYRICS, TAGS  # noqa: E402

WAIT_MS = 10_000


@pytest.fixture
def engine(qtbot):
    thread = EngineThread(fake_engine)
    results, failures, cancelled, progress = [], [], [], []
    thread.finished.connect(results.append)
    thread.failed.connect(lambda *args: failures.append(args))
    thread.cancelled.connect(cancelled.append)
    thread.progress.connect(progress.append)
    thread.log = (results, failures, cancelled, progress)
    job = thread.submit(Job.make(thread.new_id(), "load", spec=ModelSpec()))
    qtbot.waitUntil(lambda: any(r.job_id == job.job_id for r in results), timeout=WAIT_MS)
    yield thread
    assert thread.shutdown()


def run(qtbot, thread, op, doc=None, **params) -> Job:
    results, failures, cancelled, _ = thread.log
    job = thread.submit(Job.make(thread.new_id(), op, doc, **params))
    done = lambda: any(x == job.job_id for x in [r.job_id for r in results] + [f[0] for f in failures] + cancelled)  # noqa: E731
    qtbot.waitUntil(done, timeout=WAIT_MS)
    return job


def test_jobs_are_frozen_requests():
    job = Job.make(3, "resample", "doc", start=1, end=5, candidates=2)
    assert job.kwargs == {"start": 1, "end": 5, "candidates": 2} and job.label == "Re-sample selection"
    with pytest.raises(dataclasses.FrozenInstanceError):
        job.op = "generate"
    with pytest.raises(ValueError):
        Job.make(1, "format_disk")


def test_load_then_generate_streams_batched_progress(engine, qtbot, monkeypatch):
    monkeypatch.setattr(fake_engine, "FRAME_DELAY", 0.001)
    results, failures, _, progress = engine.log
    assert results[0].info.name == "Fake demo model" and results[0].info.frame_rate == 12.5
    job = run(qtbot, engine, "generate", tags=TAGS, lyrics=LYRICS, seconds=10.0, seed=3)
    result = next(r for r in results if r.job_id == job.job_id)
    assert not failures and result.doc.num_frames == 125 and result.base.num_frames == 0
    assert result.update.kind == "streamed"  # the streamed audio is adopted: no second decode
    np.testing.assert_array_equal(result.audio, fake_engine.render_frames(np.asarray(result.doc.frames)))
    mine = [p for p in progress if p.job_id == job.job_id]
    assert 1 <= len(mine) < 125  # batched, not one signal per frame
    frames = np.concatenate([p.frames for p in mine if p.frames is not None])
    np.testing.assert_array_equal(frames, result.doc.frames)
    audio = np.concatenate([p.audio for p in mine if p.audio is not None], axis=-1)
    assert [p.audio_start for p in mine if p.audio is not None][0] == 0
    np.testing.assert_array_equal(audio, result.audio)


def test_cancel_stops_between_frames(engine, qtbot, monkeypatch):
    monkeypatch.setattr(fake_engine, "FRAME_DELAY", 0.01)
    results, _, cancelled, progress = engine.log
    job = engine.submit(Job.make(engine.new_id(), "generate", tags=TAGS, lyrics=LYRICS, seconds=60.0))
    qtbot.waitUntil(lambda: any(p.job_id == job.job_id for p in progress), timeout=WAIT_MS)
    engine.cancel(job.job_id)
    qtbot.waitUntil(lambda: job.job_id in cancelled, timeout=WAIT_MS)
    assert all(r.job_id != job.job_id for r in results)
    # a job cancelled before it starts never runs
    fake_engine.calls.clear()
    queued = Job.make(engine.new_id(), "generate", tags=TAGS, lyrics=LYRICS, seconds=5.0)
    engine.cancel(queued.job_id)
    run_job = engine.submit(queued)
    qtbot.waitUntil(lambda: run_job.job_id in cancelled, timeout=WAIT_MS)
    assert "generate" not in fake_engine.calls


def test_render_adopts_known_audio_and_prepares_updates(engine, qtbot):
    results = engine.log[0]
    job = run(qtbot, engine, "generate", tags=TAGS, lyrics=LYRICS, seconds=4.0)
    doc = next(r for r in results if r.job_id == job.job_id).doc
    audio = fake_engine.render_frames(np.asarray(doc.frames))
    job = run(qtbot, engine, "render", doc, known_audio=audio, shown_audio=None)
    result = next(r for r in results if r.job_id == job.job_id)
    assert result.audio is audio or np.array_equal(result.audio, audio)
    assert result.update.kind == "full" and result.update.frames.flags.c_contiguous
    assert result.update.envelope.duration == pytest.approx(4.0)
    job = run(qtbot, engine, "resample", doc, start=10, end=20, candidates=2, shown_audio=audio)
    result = next(r for r in results if r.job_id == job.job_id)
    assert result.update.kind == "span" and result.update.base is audio
    assert 10 * fake_engine.HOP <= result.update.start < 20 * fake_engine.HOP


def test_errors_become_one_line_messages(engine, qtbot, monkeypatch):
    _, failures, _, _ = engine.log
    run(qtbot, engine, "generate", tags="", lyrics="")
    assert failures[-1][1] == "write some tags or lyrics first" and failures[-1][2] is True

    def boom(self, doc, **kwargs):
        raise RuntimeError("kaboom")

    monkeypatch.setattr(fake_engine.Editor, "generate", boom)
    run(qtbot, engine, "generate", tags=TAGS, lyrics=LYRICS)
    message, expected = failures[-1][1], failures[-1][2]
    assert not expected and "failed unexpectedly: RuntimeError: kaboom" in message


def test_a_bad_model_folder_fails_the_load(engine, qtbot, tmp_path):
    _, failures, _, _ = engine.log
    run(qtbot, engine, "load", spec=ModelSpec(root=str(tmp_path)))
    assert "missing" in failures[-1][1] and failures[-1][2]
    run(qtbot, engine, "generate", tags=TAGS, lyrics=LYRICS)
    assert "no model is loaded" in failures[-1][1]


def test_describe_error():
    class OutOfMemoryError(RuntimeError):
        pass

    assert describe_error(PromptError("lyrics too long"), "generate") == ("lyrics too long", True)
    text, expected = describe_error(OutOfMemoryError("CUDA"), "resample")
    assert expected and "ran out of GPU memory" in text and "memory mode 'low'" in text
    assert describe_error(KeyError("x"), "render")[1] is False
    assert isinstance(HeartMuLaError("x"), Exception)


def test_audio_update_kinds():
    a = np.zeros((2, 48_000), np.float32)
    assert audio_update(a, a.copy(), 48_000).kind == "same"
    b = a.copy()
    b[:, 1000:2000] = 0.5
    update = audio_update(a, b, 48_000)
    assert (update.kind, update.start, update.chunk.shape) == ("span", 1000, (2, 1000))
    assert audio_update(a, np.zeros((2, 96_000), np.float32), 48_000).kind == "full"
    assert audio_update(None, b, 48_000).kind == "full"
    assert isinstance(update, AudioUpdate) and JobResult


def test_call_supported_drops_unknown_keywords():
    def op(doc, start, *, candidates=4):
        return (doc, start, candidates)

    def flexible(doc, **kwargs):
        return kwargs

    assert call_supported(op, "d", 3, candidates=2, on_progress=print) == ("d", 3, 2)
    assert call_supported(flexible, "d", cancel=None) == {"cancel": None}


def test_a_song_the_model_cannot_read_fails_every_job_before_it_runs(engine, qtbot, monkeypatch):
    """The worker asks the editor's check_song first: a song of another model's tokens is never
    decoded or edited (the real check is in test_editing)."""
    results, failures, _, _ = engine.log
    job = run(qtbot, engine, "generate", tags=TAGS, lyrics=LYRICS, seconds=2.0)
    doc = next(r for r in results if r.job_id == job.job_id).doc

    def refuse(self, song):
        raise HeartMuLaError("this song was made with a model whose audio tokens are other/8x8")

    monkeypatch.setattr(fake_engine.Editor, "check_song", refuse, raising=False)
    for op, params in (("render", {}), ("resample", {"start": 2, "end": 8})):
        run(qtbot, engine, op, doc, **params)
        assert "other/8x8" in failures[-1][1] and failures[-1][2] is True
