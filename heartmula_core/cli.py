"""Headless command line: ``generate``, ``score`` and ``make-tiny``.

Bad input ends with a one-line ``error: ...`` on stderr and exit code 2, never a traceback;
``--verbose`` adds the log (and tracebacks of unexpected failures) on stderr.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path
from typing import Sequence, TextIO

import numpy as np
import torch

from .checkpoint import DEMO_MODEL_DIR as DEFAULT_MODEL_DIR
from .cli_edit import CliError, add_commands, cmd_edit, cmd_frames, cmd_info, cmd_new, cmd_render, strength
from .errors import FramesError, HeartMuLaError

log = logging.getLogger(__name__)

EXIT_BAD_INPUT = 2
EXIT_CANCELLED = 130


class Progress:
    """A one-line progress display on a stream: frames, seconds of audio, speed and ETA."""

    def __init__(self, total: int, frame_rate: float, stream: TextIO = sys.stderr, min_interval: float = 0.25):
        self.total, self.frame_rate, self.stream = total, frame_rate, stream
        self.start = time.perf_counter()
        self.last = 0.0
        self.min_interval = min_interval
        self.tty = stream.isatty()

    def update(self, done: int, force: bool = False) -> None:
        now = time.perf_counter()
        if not force and now - self.last < (self.min_interval if self.tty else 2.0):
            return
        self.last = now
        elapsed = max(now - self.start, 1e-9)
        rate = done / elapsed
        eta = (self.total - done) / rate if rate > 0 else float("inf")
        width = 24
        filled = int(width * done / max(self.total, 1))
        line = (f"[{'#' * filled}{'.' * (width - filled)}] {done}/{self.total} frames "
                f"| {done / self.frame_rate:5.1f} s audio | {rate:6.1f} frames/s "
                f"| {rate / self.frame_rate:4.2f}x real time | ETA {_clock(eta)}")
        self.stream.write(("\r" + line) if self.tty else (line + "\n"))
        self.stream.flush()

    def finish(self, done: int, note: str = "") -> None:
        self.update(done, force=True)
        if self.tty:
            self.stream.write("\n")
        if note:
            self.stream.write(note + "\n")
        self.stream.flush()


def _clock(seconds: float) -> str:
    if seconds == float("inf"):
        return "--:--"
    seconds = int(seconds)
    return f"{seconds // 60}:{seconds % 60:02d}"


def _read_text(path: str, what: str) -> str:
    p = Path(path)
    if not p.is_file():
        raise HeartMuLaError(f"{what} file {p} does not exist")
    try:
        return p.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise HeartMuLaError(f"{what} file {p} is not UTF-8 text") from None
    except OSError as exc:
        raise HeartMuLaError(f"cannot read {what} file {p}: {exc.strerror}") from None


def _read_frames(path: str) -> torch.Tensor:
    p = Path(path)
    if not p.is_file():
        raise HeartMuLaError(f"frames file {p} does not exist")
    try:
        arr = np.load(p, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise FramesError(f"{p}: not a readable .npy array ({exc})") from None
    if not np.issubdtype(arr.dtype, np.integer):
        raise FramesError(f"{p}: frames must be integers, found {arr.dtype}")
    return torch.from_numpy(arr.astype(np.int64))


def _positive(kind):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not value > 0:
            raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
        return value
    return parse


def _add_model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default=None, help="checkpoint root in the official layout (default: the built-in "
                                                 "demo model)")
    p.add_argument("--tags", default="", help='comma-separated tags, e.g. "pop,happy,piano"')
    p.add_argument("--lyrics", required=True, help="UTF-8 text file with the lyrics ([verse], [chorus]...)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or mps (default auto)")
    p.add_argument("--dtype", default="auto", help="HeartMuLa dtype: auto (bf16 on CUDA, else float32), "
                                                   "float32, bfloat16, float16")
    p.add_argument("--cfg", type=_positive(float), default=1.5, help="classifier-free guidance scale (1.5)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="heartmula-editor", description="HeartMuLa Editor (headless commands)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log details to stderr")
    sub = parser.add_subparsers(dest="command")

    g = sub.add_parser("generate", help="tags + lyrics -> song audio file")
    _add_model_args(g)
    g.add_argument("--out", required=True, help="output audio file (.wav, .flac, .mp3, .ogg)")
    g.add_argument("--seconds", type=_positive(float), default=30.0, help="maximum length (30)")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--topk", type=_positive(int), default=50)
    g.add_argument("--temperature", type=float, default=1.0)
    g.add_argument("--codec-dtype", default="auto",
                   help="HeartCodec precision: auto (tf32 on CUDA, else float32), float32, tf32, bfloat16")
    g.add_argument("--frames-out", help="also save the int frames [T, 8] as .npy")
    g.add_argument("--reference", metavar="FILE", help="reference track (.wav .flac .ogg .mp3) steering the style")
    g.add_argument("--reference-strength", type=strength, metavar="X", default=None,
                   help="how strongly the reference steers: 0 (not at all) to 2; default 1")
    g.add_argument("--muq-dir", default=None, help="local MuQ-MuLan folder (official checkpoints only)")
    g.add_argument("--ignore-eos", action="store_true", help="generate the full length even after EOS")
    g.add_argument("--no-compile", action="store_true",
                   help="CUDA: skip torch.compile of the decode layers (saves its ~8 s warm-up, "
                        "~20%% fewer frames/s)")
    g.add_argument("--low-memory", action="store_true",
                   help="for 12-16 GB GPUs: keep the codec in CPU memory, move it to the GPU only to decode")

    s = sub.add_parser("score", help="teacher-forced log-likelihood per frame of given frames")
    _add_model_args(s)
    s.add_argument("--frames", required=True, help=".npy int frames [T, 8]")
    s.add_argument("--out", required=True, help="output .npy float array [T]")

    d = sub.add_parser("demo", help="generate the example song with the built-in demo model (no download)")
    d.add_argument("--out", default="heartmula-demo.wav")
    d.add_argument("--seconds", type=_positive(float), default=60.0)
    d.add_argument("--seed", type=int, default=0)
    add_commands(sub, _positive)

    t = sub.add_parser("make-tiny", help="write a tiny random checkpoint root (for trying the tools)")
    t.add_argument("folder")
    t.add_argument("--seed", type=int, default=0)
    return parser


def reference_vector(args, pipe) -> torch.Tensor | None:
    """``--reference`` embedded for ``pipe``'s checkpoint, times ``--reference-strength`` (or None)."""
    from .reference import EmbeddingCache, default_cache_folder, embed_reference_file, embedder_for_checkpoint

    if not args.reference:
        if args.reference_strength is not None:
            raise CliError("--reference-strength needs --reference FILE")
        return None
    embedder = embedder_for_checkpoint(pipe.paths.root, args.muq_dir)
    ref = embed_reference_file(args.reference, embedder, EmbeddingCache(default_cache_folder()))
    strength_value = 1.0 if args.reference_strength is None else args.reference_strength
    sys.stderr.write(f"reference: {ref.name} ({ref.seconds:.1f} s, strength {strength_value:g})\n")
    return torch.from_numpy(ref.vector * strength_value)


def cmd_generate(args) -> int:
    from .audio import audio_format, write_audio
    from .pipeline import Pipeline
    from .sampling import SamplingSettings

    audio_format(Path(args.out))  # fail on a bad extension before loading anything
    lyrics = _read_text(args.lyrics, "lyrics")
    settings = SamplingSettings(temperature=args.temperature, topk=args.topk, cfg_scale=args.cfg)
    t0 = time.perf_counter()
    pipe = Pipeline.load(args.model or DEFAULT_MODEL_DIR, device=args.device, dtype=args.dtype,
                         codec_dtype=args.codec_dtype,
                         memory="low" if args.low_memory else "normal", compile_layers=not args.no_compile)
    log.info("model loaded in %.1f s", time.perf_counter() - t0)
    prompt = pipe.encode_prompt(args.tags, lyrics)
    muq_embed = reference_vector(args, pipe)
    max_frames = pipe.frames_for_seconds(args.seconds)
    if pipe.device.type == "cuda":
        seconds = pipe.warm_up(prompt, max_frames=max_frames, settings=settings)
        compiled = pipe.model.backbone.compiled_layer is not None
        sys.stderr.write(f"warm-up ({'compile + ' if compiled else ''}graph capture): {seconds:.1f} s\n")
    progress = Progress(max_frames, pipe.frame_rate)
    frames = []
    for frame in pipe.generate(prompt, max_frames=max_frames, settings=settings, seed=args.seed,
                               stop_at_eos=not args.ignore_eos, muq_embed=muq_embed):
        frames.append(frame)
        progress.update(len(frames))
    ended = "ended at EOS" if len(frames) < max_frames else "reached the length limit"
    progress.finish(len(frames), f"generated {len(frames)} frames ({len(frames) / pipe.frame_rate:.1f} s), {ended}")
    frames_t = torch.stack(frames).cpu()
    if args.frames_out:
        np.save(args.frames_out, frames_t.numpy())
    t1 = time.perf_counter()
    audio = pipe.decode(frames_t, seed=args.seed)
    log.info("decoded %.1f s of audio in %.1f s", audio.shape[-1] / pipe.codec.sample_rate, time.perf_counter() - t1)
    write_audio(args.out, audio, pipe.codec.sample_rate)
    sys.stderr.write(f"wrote {args.out} ({audio.shape[-1] / pipe.codec.sample_rate:.1f} s, "
                     f"{pipe.codec.sample_rate} Hz, {audio.shape[0]} channels)\n")
    return 0


def cmd_score(args) -> int:
    from .pipeline import Pipeline

    lyrics = _read_text(args.lyrics, "lyrics")
    frames = _read_frames(args.frames)
    pipe = Pipeline.load(args.model or DEFAULT_MODEL_DIR, device=args.device, dtype=args.dtype)
    prompt = pipe.encode_prompt(args.tags, lyrics)
    scores = pipe.score(prompt, frames, cfg_scale=args.cfg)
    np.save(args.out, scores.numpy().astype(np.float32))
    sys.stderr.write(f"wrote {args.out}: {len(scores)} frames, mean log-likelihood {scores.mean():.3f} per frame\n")
    return 0


def cmd_make_tiny(args) -> int:
    from .tiny import write_tiny_checkpoint

    root = write_tiny_checkpoint(Path(args.folder), seed=args.seed)
    sys.stderr.write(f"wrote a tiny random checkpoint to {root}\n")
    return 0


def cmd_demo(args) -> int:
    """The example lyrics sung by the built-in demo model, written to ``args.out``."""
    lyrics = Path(__file__).resolve().parent.parent / "resources" / "example_lyrics.txt"
    gen_args = build_parser().parse_args([
        "generate", "--tags", "pop, happy, piano", "--lyrics", str(lyrics), "--out", args.out,
        "--seconds", str(args.seconds), "--seed", str(args.seed)])
    return cmd_generate(gen_args)


COMMANDS = {"generate": cmd_generate, "score": cmd_score, "demo": cmd_demo, "make-tiny": cmd_make_tiny,
            "new": lambda args: cmd_new(args, _read_text), "edit": cmd_edit, "render": cmd_render, "info": cmd_info,
            "frames": cmd_frames}


def run(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` and run the command; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if args.command is None:
        args = parser.parse_args([*(["--verbose"] if args.verbose else []), "demo"])
    try:
        return COMMANDS[args.command](args)
    except HeartMuLaError as exc:
        sys.stderr.write(f"\nerror: {exc}\n")
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        sys.stderr.write("\ncancelled\n")
        return EXIT_CANCELLED
    except torch.cuda.OutOfMemoryError:
        sys.stderr.write("\nerror: out of GPU memory; try fewer --seconds, --codec-dtype bfloat16 or --device cpu\n")
        return EXIT_BAD_INPUT
    except MemoryError:
        sys.stderr.write("\nerror: out of memory\n")
        return EXIT_BAD_INPUT
