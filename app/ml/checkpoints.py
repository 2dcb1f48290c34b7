"""Reading part of an open_clip checkpoint: only the tensors a tower needs are materialised."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def checkpoint_tensors(checkpoint: str, keep: Callable[[str], bool]) -> dict[str, Any]:
    """Tensors of ``checkpoint`` whose key (without a DataParallel ``module.`` prefix) ``keep`` accepts.

    safetensors files are read tensor by tensor; ``.pt``/``.bin`` files are memory-mapped, so skipped
    tensors are never paged in.
    """
    import torch

    if checkpoint.endswith(".safetensors"):
        from safetensors import safe_open

        with safe_open(checkpoint, framework="pt", device="cpu") as fh:
            return {_bare(k): fh.get_tensor(k) for k in fh.keys() if keep(_bare(k))}  # noqa: SIM118
    state = torch.load(checkpoint, map_location="cpu", mmap=True, weights_only=True)
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    return {_bare(k): v for k, v in state.items() if keep(_bare(k))}


def _bare(key: str) -> str:
    return key[7:] if key.startswith("module.") else key
