"""One copy per direction between the host and the maps' device, for several small arrays at once.

Every array travels as 32-bit words in one packed buffer (float32 as its bit pattern, integers as int32),
so a round trip is exact and a batch pays one host-device synchronisation instead of one per array.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

_TORCH_INTEGERS = (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8)


def _is_float32(dtype: torch.dtype | np.dtype, name: str) -> bool:
    """True for float32, False for integers; TypeError for anything else."""
    if dtype in (torch.float32, np.float32):
        return True
    if dtype in _TORCH_INTEGERS or (isinstance(dtype, np.dtype) and dtype.kind in "iu"):
        return False
    raise TypeError(f"{name}: only float32 and integer arrays travel packed, got {dtype}")


def to_host(tensors: Sequence[torch.Tensor]) -> list[np.ndarray]:
    """numpy copies of float32 / integer tensors on one device (integers within int32; they come back as
    int64), made with one device-to-host copy."""
    floats = [_is_float32(tensor.dtype, f"tensor {index}") for index, tensor in enumerate(tensors)]
    words = [(tensor.contiguous().view(torch.int32) if is_float else tensor.to(torch.int32)).reshape(-1)
             for tensor, is_float in zip(tensors, floats, strict=True)]
    host = torch.cat(words).cpu().numpy() if words else np.empty(0, dtype=np.int32)
    arrays, start = [], 0
    for tensor, is_float in zip(tensors, floats, strict=True):
        part = host[start:start + tensor.numel()].reshape(tensor.shape)
        arrays.append(part.view(np.float32).copy() if is_float else part.astype(np.int64))
        start += tensor.numel()
    return arrays


def to_device(arrays: Sequence[np.ndarray], device: torch.device) -> list[torch.Tensor]:
    """Tensors on ``device`` of float32 / integer numpy arrays (integers within int32; they arrive as
    int64), made with one host-to-device copy."""
    floats = [_is_float32(array.dtype, f"array {index}") for index, array in enumerate(arrays)]
    words = [np.ascontiguousarray(array).reshape(-1).view(np.int32) if is_float
             else array.reshape(-1).astype(np.int32) for array, is_float in zip(arrays, floats, strict=True)]
    packed = torch.from_numpy(np.concatenate(words) if words else np.empty(0, dtype=np.int32)).to(device)
    tensors, start = [], 0
    for array, is_float in zip(arrays, floats, strict=True):
        part = packed[start:start + array.size].reshape(array.shape)
        tensors.append(part.view(torch.float32) if is_float else part.long())
        start += array.size
    return tensors
