"""The ScalarModel (SQ codec) decoder: 25 Hz latent ``[B, latent_hidden_dim, L]`` -> waveform (spec §4.3).

Layout of ``scalar_model.decoder`` (official indices):

0. look-ahead Conv1d latent_hidden_dim -> decoder_channels, kernel ``delay_kernel_size``, symmetric
   padding (non-causal), weight-normed;
1..n. decoder blocks: causal ConvTranspose1d (stride s, kernel 2s, drop the last s samples) then
   residual units with dilations 1, 3, 5, 7, 9; channels halve at every block;
n+1. PostProcessor (only when ``num_samples`` > 1): repeat every time step ``num_samples`` times,
   causal Conv1d (no weight norm), PReLU;
n+2. causal Conv1d init_channel -> num_bands, weight-normed. No tanh, no clamp.

Weight-normed convolutions hold the folded ``weight`` (g * v / ||v||, folded at load time); they are
marked ``weight_normed = True`` so the loader knows which file keys to expect. All activations are
PReLU with one shared slope (``weight`` ``[1]``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .config import HeartCodecConfig

#: dilations of the residual units in every decoder block
RES_DILATIONS = (1, 3, 5, 7, 9)
#: scalar quantisation levels per unit: z -> round(9 z) / 9
QUANT_LEVELS = 9


def quantise(z: torch.Tensor) -> torch.Tensor:
    """round(9 z) / 9 with round-half-to-even (torch.round), any shape."""
    return torch.round(QUANT_LEVELS * z) / QUANT_LEVELS


class PReLU(nn.Module):
    """max(0, x) + a min(0, x) with one shared slope ``weight`` ``[1]``."""

    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.prelu(x, self.weight)


class Conv1d(nn.Module):
    """Conv1d ``[B, in, L]`` -> ``[B, out, L]``; causal (left pad dilation*(k-1)) or symmetric padding."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, *, dilation: int = 1, causal: bool = True,
                 weight_normed: bool = True):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(out_ch, in_ch, kernel))
        self.bias = nn.Parameter(torch.empty(out_ch))
        self.dilation = dilation
        self.weight_normed = weight_normed
        span = dilation * (kernel - 1)
        self.padding = (span, 0) if causal else (span // 2, span // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.weight.shape[-1] == 1:  # pointwise: a batched matmul (much faster than CPU conv kernels)
            return torch.baddbmm(self.bias[:, None], self.weight[:, :, 0].expand(x.shape[0], -1, -1), x)
        return F.conv1d(F.pad(x, self.padding), self.weight, self.bias, dilation=self.dilation)


class CausalConvTranspose1d(nn.Module):
    """ConvTranspose1d with stride s, kernel 2s, padding 0, dropping the last s samples: ``[B, in, L]`` ->
    ``[B, out, L * s]``. ``weight`` is ``[in, out, 2s]`` (weight norm per *input* channel)."""

    def __init__(self, in_ch: int, out_ch: int, stride: int, kernel: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(in_ch, out_ch, kernel))
        self.bias = nn.Parameter(torch.empty(out_ch))
        self.stride = stride
        self.weight_normed = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.conv_transpose1d(x, self.weight, self.bias, stride=self.stride)
        return y[..., : x.shape[-1] * self.stride]


class UpConv(nn.Module):
    """Holder so the official name ``up_conv.layer`` maps 1:1 (the up-sampling has no activation)."""

    def __init__(self, in_ch: int, out_ch: int, stride: int, kernel: int):
        super().__init__()
        self.layer = CausalConvTranspose1d(in_ch, out_ch, stride, kernel)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer(x)


class ResidualUnit(nn.Module):
    """y = x + PReLU2(conv2(PReLU1(conv1(x)))); conv1 causal kernel k with dilation, conv2 kernel 1."""

    def __init__(self, channels: int, kernel: int, dilation: int):
        super().__init__()
        self.conv1 = Conv1d(channels, channels, kernel, dilation=dilation)
        self.conv2 = Conv1d(channels, channels, 1)
        self.activation1 = PReLU()
        self.activation2 = PReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, C, L]`` -> ``[B, C, L]``."""
        return x + self.activation2(self.conv2(self.activation1(self.conv1(x))))


class DecoderBlock(nn.Module):
    """Causal up-sampling by ``stride`` then the residual units: ``[B, in, L]`` -> ``[B, in/2, L*stride]``."""

    def __init__(self, in_ch: int, out_ch: int, stride: int, kernel: int, res_kernel: int):
        super().__init__()
        self.up_conv = UpConv(in_ch, out_ch, stride, kernel)
        self.convs = nn.ModuleList(ResidualUnit(out_ch, res_kernel, d) for d in RES_DILATIONS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.up_conv(x)
        for unit in self.convs:
            x = unit(x)
        return x


class PostProcessor(nn.Module):
    """Nearest-neighbour x``factor`` (step t -> steps t*f .. t*f+f-1), causal conv (plain), PReLU."""

    def __init__(self, channels: int, factor: int, kernel: int):
        super().__init__()
        self.factor = factor
        self.conv = Conv1d(channels, channels, kernel, weight_normed=False)
        self.activation = PReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``[B, C, L]`` -> ``[B, C, L * factor]``."""
        return self.activation(self.conv(x.repeat_interleave(self.factor, dim=-1)))


def build_decoder(config: HeartCodecConfig) -> nn.ModuleList:
    """The module list ``scalar_model.decoder`` for ``config`` (official indices)."""
    channels = config.decoder_channels
    layers: list[nn.Module] = [Conv1d(config.latent_hidden_dim, channels, config.delay_kernel_size, causal=False)]
    for stride, kernel in zip(config.upsample_factors, config.upsample_kernel_sizes):
        layers.append(DecoderBlock(channels, channels // 2, stride, kernel, config.res_kernel_size))
        channels //= 2
    if config.num_samples > 1:
        layers.append(PostProcessor(channels, config.num_samples, config.default_kernel_size))
    layers.append(Conv1d(channels, config.num_bands, config.default_kernel_size))
    return nn.ModuleList(layers)


class ScalarModel(nn.Module):
    """Decode half of ``scalar_model``."""

    def __init__(self, config: HeartCodecConfig):
        super().__init__()
        self.decoder = build_decoder(config)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Latent ``[B, latent_hidden_dim, L]`` -> waveform ``[B, num_bands, L * samples_per_latent]``."""
        x = quantise(z)
        for layer in self.decoder:
            x = layer(x)
        return x
