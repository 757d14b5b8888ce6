"""Accuracy: `bench reproduce` (``reproduce``), the prediction runner that drives the pipeline over a data
set (``runner``), its resumable cache (``cache``), the published table (``expected``) and torchrun
sharding (``distributed``)."""
