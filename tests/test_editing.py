"""The editing engine: document, operations, guarantees, history, song files, partial decode."""

from __future__ import annotations

import numpy as np
import torch
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from heartmula_core.demo.tokenizer import build_demo_tokenizer
from heartmula_core.demo.train import TrainSettings, build_config, tie_syllable_embeddings, write_checkpoint
from heartmula_core.editing import (
    AudioCache,
    EditError,
    Editor,
    History,
    ProgressEvent,
    SongDocument,
    load_song,
    save_song,
)
from heartmula_core.editing.alignment import match_kinds, monotonic_path
from heartmula_core.errors import Cancelled
from heartmula_core.model.random_init import random_heartmula
from heartmula_core.project_file import ProjectError

LYRICS = """[intro]

[verse]
morning light on the water
we walk along the river

[chorus]
sing it loud tonight
sing it all night long

[outro]
"""
TAGS = "pop, piano, fast, major"


@pytest.fixture(scope="module")
def tiny_editor(tmp_path_factory):
    """A tiny random model of the demo layout (fast; its music is noise-like)."""
    settings = TrainSettings(dim=64, layers=2, decoder_dim=64, decoder_layers=1, heads=4, max_seq_len=2048)
    config = build_config(settings, build_demo_tokenizer().get_vocab_size())
    model = random_heartmula(config, seed=0)
    tie_syllable_embeddings(model)
    root = write_checkpoint(tmp_path_factory.mktemp("tiny_demo"), model, config, "float32")
    return Editor.load(root, device="cpu")


@pytest.fixture(scope="module")
def song(tiny_editor):
    doc = tiny_editor.new_document(TAGS, LYRICS, seconds=8, seed=1)
    return tiny_editor.generate(doc, until_eos=False)


@pytest.fixture(scope="module")
def demo_editor():
    return Editor.load(device="cpu")


@pytest.fixture(scope="module")
def demo_song(demo_editor):
    return demo_editor.generate(demo_editor.new_document(TAGS, LYRICS, seconds=30, seed=3))


def frozen(doc: SongDocument) -> tuple:
    return (doc.frames.tobytes(), doc.pinned.tobytes(), doc.provenance.tobytes(), doc.lyrics, len(doc.takes))


# -- document ---------------------------------------------------------------------------------


def test_document_arrays_are_read_only(song):
    with pytest.raises(ValueError):
        song.frames[0, 0] = 1
    with pytest.raises(ValueError):
        song.pinned[0] = True


def test_pins_and_ranges(song):
    doc = song.with_pins(10, 20).with_pins(30, 35)
    assert doc.pinned_ranges() == [(10, 20), (30, 35)]
    assert doc.with_pins(12, 14, False).pinned_ranges() == [(10, 12), (14, 20), (30, 35)]
    assert song.pinned_ranges() == []
    with pytest.raises(EditError):
        song.with_pins(5, 5)
    with pytest.raises(EditError):
        song.with_pins(0, song.num_frames + 1)


def test_monotonic_path_is_the_best_non_decreasing_path():
    from itertools import combinations_with_replacement

    rng = np.random.default_rng(0)
    for _ in range(20):
        scores = rng.random((5, 4))
        best = max(combinations_with_replacement(range(4), 5),
                   key=lambda p: sum(np.log(scores[t, j]) for t, j in enumerate(p)))
        assert monotonic_path(scores).tolist() == list(best)


def test_kind_matching():
    assert match_kinds(["intro", "verse", "chorus", "outro"], ["verse", "chorus", "chorus", "outro"]) == \
        [(1, 0), (2, 1), (3, 3)]


# -- generation -------------------------------------------------------------------------------


def test_generate_streams_frames_and_audio(tiny_editor):
    events: list[ProgressEvent] = []
    doc = tiny_editor.new_document(TAGS, LYRICS, seconds=3, seed=4)
    out = tiny_editor.generate(doc, on_progress=events.append, until_eos=False)
    assert doc.num_frames == 0 and out.num_frames > 0
    streamed = np.concatenate([e.frames for e in events if e.frames is not None])
    assert np.array_equal(streamed, out.frames)
    audio = np.concatenate([e.audio for e in events if e.audio is not None], axis=1)
    assert audio.shape[1] == out.num_frames * tiny_editor.samples_per_frame
    assert out.line_of.shape == out.section_of.shape == (out.num_frames,)
    # before the first frame the user learns what is going on (on a GPU: the first compile)
    assert events[0].done == 0 and events[0].frames is None and events[0].message == "reading the prompt"


def test_first_gpu_generation_says_it_compiles(tiny_editor, monkeypatch):
    import types

    monkeypatch.setattr(tiny_editor, "_generated", False)
    monkeypatch.setattr(tiny_editor, "pipeline", types.SimpleNamespace(device=torch.device("cuda")))
    assert "first generation compiles" in tiny_editor.start_message()
    monkeypatch.setattr(tiny_editor, "_generated", True)
    assert tiny_editor.start_message() == "reading the prompt"


def test_generate_is_reproducible(tiny_editor):
    doc = tiny_editor.new_document(TAGS, LYRICS, seconds=2, seed=9)
    assert np.array_equal(tiny_editor.generate(doc).frames, tiny_editor.generate(doc).frames)


def test_extend_keeps_the_song(tiny_editor, song):
    longer = tiny_editor.extend(song, 1.0, until_eos=False)
    assert np.array_equal(longer.frames[: song.num_frames], song.frames)
    assert longer.num_frames == song.num_frames + 12 and not longer.ended


# -- resample ---------------------------------------------------------------------------------


def test_resample_keeps_outside_and_pins(tiny_editor, song):
    pinned = song.with_pins(30, 36)
    before = frozen(pinned)
    out = tiny_editor.resample(pinned, 20, 50, candidates=3, seed=5)
    assert frozen(pinned) == before  # input untouched
    assert np.array_equal(out.frames[:20], song.frames[:20])
    assert np.array_equal(out.frames[50:], song.frames[50:])
    assert np.array_equal(out.frames[30:36], song.frames[30:36])
    assert not np.array_equal(out.frames[20:50], song.frames[20:50])
    takes = out.takes_for(20, 50)
    assert len(takes) == 4 and sum(t.applied for t in takes) == 1
    applied = next(t for t in takes if t.applied)
    sampled = [t for t in takes if t.label != "as it was"]
    assert applied.seam_score == max(t.seam_score for t in sampled)
    assert np.array_equal(out.frames[20:50], applied.frames)
    assert (out.provenance[20:50] == applied.id).all()
    original = next(t for t in takes if t.label == "as it was")
    back = out.with_take(original.id)
    assert np.array_equal(back.frames, song.frames)


def test_resample_at_the_end_has_no_seam(tiny_editor, song):
    out = tiny_editor.resample(song, song.num_frames - 10, song.num_frames, candidates=2, seed=1)
    assert all(t.seam_score is None for t in out.takes)
    assert np.array_equal(out.frames[:-10], song.frames[:-10])


def test_all_pinned_window_is_refused(tiny_editor, song):
    with pytest.raises(EditError, match="pinned"):
        tiny_editor.resample(song.with_pins(0, 20), 5, 15)


def test_cancel_leaves_the_document_unchanged(tiny_editor, song):
    calls = []

    def cancel():
        calls.append(1)
        return len(calls) > 5

    before = frozen(song)
    with pytest.raises(Cancelled):
        tiny_editor.resample(song, 10, 60, candidates=2, cancel=cancel)
    with pytest.raises(Cancelled):
        tiny_editor.generate(song, cancel=cancel)
    assert frozen(song) == before


# -- lyrics and sections ----------------------------------------------------------------------


def test_fix_line_changes_only_that_line(demo_editor, demo_song):
    line = demo_song.lines()[1]
    assert line.start is not None
    out = demo_editor.fix_line(demo_song, 1, "we run beside the golden river", candidates=2, seed=2)
    assert "we run beside the golden river" in out.lyrics
    assert "we walk along the river" not in out.lyrics
    shift = out.num_frames - demo_song.num_frames
    assert np.array_equal(out.frames[: line.start], demo_song.frames[: line.start])
    assert np.array_equal(out.frames[line.end + shift:], demo_song.frames[line.end:])
    grid = demo_editor._grid(demo_song)
    assert shift % grid == 0


def test_fix_line_errors(demo_editor, demo_song):
    with pytest.raises(EditError):
        demo_editor.fix_line(demo_song, 99, "x")
    with pytest.raises(EditError):
        demo_editor.fix_line(demo_song, 0, "   ")


def test_demo_sections_follow_the_lyrics(demo_song):
    kinds = [s.kind for s in demo_song.sections()]
    assert kinds == ["intro", "verse", "chorus", "outro"]
    starts = [s.start for s in demo_song.sections()]
    assert starts == sorted(starts)


def test_delete_and_duplicate_section(demo_editor, demo_song):
    chorus = next(s for s in demo_song.sections() if s.kind == "chorus")
    doubled = demo_editor.duplicate_section(demo_song, chorus.index, candidates=2, seed=1)
    assert doubled.lyrics.count("sing it loud tonight") == 2
    assert doubled.num_frames == demo_song.num_frames + (chorus.end - chorus.start)
    assert np.array_equal(doubled.frames[: chorus.end], demo_song.frames[: chorus.end])
    removed = demo_editor.delete_section(demo_song, chorus.index, candidates=2, seed=1)
    assert "sing it loud tonight" not in removed.lyrics
    assert removed.num_frames == demo_song.num_frames - (chorus.end - chorus.start)
    assert np.array_equal(removed.frames[: chorus.start], demo_song.frames[: chorus.start])


def test_insert_section(demo_editor, demo_song):
    verse = next(s for s in demo_song.sections() if s.kind == "verse")
    out = demo_editor.insert_section(demo_song, verse.index, "[bridge]\nthe night is long and the road is wide",
                                     candidates=2, seed=1)
    assert "[bridge]\nthe night is long" in out.lyrics
    added = out.num_frames - demo_song.num_frames
    grid = demo_editor._grid(demo_song)
    assert added > 0 and added % grid == 0
    lead = verse.end - grid  # the verse's last bar is re-voiced: its words (codebook 0) are kept
    assert np.array_equal(out.frames[:lead], demo_song.frames[:lead])
    assert np.array_equal(out.frames[lead:verse.end, 0], demo_song.frames[lead:verse.end, 0])
    assert np.array_equal(out.frames[verse.end + added:], demo_song.frames[verse.end:])
    assert "bridge" in [s.kind for s in out.sections()]


def test_inserted_section_is_not_talked_out_of_its_kind_by_the_bar_before(demo_editor, demo_song):
    """The bar before a chorus ends in a drum fill that announces the chorus; a pre-chorus
    inserted there must still come out as a pre-chorus (the bar before is re-voiced)."""
    verse = next(s for s in demo_song.sections() if s.kind == "verse")
    out = demo_editor.insert_section(demo_song, verse.index, "[pre-chorus]\nthe night is long and the road is wide",
                                     candidates=2, seed=0)
    assert [s.kind for s in out.sections()] == ["intro", "verse", "pre-chorus", "chorus", "outro"]


# -- history ----------------------------------------------------------------------------------


def test_history_undo_redo(song):
    history = History(song)
    a = history.push(song.with_pins(0, 5), "pin")
    b = history.push(a.with_pins(10, 12), "pin again")
    assert history.undo() is a and history.undo() is song
    assert not history.can_undo
    assert history.redo() is a and history.redo_label == "pin again"
    history.push(a.with_pins(40, 41), "branch")
    assert not history.can_redo and history.current is not b
    with pytest.raises(EditError):
        history.redo()


# -- random operation sequences ------------------------------------------------------------------

OPS = st.lists(st.tuples(st.sampled_from(["pin", "unpin", "resample", "take", "undo", "redo"]),
                         st.integers(0, 95), st.integers(1, 30), st.integers(0, 3)), min_size=1, max_size=5)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=OPS)
def test_random_edit_sequences_keep_the_guarantees(tiny_editor, song, ops):
    history = History(song)
    for name, start, length, pick in ops:
        doc = history.current
        start = min(start, doc.num_frames - 1)
        end = min(doc.num_frames, start + length)
        before = doc.frames.copy()
        if name == "pin":
            new = doc.with_pins(start, end)
        elif name == "unpin":
            new = doc.with_pins(start, end, False)
        elif name == "resample":
            if doc.pinned[start:end].all():
                continue
            new = tiny_editor.resample(doc, start, end, candidates=2, seed=pick)
            assert np.array_equal(new.frames[:start], before[:start])
            assert np.array_equal(new.frames[end:], before[end:])
        elif name == "take":
            if not doc.takes:
                continue
            new = doc.with_take(doc.takes[pick % len(doc.takes)].id)
        elif name == "undo":
            if history.can_undo:
                previous = history._items[history.index - 1][0]
                assert history.undo() is previous
            continue
        else:
            if history.can_redo:
                history.redo()
            continue
        # pinned frames never change, whatever the operation
        assert np.array_equal(new.frames[doc.pinned], before[doc.pinned])
        assert np.array_equal(doc.frames, before)  # the old document is untouched
        history.push(new, name)
    while history.can_undo:
        history.undo()
    assert history.current is song


# -- song files -------------------------------------------------------------------------------


def test_song_file_round_trip(tmp_path, tiny_editor, song):
    doc = tiny_editor.resample(song.with_pins(3, 9), 0, 30, candidates=2, seed=3).with_section_override(1, 10, 40)
    path = tmp_path / "song.hmsong"
    audio = tiny_editor.render(doc)
    save_song(path, doc, audio, tiny_editor.sample_rate)
    loaded, loaded_audio = load_song(path)
    for name in ("frames", "pinned", "provenance", "line_of", "section_of"):
        assert np.array_equal(getattr(loaded, name), getattr(doc, name)), name
        assert getattr(loaded, name).dtype == getattr(doc, name).dtype
    assert (loaded.tags, loaded.lyrics, loaded.seed, loaded.settings, loaded.section_overrides) == \
        (doc.tags, doc.lyrics, doc.seed, doc.settings, doc.section_overrides)
    assert [(t.id, t.label, t.applied, t.start, t.end) for t in loaded.takes] == \
        [(t.id, t.label, t.applied, t.start, t.end) for t in doc.takes]
    assert all(np.array_equal(a.frames, b.frames) for a, b in zip(loaded.takes, doc.takes))
    assert np.array_equal(loaded_audio, audio)


def test_songs_record_their_token_space_and_another_models_songs_are_refused(tmp_path, demo_editor, demo_song):
    """A song knows which codec's tokens its frames are; the file keeps it; an editor whose codec
    reads ids otherwise refuses the song with a plain message instead of playing other music."""
    assert demo_song.token_space == demo_editor.token_space == "heartmula-demo/demo-v2"
    demo_editor.check_song(demo_song)  # its own song: fine
    path = tmp_path / "song.hmsong"
    save_song(path, demo_song)
    assert load_song(path)[0].token_space == "heartmula-demo/demo-v2"
    from dataclasses import replace

    foreign = replace(demo_song, token_space="heartcodec/8x8192")
    with pytest.raises(EditError, match=r"made with a model whose audio tokens are heartcodec/8x8192.*"
                                        r"reads heartmula-demo/demo-v2.*unchanged"):
        demo_editor.check_song(foreign)
    # a song saved before token spaces were recorded: judged by its ids
    legacy = replace(demo_song, token_space="")
    demo_editor.check_song(legacy)
    wide = np.array(demo_song.frames)
    wide[5, 3] = 4000  # a HeartCodec id, far outside the demo codebook
    with pytest.raises(EditError, match=r"1 frames hold ids outside its codebooks \(first: frame 5, codebook 3"):
        demo_editor.check_song(legacy.with_frames(wide))


def test_song_files_without_a_token_space_still_open(tmp_path, song):
    """Files written before the token space was recorded have no such field: they open with ""."""
    from heartmula_core.editing.songfile import document_from_parts, document_to_parts

    meta, arrays = document_to_parts(song)
    del meta["token_space"]
    assert document_from_parts(meta, arrays, "old.hmsong").token_space == ""


def test_damaged_song_file_is_refused_and_good_file_kept(tmp_path, song):
    path = tmp_path / "song.hmsong"
    save_song(path, song)
    good = path.read_bytes()
    cut = tmp_path / "cut.hmsong"
    cut.write_bytes(good[: len(good) // 2])
    with pytest.raises(ProjectError):
        load_song(cut)
    with pytest.raises(ProjectError):
        save_song(path, song.with_tags(float("nan")))  # not JSON-able: refused before writing
    assert path.read_bytes() == good


# -- partial decode ---------------------------------------------------------------------------


def test_partial_decode_touches_only_the_edit(demo_editor, demo_song):
    cache = AudioCache(demo_editor.pipeline.codec, seed=demo_song.seed)
    first = cache.render(demo_song.frames).copy()
    edited = demo_editor.resample(demo_song, 150, 200, candidates=2, seed=4)
    audio = cache.render(edited.frames)
    start, stop = cache.last_decoded
    changed = np.flatnonzero((edited.frames != demo_song.frames).any(axis=1))
    assert start == changed[0] - cache.context and stop == changed[-1] + 1 + cache.tail
    spf = demo_editor.samples_per_frame
    assert audio.shape == first.shape
    head = (changed[0] * spf) - int(0.02 * demo_editor.sample_rate)
    assert np.array_equal(audio[:, :head], first[:, :head])
    assert np.array_equal(audio[:, stop * spf:], first[:, stop * spf:])
    # no click at either join: the largest sample step there is no larger than in the music
    typical = np.abs(np.diff(audio, axis=1)).max()
    for join in (changed[0] * spf, stop * spf):
        assert np.abs(np.diff(audio[:, join - 100:join + 100], axis=1)).max() <= typical
    assert cache.render(edited.frames) is audio and cache.last_decoded is None
