"""The choices, defaults and bounds of what `bench profile` measures: plain values in a module that
imports nothing, so that the command's help shows them without loading torch (``profile`` checks a
``ProfileConfig`` against them)."""

INPUT_KINDS = ("sample", "synthetic")
"""The bundled sample images, or synthetic images of the ``--sizes`` given."""
SCHEDULES = ("overlapped", "serial")
"""As `bench reproduce` runs (stages overlap), or every stage one after the other."""
DEFAULT_SIZES = ((512, 512),)
"""(width, height) of the synthetic images unless ``--sizes`` says otherwise."""

MAX_ITERATIONS = 10_000
"""Most measured iterations per case, whatever --min-time asks: keeps reports' samples a few MB."""
MAX_MIN_TIME_S = 600.0
"""Longest --min-time per case (seconds)."""
MAX_WARMUP = 1000
"""Most warm-up batches per case (``warmup``): a few settle the caches and the allocator."""
MAX_IMAGE_SIDE = 4096
"""Longest side of a synthetic input image (``--sizes``), in pixels: above a 12-megapixel photo."""

DEFAULT_ITERS = 10
"""Fewest measured batches `bench profile` makes by default: more than the rank test of `bench
compare` needs to judge anything (``min_samples``: 4 a side at alpha 0.05), enough for the block
bootstrap to estimate its block length (``MIN_BLOCK_SAMPLES``, 8) and for a p90 (10 samples);
``tests/test_stability.py`` holds it to all three."""
DEFAULT_MIN_TIME_S = 10.0
"""Least measured time per case `bench profile` takes by default (seconds): a fast GPU case makes
hundreds of batches, so that a slow spell of a second is a few of its samples, not most of them."""
