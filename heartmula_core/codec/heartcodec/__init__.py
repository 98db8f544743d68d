"""HeartCodec decode path: HeartMuLa code frames ``[T, 8]`` -> 48 kHz stereo audio (spec §4).

Modules: :mod:`.config` (config.json), :mod:`.rvq` / :mod:`.estimator` / :mod:`.flow` (codes -> latent
by flow matching), :mod:`.scalar` (latent -> waveform), :mod:`.windows` (window arithmetic),
:mod:`.layout` / :mod:`.loading` (checkpoint keys, weight-norm folding), :mod:`.model` (the Codec and
its stream), :mod:`.random_init` (random checkpoints for tests and benchmarks).
"""

from .config import HeartCodecConfig
from .loading import fold_weight_norm, load_heartcodec
from .model import HeartCodec, HeartCodecStream
from .network import HeartCodecNetwork
from .random_init import random_heartcodec, tiny_config, write_random_heartcodec
from .windows import DEFAULT_LEAD_IN, plan_lead_in, plan_windows, plan_windows_reference

__all__ = [
    "DEFAULT_LEAD_IN", "HeartCodec", "HeartCodecConfig", "HeartCodecNetwork", "HeartCodecStream", "fold_weight_norm",
    "load_heartcodec", "plan_lead_in", "plan_windows", "plan_windows_reference", "random_heartcodec", "tiny_config",
    "write_random_heartcodec",
]
