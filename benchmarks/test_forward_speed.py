"""Raw network forward latency of HigherHRNet-W32: contiguous vs channels_last, CPU and (if present) CUDA.

One 1x3x256x256 image in float32 under ``torch.inference_mode``; seeded default initialisation (speed
does not depend on the weights). Compare the rows of the ``forward-<device>`` group.
"""

from __future__ import annotations

import pytest
import torch

from reference.model import higher_hrnet_w32

DEVICES = ["cpu", pytest.param("cuda", marks=[
    pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")])]
MEMORY_FORMATS = {"contiguous": torch.contiguous_format, "channels_last": torch.channels_last}


@pytest.mark.parametrize("layout", list(MEMORY_FORMATS))
@pytest.mark.parametrize("device", DEVICES)
def test_forward_latency(benchmark, device, layout):
    torch.manual_seed(0)
    memory_format = MEMORY_FORMATS[layout]
    model = higher_hrnet_w32().to(device=device, memory_format=memory_format)
    images = torch.randn(1, 3, 256, 256, device=device).contiguous(memory_format=memory_format)

    def forward() -> list[torch.Tensor]:
        with torch.inference_mode():
            outputs = model(images)
        if device == "cuda":
            torch.cuda.synchronize()
        return outputs

    benchmark.group = f"forward-{device}"
    outputs = benchmark.pedantic(forward, rounds=5, iterations=1, warmup_rounds=1)
    assert [list(o.shape) for o in outputs] == [[1, 28, 64, 64], [1, 14, 128, 128]]
    with torch.inference_mode():  # the other layout gives the same outputs (up to float summation order)
        other = model.to(memory_format=torch.contiguous_format if layout == "channels_last"
                         else torch.channels_last)(images.contiguous())
    for found, expected in zip(outputs, other, strict=True):
        assert (found - expected).abs().max() <= 1e-4 * expected.abs().max()
    benchmark.extra_info.update(input_shape=[1, 3, 256, 256], memory_format=layout)
