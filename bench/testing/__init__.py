"""Synthetic stand-ins used by the tests and by smoke runs: CrowdPose-format data sets and detections
(``synthetic_data``), deterministic and calibrated weights and mmpose-format checkpoints
(``synthetic_weights``); per-stage goldens of the pipeline with those weights (``stage_goldens``, compared
by ``golden_check``, kept by ``golden_file``)."""
