"""Reference audio: the built-in embedder, reading files, the cache, the editor and the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

from heartmula_core.demo.codec import DemoCodec
from heartmula_core.demo.composer import compose
from heartmula_core.editing import Editor, load_song, save_song
from heartmula_core.editing.document import EditError, SongDocument
from heartmula_core.reference import (AudioFeatureEmbedder, EmbeddingCache, ReferenceError,
                                      embed_reference_file, embedder_for_checkpoint,
                                      embedder_name_for_checkpoint, read_reference_audio,
                                      write_embedder_file)
from heartmula_core.reference.features import NAME, decode_tempo, encode, measure

SR = 48000
LYRICS = "[verse]\nlanterns flicker by the water\n[chorus]\nla la la\n"


def demo_clip(tags: str, seed: int, seconds: float = 12.0) -> np.ndarray:
    song = compose(tags, LYRICS * 3, seed)
    n = int(seconds * 12.5)
    return DemoCodec().decode(song.frames[:n]).numpy()


def click_track(bpm: float, seconds: float, chord=(220.0, 261.63, 329.63), sr: int = SR) -> np.ndarray:
    """A non-demo track: a decaying low thump on every beat under a sustained triad."""
    t = np.arange(int(seconds * sr)) / sr
    x = 0.1 * sum(np.sin(2 * np.pi * f * t) for f in chord)
    beat = 60.0 / bpm
    phase = np.mod(t, beat)
    x += 0.6 * np.exp(-phase * 30.0) * np.sin(2 * np.pi * 70.0 * phase)
    return np.stack([x, x]).astype(np.float32)


@pytest.mark.parametrize("tags,seed,bpm,mode", [
    ("rock, fast, minor, guitar", 1, 187.5, "minor"),
    ("ballad, slow, major, piano", 2, 83.3, "major"),
    ("pop, 125 bpm, major", 3, 125.0, "major"),
])
def test_measure_reads_demo_songs(tags, seed, bpm, mode):
    audio = demo_clip(tags, seed)
    features = measure(audio, SR)
    assert features.tempo_bpm == pytest.approx(compose(tags, LYRICS * 3, seed).arrangement.style.bpm, rel=0.03)
    assert features.mode == mode
    vector = encode(features)
    assert vector.shape == (512,) and vector.dtype == np.float32
    assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-5)
    assert decode_tempo(vector) == pytest.approx(features.tempo_bpm, rel=0.02)


def test_measure_reads_a_plain_click_track_and_any_sample_rate():
    minor = measure(click_track(140.0, 10.0, chord=(220.0, 261.63, 329.63), sr=44100), 44100)  # A minor
    major = measure(click_track(90.0, 10.0, chord=(261.63, 329.63, 392.0), sr=22050), 22050)  # C major
    assert minor.tempo_bpm == pytest.approx(140.0, rel=0.03) and minor.mode == "minor"
    assert major.tempo_bpm == pytest.approx(90.0, rel=0.03) and major.mode == "major"


def test_vectors_of_the_same_tempo_and_mode_are_closer():
    embed = AudioFeatureEmbedder().embed
    fast_a = embed(demo_clip("rock, fast, minor", 4), SR)
    fast_b = embed(demo_clip("metal, fast, minor, synth", 5), SR)
    slow = embed(demo_clip("ballad, slow, major", 6), SR)
    assert fast_a @ fast_b > fast_a @ slow


@pytest.mark.parametrize("audio,message", [
    (np.zeros((2, SR * 6), np.float32), "silent"),
    (np.ones((1, SR * 2), np.float32) * 0.1, "at least"),
    (np.full((1, SR * 6), np.nan, np.float32), "NaN"),
])
def test_measure_refuses_unusable_audio(audio, message):
    with pytest.raises(ReferenceError, match=message):
        measure(audio, SR)


def test_reading_bad_files_says_what_is_wrong(tmp_path):
    with pytest.raises(ReferenceError, match="no such file"):
        read_reference_audio(tmp_path / "missing.wav")
    with pytest.raises(ReferenceError, match="unsupported"):
        read_reference_audio(tmp_path / "notes.txt")
    empty = tmp_path / "empty.wav"
    sf.write(str(empty), np.zeros((0, 2), np.float32), SR)
    with pytest.raises(ReferenceError, match="no samples"):
        read_reference_audio(empty)
    junk = tmp_path / "junk.flac"
    junk.write_bytes(b"this is not audio" * 100)
    with pytest.raises(ReferenceError, match="cannot read"):
        read_reference_audio(junk)
    good = tmp_path / "good.wav"
    sf.write(str(good), click_track(120.0, 8.0).T, SR)
    truncated = tmp_path / "truncated.wav"
    truncated.write_bytes(good.read_bytes()[:2000])
    clip = read_reference_audio(truncated)  # a cut WAV reads as far as it goes
    assert clip.audio.shape[0] == 2 and clip.audio.shape[1] < SR


def test_long_files_are_read_from_the_middle_only(tmp_path):
    path = tmp_path / "long.wav"
    audio = np.zeros((SR * 20, 1), np.float32)
    audio[SR * 9:SR * 11] = 0.5
    sf.write(str(path), audio, SR)
    clip = read_reference_audio(path, max_seconds=4.0)
    assert clip.seconds == pytest.approx(20.0)
    assert clip.audio.shape == (1, SR * 4)
    assert clip.audio[0, SR * 1:SR * 3].min() == pytest.approx(0.5, abs=1e-3)


class CountingEmbedder:
    name = "counting"

    def __init__(self):
        self.calls = 0

    def embed(self, audio, sample_rate):
        self.calls += 1
        v = np.zeros(512, np.float32)
        v[0] = audio.shape[-1] / sample_rate
        return v


def test_cache_by_file_hash_and_damaged_entries(tmp_path):
    path = tmp_path / "a.wav"
    sf.write(str(path), click_track(120.0, 5.0).T, SR)
    cache = EmbeddingCache(tmp_path / "cache")
    embedder = CountingEmbedder()
    first = embed_reference_file(path, embedder, cache)
    copy = tmp_path / "copy of a.wav"
    copy.write_bytes(path.read_bytes())
    second = embed_reference_file(copy, embedder, cache)
    assert embedder.calls == 1 and second.name == "copy of a.wav"
    np.testing.assert_array_equal(first.vector, second.vector)
    assert first.preview.shape == (240, 2) and first.seconds == pytest.approx(5.0)
    for entry in (tmp_path / "cache").iterdir():
        entry.write_bytes(b"garbage")
    embed_reference_file(path, embedder, cache)
    assert embedder.calls == 2  # the damaged entry was a miss and is rewritten
    embed_reference_file(path, embedder, cache)
    assert embedder.calls == 2


def test_checkpoint_chooses_the_embedder(tmp_path):
    assert embedder_name_for_checkpoint(tmp_path) == "muq-mulan"
    with pytest.raises(ReferenceError, match="MuQ-MuLan"):
        embedder_for_checkpoint(tmp_path, muq_folder=None)
    write_embedder_file(tmp_path, NAME)
    assert isinstance(embedder_for_checkpoint(tmp_path), AudioFeatureEmbedder)
    (tmp_path / "reference_embedder.json").write_text(json.dumps({"name": "wobble"}))
    with pytest.raises(ReferenceError, match="unknown reference embedder"):
        embedder_for_checkpoint(tmp_path)
    (tmp_path / "reference_embedder.json").write_text("{")
    with pytest.raises(ReferenceError, match="not a valid"):
        embedder_for_checkpoint(tmp_path)


@pytest.fixture(scope="module")
def demo_editor():
    return Editor.load(None, device="cpu")


@pytest.fixture(scope="module")
def reference_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("ref") / "fast minor.wav"
    sf.write(str(path), demo_clip("rock, fast, minor, guitar", 9).T, SR)
    return path


def test_editor_reference_conditions_generation_and_is_saved(demo_editor, reference_file, tmp_path, monkeypatch):
    monkeypatch.setenv("HEARTMULA_CACHE", str(tmp_path / "cache"))
    ref = demo_editor.reference_from_file(reference_file, strength=1.5)
    assert ref.embedder == NAME and ref.strength == 1.5 and ref.name == "fast minor.wav"
    doc = demo_editor.new_document("pop, piano", LYRICS, seconds=3.0, seed=1)
    steered = doc.with_reference(ref)
    prompt = demo_editor.prompt(doc)
    cond = demo_editor.conditioning(steered, prompt)
    np.testing.assert_allclose(cond.muq_embed.numpy(), ref.embedding * 1.5, rtol=1e-6)
    assert demo_editor.conditioning(doc, prompt).muq_embed is None
    assert not demo_editor.conditioning(steered.with_reference_strength(0.0), prompt).muq_embed.any()
    plain = demo_editor.generate(doc)
    with_ref = demo_editor.generate(steered)
    assert not np.array_equal(plain.frames, with_ref.frames)  # the reference row changes the song
    path = tmp_path / "song.hmsong"
    save_song(path, with_ref)
    loaded, _ = load_song(path)
    assert loaded.reference.name == ref.name and loaded.reference.strength == 1.5
    assert loaded.reference.embedder == NAME and loaded.reference.seconds == pytest.approx(ref.seconds)
    np.testing.assert_array_equal(loaded.reference.embedding, ref.embedding)
    np.testing.assert_array_equal(loaded.reference.preview, ref.preview)


def test_strength_limits_and_embedder_mismatch(demo_editor, reference_file):
    ref = demo_editor.reference_from_file(reference_file)
    doc = SongDocument.new("pop", LYRICS, seconds=3.0)
    with pytest.raises(EditError, match="no reference"):
        doc.with_reference_strength(0.5)
    with pytest.raises(EditError, match="strength"):
        doc.with_reference(ref).with_reference_strength(2.5)
    foreign = doc.with_reference(ref.__class__(ref.embedding, ref.name, ref.sha256, 1.0, "muq-mulan"))
    with pytest.raises(ReferenceError, match="muq-mulan"):
        demo_editor.conditioning(foreign, demo_editor.prompt(foreign))


def test_cli_new_and_edit_with_a_reference(reference_file, tmp_path, monkeypatch):
    from heartmula_core.cli import run

    monkeypatch.setenv("HEARTMULA_CACHE", str(tmp_path / "cache"))
    lyrics = tmp_path / "lyrics.txt"
    lyrics.write_text(LYRICS)
    song = tmp_path / "s.hmsong"
    assert run(["new", str(song), "--lyrics", str(lyrics), "--seconds", "3", "--device", "cpu",
                "--reference", str(reference_file), "--reference-strength", "0.7"]) == 0
    doc, _ = load_song(song)
    assert doc.reference.name == reference_file.name and doc.reference.strength == 0.7
    assert run(["edit", str(song), "--reference-strength", "1.3", "--device", "cpu"]) == 0
    assert load_song(song)[0].reference.strength == 1.3
    assert run(["edit", str(song), "--no-reference", "--device", "cpu"]) == 0
    assert load_song(song)[0].reference is None
    assert run(["edit", str(song), "--undo", "--device", "cpu"]) == 0
    assert load_song(song)[0].reference.strength == 1.3
    assert run(["edit", str(song), "--reference", str(tmp_path / "missing.wav"), "--device", "cpu"]) != 0
    assert load_song(song)[0].reference.strength == 1.3  # a failed edit changes nothing
    with pytest.raises(SystemExit):
        run(["new", str(song), "--lyrics", str(lyrics), "--reference-strength", "5"])
