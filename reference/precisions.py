"""The one precision vocabulary of the network: a module of its own, free of torch, so that command
lines can offer the choices without loading the network's libraries."""

PRECISIONS = ("float32", "tf32", "bfloat16", "float16", "int8")
"""float32 with TF32 off, float32 with TF32 on, the two autocast dtypes (``reference.pipeline``), and
int8: weights and activations quantized after training, by a runtime that quantizes (``QUANTIZED``)."""
QUANTIZED = ("int8",)
"""Precisions that only a runtime other than torch gives (one that quantizes the exported network); the
torch runtime refuses them."""
TORCH_RUNTIME = "torch"
"""The runtime that runs the ``nn.Module`` itself, under the precision's autocast and TF32 settings. Any
other runtime is an adapter module that runs a compiled copy of the network and applies the precision
itself (``bench.runtimes`` names them)."""
