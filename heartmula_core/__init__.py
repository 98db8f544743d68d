"""HeartMuLa engine: checkpoints, model, sampling, codecs and generation. Never imports Qt."""

__version__ = "0.1.0"
