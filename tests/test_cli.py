"""End to end through the CLI on a tiny checkpoint root in the official layout."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from heartmula_core.cli import run
from heartmula_core.tiny import write_tiny_checkpoint

ROOT = Path(__file__).resolve().parent.parent
LYRICS = "[verse]\nmorning light upon the window\n[chorus]\nwe are dancing in the city\n"


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory):
    return write_tiny_checkpoint(tmp_path_factory.mktemp("tiny"), seed=0, model_shards=2, codec_shards=2)


@pytest.fixture
def lyrics(tmp_path):
    p = tmp_path / "lyrics.txt"
    p.write_text(LYRICS, encoding="utf-8")
    return p


def generate(root, lyrics, out, *extra):
    return run(["generate", "--model", str(root), "--tags", "pop,happy", "--lyrics", str(lyrics),
                "--out", str(out), "--seconds", "2", *extra])


def test_generate_writes_stereo_48k_and_frames(tiny_root, lyrics, tmp_path):
    out, frames = tmp_path / "song.wav", tmp_path / "frames.npy"
    assert generate(tiny_root, lyrics, out, "--seed", "3", "--frames-out", str(frames), "--ignore-eos") == 0
    audio, sr = sf.read(out)
    f = np.load(frames)
    assert sr == 48_000 and audio.ndim == 2 and audio.shape[1] == 2
    assert f.shape == (25, 8) and np.issubdtype(f.dtype, np.integer) and (f < 8192).all()
    assert audio.shape[0] == int(25 / 12.5 * 48_000)
    assert np.isfinite(audio).all()


def test_same_seed_same_frames(tiny_root, lyrics, tmp_path):
    runs = []
    for i, seed in enumerate((7, 7, 8)):
        frames = tmp_path / f"f{i}.npy"
        assert generate(tiny_root, lyrics, tmp_path / f"s{i}.flac", "--seed", str(seed), "--ignore-eos",
                        "--frames-out", str(frames)) == 0
        runs.append(np.load(frames))
    assert np.array_equal(runs[0], runs[1]) and not np.array_equal(runs[0], runs[2])
    a, _ = sf.read(tmp_path / "s0.flac")
    b, _ = sf.read(tmp_path / "s1.flac")
    assert np.array_equal(a, b)  # the codec noise is seeded too


def test_score_ranks_generated_above_perturbed(tiny_root, lyrics, tmp_path):
    frames = tmp_path / "frames.npy"
    assert generate(tiny_root, lyrics, tmp_path / "x.wav", "--seed", "1", "--topk", "5", "--ignore-eos",
                    "--frames-out", str(frames)) == 0
    rng = np.random.default_rng(0)
    clean = np.load(frames)
    noisy = clean.copy()
    pick = rng.random(noisy.shape) < 0.5
    noisy[pick] = rng.integers(0, 8192, int(pick.sum()))
    np.save(tmp_path / "noisy.npy", noisy)
    common = ["score", "--model", str(tiny_root), "--tags", "pop,happy", "--lyrics", str(lyrics)]
    assert run([*common, "--frames", str(frames), "--out", str(tmp_path / "s_clean.npy")]) == 0
    assert run([*common, "--frames", str(tmp_path / "noisy.npy"), "--out", str(tmp_path / "s_noisy.npy")]) == 0
    s_clean, s_noisy = np.load(tmp_path / "s_clean.npy"), np.load(tmp_path / "s_noisy.npy")
    assert s_clean.shape == (len(clean),) and s_clean.dtype == np.float32 and np.isfinite(s_clean).all()
    assert s_clean.mean() > s_noisy.mean() + 1.0


def corrupt_root(src: Path, dst: Path, how: str) -> Path:
    shutil.copytree(src, dst)
    model = dst / "HeartMuLa-oss-3B"
    if how == "missing-codec":
        shutil.rmtree(dst / "HeartCodec-oss")
    elif how == "truncated-shard":
        shard = sorted(model.glob("model-*.safetensors"))[0]
        shard.write_bytes(shard.read_bytes()[:4096])
    elif how == "bad-config":
        (model / "config.json").write_text("{ not json")
    elif how == "bad-gen-config":
        (dst / "gen_config.json").write_text(json.dumps({"text_bos_id": 1, "top_k": 5}))
    elif how == "bad-tokenizer":
        (dst / "tokenizer.json").write_text("[]")
    elif how == "missing-codec-tensor":
        from safetensors.torch import load_file, save_file
        index = dst / "HeartCodec-oss" / "model.safetensors.index.json"
        data = json.loads(index.read_text())
        name = next(k for k in data["weight_map"] if k.startswith("scalar_model.decoder.7"))
        shard = dst / "HeartCodec-oss" / data["weight_map"].pop(name)
        tensors = load_file(str(shard))
        del tensors[name]
        save_file(tensors, str(shard))
        index.write_text(json.dumps(data))
    return dst


@pytest.mark.parametrize("how, message", [
    ("missing-codec", "missing HeartCodec-oss/"),
    ("truncated-shard", "corrupt or truncated"),
    ("bad-config", "config.json is not valid JSON"),
    ("bad-gen-config", "unknown key(s) top_k"),
    ("bad-tokenizer", "tokenizer.json"),
])
def test_bad_checkpoints_give_one_line_errors(tiny_root, lyrics, tmp_path, capsys, how, message):
    root = corrupt_root(tiny_root, tmp_path / "bad", how)
    assert generate(root, lyrics, tmp_path / "o.wav") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: ") and message in err[-1], err
    assert not (tmp_path / "o.wav").exists()


@pytest.mark.parametrize("args, message", [
    (["--out", "x.aiff"], "unsupported extension .aiff"),
    (["--lyrics", "/nonexistent/lyrics.txt"], "lyrics file /nonexistent/lyrics.txt does not exist"),
    (["--model", "/nonexistent/root"], "does not exist; expected <root>/HeartMuLa-oss-3B/"),
    (["--seconds", "200"], "context holds 1024"),
    (["--device", "cuda"], None),
])
def test_bad_arguments(tiny_root, lyrics, tmp_path, capsys, args, message):
    base = {"--model": str(tiny_root), "--lyrics": str(lyrics), "--out": str(tmp_path / "o.wav")}
    for key, value in zip(args[::2], args[1::2]):
        base[key] = value if key != "--out" else str(tmp_path / value)
    argv = ["generate", "--tags", "x", *[x for kv in base.items() for x in kv]]
    if args[0] == "--device":
        import torch
        if torch.cuda.is_available():
            pytest.skip("this machine has CUDA")
        message = "no CUDA GPU is available"
    assert run(argv) == 2
    assert message in capsys.readouterr().err


def test_bad_frames_for_score(tiny_root, lyrics, tmp_path, capsys):
    common = ["score", "--model", str(tiny_root), "--lyrics", str(lyrics), "--out", str(tmp_path / "s.npy")]
    np.save(tmp_path / "f.npy", np.zeros((5, 7), dtype=np.int64))
    assert run([*common, "--frames", str(tmp_path / "f.npy")]) == 2
    assert "shape [T, 8]" in capsys.readouterr().err
    np.save(tmp_path / "g.npy", np.zeros((5, 8), dtype=np.float32))
    assert run([*common, "--frames", str(tmp_path / "g.npy")]) == 2
    assert "must be integers" in capsys.readouterr().err
    (tmp_path / "h.npy").write_bytes(b"garbage")
    assert run([*common, "--frames", str(tmp_path / "h.npy")]) == 2
    assert "not a readable .npy" in capsys.readouterr().err


def test_console_process_has_no_traceback(tiny_root, lyrics, tmp_path):
    """A real process: exit code 2 and a single error line, no traceback."""
    root = corrupt_root(tiny_root, tmp_path / "bad", "missing-codec-tensor")
    proc = subprocess.run([sys.executable, str(ROOT / "main.py"), "generate", "--model", str(root),
                           "--lyrics", str(lyrics), "--out", str(tmp_path / "o.wav")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "missing tensor(s): scalar_model.decoder.7" in proc.stderr
