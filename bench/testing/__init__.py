"""Synthetic stand-ins used by the tests and by smoke runs: CrowdPose-format data sets and detections
(``synthetic_data``), deterministic and calibrated weights and mmpose-format checkpoints
(``synthetic_weights``)."""
