"""Listening by proxy: generate held-out songs with a demo model, write them as WAV, and measure them.

For each item of the evaluation set (:mod:`heartmula_core.demo.eval_set`, or ``--items``) at one
seed: the song is generated and rendered with the editor, written to ``--out`` as
``NAME-sSEED.wav`` (48 kHz stereo float), and measured:

- ``peak_dbfs`` and ``clipped`` (samples at or beyond full scale): the mix must not clip;
- ``median_db``: the median level of 100 ms windows (RMS, dBFS);
- ``quiet_sung``: the fraction of 100 ms windows inside sung syllables (the frames say where) that
  are below -50 dBFS: singing must be heard where the frames sing;
- ``max_step``: the largest jump between neighbouring samples (a click shows as a step far above
  the music's own, which stays under ~0.1 here);
- ``centroid_hz``: the spectral centroid of the whole song (a dull or hissing mix moves it).

    python benchmarks/listen_proxy.py [--model DIR] [--seed 1] [--items harbor,meadow] [--out DIR] [--json F]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import soundfile

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from heartmula_core.demo.eval_set import EVAL_SET  # noqa: E402
from heartmula_core.editing.editor import Editor  # noqa: E402

WINDOW_SECONDS = 0.1
QUIET_DB = -50.0


def measure(audio: np.ndarray, sample_rate: int, sung: np.ndarray, samples_per_frame: int) -> dict:
    """The measures above for ``audio [C, S]`` whose frames ``sung [T]`` hold a sung syllable."""
    mono = audio.mean(axis=0).astype(np.float64)
    window = int(WINDOW_SECONDS * sample_rate)
    count = len(mono) // window
    rms = np.sqrt(np.mean(np.square(mono[:count * window].reshape(count, window)), axis=1))
    levels = 20 * np.log10(np.maximum(rms, 1e-6))  # [count] dBFS, -120 for silence
    middles = (np.arange(count) * window + window // 2) // samples_per_frame
    sung_windows = sung[np.minimum(middles, len(sung) - 1)] if len(sung) else np.zeros(count, bool)
    spectrum = np.abs(np.fft.rfft(mono))
    freqs = np.fft.rfftfreq(len(mono), 1.0 / sample_rate)
    peak = float(np.abs(audio).max()) if audio.size else 0.0
    return {
        "seconds": round(audio.shape[1] / sample_rate, 2),
        "peak_dbfs": round(20 * np.log10(max(peak, 1e-6)), 1),
        "clipped": int((np.abs(audio) >= 1.0).sum()),
        "median_db": round(float(np.median(levels)), 1) if count else None,
        "quiet_sung": round(float((levels[sung_windows] < QUIET_DB).mean()), 3) if sung_windows.any() else None,
        "max_step": round(float(np.abs(np.diff(audio, axis=1)).max()), 3) if audio.shape[1] > 1 else 0.0,
        "centroid_hz": round(float((spectrum * freqs).sum() / max(spectrum.sum(), 1e-12))),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=None, help="checkpoint root (default: the built-in demo model)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--items", default="", help="comma-separated eval-set names (default: all)")
    parser.add_argument("--out", type=Path, default=Path("/tmp/listen-proxy"))
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    wanted = [name for name in args.items.split(",") if name]
    items = [item for item in EVAL_SET if not wanted or item.name in wanted]
    if wanted and len(items) != len(wanted):
        known = ", ".join(item.name for item in EVAL_SET)
        parser.error(f"--items names songs of the eval set: {known}")
    editor = Editor.load(args.model, device="cpu")
    codec = editor.pipeline.codec
    args.out.mkdir(parents=True, exist_ok=True)
    songs = {}
    for item in items:
        song = editor.generate(editor.new_document(item.tags, item.lyrics, seconds=60, seed=args.seed))
        audio = editor.render(song)
        path = args.out / f"{item.name}-s{args.seed}.wav"
        soundfile.write(path, audio.T, editor.sample_rate, subtype="FLOAT")
        sung = codec.transcribe(song.frames)["sung"] if hasattr(codec, "transcribe") else np.zeros(0, bool)
        songs[item.name] = {**measure(audio, editor.sample_rate, sung, editor.samples_per_frame), "wav": str(path)}
        print(json.dumps({"song": item.name, **songs[item.name]}), flush=True)
    report = {"model": str(editor.pipeline.paths.root), "seed": args.seed, "songs": songs}
    if args.json:
        args.json.write_text(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
