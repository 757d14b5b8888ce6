"""CrowdPose data: locating and selecting the test set (``dataset``), checking ground truth
(``ground_truth``, no image reading, so evaluation stays light) and reading images (``images``)."""
