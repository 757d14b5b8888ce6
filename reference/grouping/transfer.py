"""One copy per direction between the host and the maps' device, for several small arrays at once.

Every array travels as 32-bit words in one packed buffer (float32 as its bit pattern, integers as int32),
so a round trip is exact and a batch pays one host-device synchronisation instead of one per array.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch


def _check_words(dtype_is_float: bool, is_int: bool, name: str) -> None:
    if not (dtype_is_float or is_int):
        raise TypeError(f"{name}: only float32 and integer arrays travel packed")


def to_host(tensors: Sequence[torch.Tensor]) -> list[np.ndarray]:
    """numpy copies of float32 / integer tensors on one device (integers within int32; they come back as
    int64), made with one device-to-host copy."""
    words = []
    for index, tensor in enumerate(tensors):
        is_float = tensor.dtype == torch.float32
        _check_words(is_float, not tensor.is_floating_point() and tensor.dtype != torch.bool, f"tensor {index}")
        words.append((tensor.contiguous().view(torch.int32) if is_float else tensor.to(torch.int32)).reshape(-1))
    host = torch.cat(words).cpu().numpy() if words else np.empty(0, dtype=np.int32)
    arrays, start = [], 0
    for tensor in tensors:
        part = host[start:start + tensor.numel()].reshape(tensor.shape)
        arrays.append(part.view(np.float32).copy() if tensor.dtype == torch.float32 else part.astype(np.int64))
        start += tensor.numel()
    return arrays


def to_device(arrays: Sequence[np.ndarray], device: torch.device) -> list[torch.Tensor]:
    """Tensors on ``device`` of float32 / integer numpy arrays (integers within int32; they arrive as
    int64), made with one host-to-device copy."""
    words = []
    for index, array in enumerate(arrays):
        is_float = array.dtype == np.float32
        _check_words(is_float, array.dtype.kind in "iu", f"array {index}")
        flat = np.ascontiguousarray(array).reshape(-1)
        words.append(flat.view(np.int32) if is_float else flat.astype(np.int32))
    packed = torch.from_numpy(np.concatenate(words) if words else np.empty(0, dtype=np.int32)).to(device)
    tensors, start = [], 0
    for array in arrays:
        part = packed[start:start + array.size].reshape(array.shape)
        tensors.append(part.view(torch.float32) if array.dtype == np.float32 else part.long())
        start += array.size
    return tensors
