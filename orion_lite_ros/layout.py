"""One place for layouts and constants shared by every layer.

Frames: everything inside the package is REP-103 (x forward, y left, z up, metres,
radians, counter-clockwise yaw). CARLA's left-handed frame is converted at the edge
(``orion_lite_ros.ros.frames``).
"""
from enum import IntEnum

# Camera order used by ORION / Bench2Drive (nuScenes order). Image stacks follow it:
# images (N_cam, H, W, 3) uint8 RGB; model input (B, N_cam, 3, H, W) float.
CAMERA_NAMES = (
    'CAM_FRONT',
    'CAM_FRONT_RIGHT',
    'CAM_FRONT_LEFT',
    'CAM_BACK',
    'CAM_BACK_LEFT',
    'CAM_BACK_RIGHT',
)
NUM_CAMERAS = len(CAMERA_NAMES)

# Planned trajectory: NUM_WAYPOINTS poses, WAYPOINT_DT_S apart -> HORIZON_S.
# waypoints (NUM_WAYPOINTS, 2) in the ego frame (x forward, y left), cumulative positions.
NUM_WAYPOINTS = 6
WAYPOINT_DT_S = 0.5
HORIZON_S = NUM_WAYPOINTS * WAYPOINT_DT_S

# The VAE planner predicts one trajectory per navigation command:
# all_modes (NUM_COMMANDS, NUM_WAYPOINTS, 2).
NUM_COMMANDS = 6

# Closed-loop step of Bench2Drive / CARLA leaderboard (20 Hz).
SIM_FIXED_DELTA_S = 0.05

# Ego CAN-bus vector (ORION): 18 values; the command index is prepended -> 19.
CAN_BUS_DIM = 18


class Command(IntEnum):
    """CARLA RoadOption as ORION's command index ("void" -> LANE_FOLLOW)."""

    LEFT = 0
    RIGHT = 1
    STRAIGHT = 2
    LANE_FOLLOW = 3
    CHANGE_LANE_LEFT = 4
    CHANGE_LANE_RIGHT = 5
