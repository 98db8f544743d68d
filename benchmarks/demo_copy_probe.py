"""Teacher-forced probe of a demo model: does it *copy* lyrics or memorise them?

For composer songs of training prompts and of the held-out set, the model reads the true frames
(teacher forcing) and predicts each next frame; the figure that matters is the codebook-0
accuracy at syllable *onsets* (frames where a new syllable starts), where the model must read
the next syllable from the prompt: the best syllable other than the one just sung (the model may
rightly prefer holding it, since timing is free). Memorisation shows as high accuracy on training prompts and
low on held-out ones.

    python benchmarks/demo_copy_probe.py [--model resources/demo-model] [--device cpu]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from heartmula_core.demo import vocab  # noqa: E402
from heartmula_core.demo.composer import compose  # noqa: E402
from heartmula_core.demo.corpus import make_song  # noqa: E402
from heartmula_core.demo.eval_set import EVAL_SET  # noqa: E402
from heartmula_core.pipeline import Pipeline  # noqa: E402


@torch.no_grad()
def probe(pipe: Pipeline, tags: str, lyrics: str) -> dict:
    """Per-codebook next-frame accuracy and codebook-0 accuracy at syllable onsets."""
    model = pipe.model
    frames = compose(tags, lyrics, 0).frames.long().to(pipe.device)
    prompt = pipe.encode_prompt(tags, lyrics)
    tokens = torch.tensor(prompt.tokens, device=pipe.device)[None]
    text = model.text_embeddings(tokens)
    text[0, prompt.muq_index] = model.muq_linear.bias
    x = torch.cat([text, model.embed_frames(frames[None, :-1])], 1)
    hidden = model.backbone(x, torch.arange(x.shape[1], device=pipe.device))
    start = len(prompt.tokens) - 1
    logits = model.decoder_logits(hidden[:, start:start + len(frames)], frames[None])[0]
    pred = logits.argmax(-1)
    # at an onset the model may rightly prefer "the current syllable goes on" (timing is free);
    # what must be right is *which* syllable comes next: the best id other than the previous
    # frame's, rest and the instrumental lead
    cb0 = logits[:, 0].clone()
    cb0[1:].scatter_(1, frames[:-1, vocab.CB_LYRIC:vocab.CB_LYRIC + 1], float("-inf"))
    cb0[:, : vocab.LYRIC_FIRST_SYLLABLE] = float("-inf")
    pred[:, 0] = cb0.argmax(-1)
    melody = frames[:, vocab.CB_MELODY]
    onset = (frames[:, vocab.CB_LYRIC] >= vocab.LYRIC_FIRST_SYLLABLE) & (melody >= 1) & (melody <= 36)
    return {"per_codebook": [round(v, 3) for v in (pred == frames).float().mean(0).tolist()],
            "onset_cb0": round((pred[onset, 0] == frames[onset, 0]).float().mean().item(), 3),
            "onsets": int(onset.sum())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", type=Path, default=Path("resources/demo-model"))
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    pipe = Pipeline.load(args.model, device=args.device, dtype="float32")
    report = {f"train{i}": probe(pipe, *make_song(0, i)[:2]) for i in range(3)}
    report.update({item.name: probe(pipe, item.tags, item.lyrics) for item in EVAL_SET})
    held_out = [report[item.name]["onset_cb0"] for item in EVAL_SET]
    report["held_out_onset_cb0_mean"] = round(sum(held_out) / len(held_out), 3)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
