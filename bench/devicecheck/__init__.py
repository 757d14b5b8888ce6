"""`bench device-check`: one command that checks a CUDA machine end to end in a few minutes: the
gpu-marked tests, the profile matrix (``cases.toml``), the sample's poses on the device against the
CPU's, and torchrun against one process; one summary (``summary``) labelled with the hardware."""
