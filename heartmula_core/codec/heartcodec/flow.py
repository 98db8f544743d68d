"""Flow matching: code frames -> condition mu -> latent by a 10-step Euler solve with CFG (spec §4.3-4.4).

:class:`FlowMatching` holds the decode-path modules under their official names (``vq_embed``,
``cond_feature_emb``, ``zero_cond_embedding1``, ``estimator``). :func:`solve_euler` is the solver of
§4.4 step 4, including the in-context latent carry: the first ``incontext_len`` frames are pinned to
a noisy mix of the context during the solve and set exactly to it afterwards.

Precision: the ODE state ``x`` and the CFG mix stay float32 whatever the module dtype; only the
estimator runs in the module dtype (identical to the reference for the default fp32 codec).
"""

from __future__ import annotations

import torch
from torch import nn

from .config import HeartCodecConfig
from .estimator import Estimator
from .rvq import ResidualVQLookup

#: Euler steps of the reference detokenize
NUM_STEPS = 10
#: classifier-free guidance of the velocity (row 0 unconditional with zero condition, row 1 conditional)
GUIDANCE_SCALE = 1.25
#: the context pin is (1 - (1 - SIGMA_MIN) t) noise + t context
SIGMA_MIN = 1e-6
#: latent frames per code frame (nearest-neighbour up-sampling of the condition)
LATENT_PER_CODE = 2


class FlowMatching(nn.Module):
    """Decode-path modules of ``flow_matching``."""

    def __init__(self, config: HeartCodecConfig):
        super().__init__()
        self.vq_embed = ResidualVQLookup(config.num_quantizers, config.codebook_size, config.codebook_dim,
                                         config.dim)
        self.cond_feature_emb = nn.Linear(config.dim, config.dim)
        # loaded for completeness; it only replaces mu beyond the latent length, which never happens
        self.zero_cond_embedding1 = nn.Parameter(torch.empty(config.dim))
        self.estimator = Estimator(config)

    def condition(self, codes: torch.Tensor) -> torch.Tensor:
        """Codes ``[N, Q]`` int64 -> mu ``[1, 2N, dim]``: RVQ sum, project_out, cond_feature_emb, x2 nearest."""
        features = self.cond_feature_emb(self.vq_embed(codes))
        return features.repeat_interleave(LATENT_PER_CODE, dim=0)[None]


def guided_velocity(estimator: Estimator, x: torch.Tensor, context: torch.Tensor, mu: torch.Tensor,
                    t: torch.Tensor, guidance_scale: float) -> torch.Tensor:
    """Velocity ``[1, T, C]`` float32 at time ``t`` (0-d float32).

    x, context ``[1, T, C]`` float32; mu ``[1, T, dim]`` in the estimator dtype. The estimator input is
    ``[x | context | cond]``; with guidance > 1 it runs a batch of 2 (row 0 cond = zeros, row 1 cond = mu)
    and mixes ``v_u + g (v_c - v_u)``, else a single conditional pass.
    """
    dtype = mu.dtype
    if guidance_scale <= 1.0:
        inp = torch.cat((x.to(dtype), context.to(dtype), mu), dim=-1)
        return estimator(inp, t.reshape(1)).float()
    cond = torch.cat((torch.zeros_like(mu), mu))
    inp = torch.cat((x.to(dtype).expand(2, -1, -1), context.to(dtype).expand(2, -1, -1), cond), dim=-1)
    v = estimator(inp, t.reshape(1).expand(2)).float()
    v_uncond, v_cond = v[:1], v[1:]
    return v_uncond + guidance_scale * (v_cond - v_uncond)


def solve_euler(estimator: Estimator, noise: torch.Tensor, context: torch.Tensor, incontext_len: int,
                mu: torch.Tensor, num_steps: int = NUM_STEPS,
                guidance_scale: float = GUIDANCE_SCALE) -> torch.Tensor:
    """Integrate from ``noise`` ``[1, T, C]`` float32 at t = 0 to the latent ``[1, T, C]`` float32 at t = 1.

    t runs over linspace(0, 1, num_steps + 1); as in the reference, t is accumulated (t += dt) and dt is
    recomputed from the grid so that t ends at 1. Before each step the first ``incontext_len`` frames
    are pinned to (1 - (1 - 1e-6) t) noise + t context; after the last step they are set to context.
    """
    t_span = torch.linspace(0.0, 1.0, num_steps + 1, device=noise.device, dtype=torch.float32)
    t, dt = t_span[0], t_span[1] - t_span[0]
    n = incontext_len
    x = noise.clone()
    for step in range(1, num_steps + 1):
        if n:
            x[:, :n] = (1 - (1 - SIGMA_MIN) * t) * noise[:, :n] + t * context[:, :n]
        x = x + dt * guided_velocity(estimator, x, context, mu, t, guidance_scale)
        t = t + dt
        if step < num_steps:
            dt = t_span[step + 1] - t
    if n:
        x[:, :n] = context[:, :n]
    return x
