"""The one precision vocabulary of the network: a module of its own, free of torch, so that command
lines can offer the choices without loading the network's libraries."""

PRECISIONS = ("float32", "tf32", "bfloat16", "float16")
"""float32 with TF32 off, float32 with TF32 on, and the two autocast dtypes (``reference.pipeline``)."""
