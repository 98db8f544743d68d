"""The decode-path module tree of HeartCodec and the per-window maths (spec §4.4 steps 4-5).

:class:`HeartCodecNetwork` has the official top-level names ``flow_matching`` and ``scalar_model``,
so its state dict (with weight norm folded) maps 1:1 onto the checkpoint's decode entries.
"""

from __future__ import annotations

import torch
from torch import nn

from .config import HeartCodecConfig
from .flow import GUIDANCE_SCALE, NUM_STEPS, FlowMatching, solve_euler
from .scalar import ScalarModel
from .windows import LATENT_OVERLAP


class HeartCodecNetwork(nn.Module):
    """``flow_matching`` (RVQ lookup, condition projection, DiT estimator) + ``scalar_model.decoder``."""

    def __init__(self, config: HeartCodecConfig):
        super().__init__()
        config.validate()
        self.config = config
        self.flow_matching = FlowMatching(config)
        self.scalar_model = ScalarModel(config)

    def window_latent(self, codes: torch.Tensor, noise: torch.Tensor, previous: torch.Tensor | None,
                      num_steps: int = NUM_STEPS, guidance_scale: float = GUIDANCE_SCALE) -> torch.Tensor:
        """One window's latent ``[1, 2N, latent_dim]`` float32.

        codes ``[N, Q]`` int64 on the module device; noise ``[1, 2N, latent_dim]`` float32; previous:
        the preceding window's latent ``[1, 2N', latent_dim]`` (its last 104 frames become this
        window's in-context latent) or None for the first window. Any N works (N = 372 for the
        reference windows, shorter ones for the lead-in schedule); with ``previous`` both latents need
        at least 104 frames.
        """
        mu = self.flow_matching.condition(codes)
        context = torch.zeros_like(noise)
        incontext_len = 0
        if previous is not None:
            incontext_len = LATENT_OVERLAP
            if min(noise.shape[1], previous.shape[1]) < incontext_len:
                raise ValueError(f"in-context carry needs {incontext_len} latent frames in both windows, got "
                                 f"{previous.shape[1]} (previous) and {noise.shape[1]} (this one)")
            context[:, :incontext_len] = previous[:, -incontext_len:]
        return solve_euler(self.flow_matching.estimator, noise, context, incontext_len, mu,
                           num_steps=num_steps, guidance_scale=guidance_scale)

    def latent_to_audio(self, latent: torch.Tensor) -> torch.Tensor:
        """Latent ``[1, L, 2 * H]`` -> stereo ``[2, L * samples_per_latent]`` float32 (module device).

        Channels 0..H-1 of the latent are the left channel's scalar latent, H..2H-1 the right one's.
        """
        halves = latent[0].unflatten(-1, (2, self.config.latent_hidden_dim)).permute(1, 2, 0)
        weight = self.scalar_model.decoder[0].weight
        audio = self.scalar_model.decode(halves.to(weight.dtype))
        return audio[:, 0, : latent.shape[1] * self.config.samples_per_latent].float()
