"""The harness around ``reference``: checkpoint, CrowdPose data, evaluation, profiling, reports."""
