"""CrowdPose data: locating and selecting the test set (``dataset``), checking ground truth
(``ground_truth``, no image decoding, so evaluation stays light) and decoding images (``images``)."""
