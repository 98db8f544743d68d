"""Error types of the engine.

Every error the engine raises for bad *input* (files, configs, prompts, frames) is a
:class:`HeartMuLaError` whose message is one line that names the file, tensor or value at fault
and says what was expected. Callers (CLI, GUI) show ``str(err)`` as is; no traceback is needed.
Programming errors stay ordinary Python exceptions.
"""

from __future__ import annotations


class HeartMuLaError(Exception):
    """Base class: a problem with user input, reported as one clear line."""


class CheckpointError(HeartMuLaError):
    """A checkpoint folder, weight file or tensor is missing, malformed or of the wrong shape."""


class ConfigError(CheckpointError):
    """A config.json or gen_config.json is missing a field, has a bad value or is not JSON."""


class PromptError(HeartMuLaError):
    """Tags or lyrics cannot be turned into a prompt (empty, too long for the context...)."""


class FramesError(HeartMuLaError):
    """A frame array has the wrong shape, dtype or token values."""


class Cancelled(HeartMuLaError):
    """An operation was cancelled by its caller between two steps."""
