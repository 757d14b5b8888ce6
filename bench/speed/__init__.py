"""Speed: `bench profile` (``profile``), the stage timer it hands the pipeline as observer (``timer``)
and the rendered heat and tag maps that stand in for an untrained network's (``synthetic_maps``)."""
