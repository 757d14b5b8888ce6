"""CrowdPose keypoint layout shared by the pipeline and the grouping."""

NUM_JOINTS = 14

JOINT_NAMES = (
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle", "head", "neck",
)

# Index of the mirrored joint for a horizontally flipped image (left/right pairs swap,
# head and neck map to themselves), as in mmpose's CrowdPose dataset_info.
FLIP_INDEX = (1, 0, 3, 2, 5, 4, 7, 6, 9, 8, 11, 10, 12, 13)
