"""Short status-bar strings: memory in use and time left."""

from __future__ import annotations

import math
import os


def memory_text(device: str | None) -> str:
    """GPU memory in use (CUDA) or this process's resident memory, as one short string."""
    if device and device.startswith("cuda"):
        try:
            import torch

            used = torch.cuda.memory_allocated() / 2**30
            total = torch.cuda.get_device_properties(0).total_memory / 2**30
            return f"GPU {used:.1f} / {total:.0f} GB"
        except Exception:  # noqa: BLE001 - a status line must never fail
            pass
    try:
        with open("/proc/self/statm") as f:
            pages = int(f.read().split()[1])
        return f"RAM {pages * os.sysconf('SC_PAGE_SIZE') / 2**30:.2f} GB"
    except (OSError, ValueError, IndexError):
        import resource

        return f"RAM {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GB (peak)"


def format_eta(seconds: float) -> str:
    if seconds < 0 or not math.isfinite(seconds):
        return ""
    seconds = int(round(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}" if seconds >= 60 else f"{seconds} s"
