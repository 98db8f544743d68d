"""One HeartCodec window (condition -> 10 Euler steps with CFG -> scalar decoder) as a CUDA graph.

Eager, a window launches ~30 DiT layers x 2 CFG rows x 10 steps of small kernels; for the short
lead-in windows that launch overhead *is* the decode time (measured on an H100: a 64-frame window
took ~370 ms in fp32, TF32 and bf16 alike). A captured window replays the same kernels with no
launch overhead. One graph per (window length, with/without in-context carry); all graphs of a
codec share one memory pool, which is safe because windows run one at a time and each replay's
outputs are copied out before the next.
"""

from __future__ import annotations

import logging
import time

import torch

from .network import HeartCodecNetwork
from .windows import LATENT_OVERLAP, LATENT_PER_CODE

log = logging.getLogger(__name__)


class GraphedWindow:
    """A captured window of ``length`` code frames; ``carry`` says whether it takes a context."""

    def __init__(self, network: HeartCodecNetwork, length: int, carry: bool, num_steps: int,
                 guidance_scale: float, device: torch.device, pool) -> None:
        cfg = network.config
        self.network, self.carry, self.num_steps, self.guidance_scale = network, carry, num_steps, guidance_scale
        self.codes = torch.zeros(length, cfg.num_quantizers, dtype=torch.long, device=device)
        self.noise = torch.zeros(1, length * LATENT_PER_CODE, cfg.latent_dim, device=device)
        self.tail = torch.zeros(1, LATENT_OVERLAP, cfg.latent_dim, device=device) if carry else None
        t0 = time.perf_counter()
        side = torch.cuda.Stream(device)
        side.wait_stream(torch.cuda.current_stream(device))
        with torch.cuda.stream(side), torch.no_grad():
            self._run()  # warm-up: lazy initialisation and kernel selection outside the capture
        torch.cuda.current_stream(device).wait_stream(side)
        self.graph = torch.cuda.CUDAGraph()
        with torch.no_grad(), torch.cuda.graph(self.graph, pool=pool):
            self.latent, self.audio = self._run()
        log.info("captured a %d-frame codec window (carry %s) in %.2f s", length, carry, time.perf_counter() - t0)

    def _run(self) -> tuple[torch.Tensor, torch.Tensor]:
        latent = self.network.window_latent(self.codes, self.noise, self.tail, self.num_steps, self.guidance_scale)
        return latent, self.network.latent_to_audio(latent)

    def __call__(self, codes: torch.Tensor, noise: torch.Tensor,
                 previous: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """Same contract as the eager window: (latent ``[1, 2L, C]`` on the device, audio ``[2, n]`` on CPU)."""
        self.codes.copy_(codes)
        self.noise.copy_(noise)
        if self.carry:
            self.tail.copy_(previous[:, -LATENT_OVERLAP:])
        self.graph.replay()
        return self.latent.clone(), self.audio.cpu()


class WindowGraphs:
    """The captured windows of one codec, created on first use of each (length, carry)."""

    def __init__(self) -> None:
        self.pool = None
        self.windows: dict[tuple[int, bool, bool], GraphedWindow] = {}

    def get(self, network: HeartCodecNetwork, length: int, carry: bool, num_steps: int,
            guidance_scale: float, device: torch.device, tf32: bool = False) -> GraphedWindow:
        """The graph for this window shape; ``tf32`` is part of the key since kernels are chosen at
        capture. Call :meth:`clear` whenever the network's weights move."""
        key = (length, carry, tf32)
        if key not in self.windows:
            if self.pool is None:
                self.pool = torch.cuda.graph_pool_handle()
            self.windows[key] = GraphedWindow(network, length, carry, num_steps, guidance_scale, device, self.pool)
        return self.windows[key]

    def clear(self) -> None:
        self.windows.clear()
        self.pool = None
