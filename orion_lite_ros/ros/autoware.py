"""Autoware messages from ``planning.autoware_outputs`` arrays, and the map head's lane markers.

The Autoware message packages are optional: each builder's classes are ``None`` when their
package is not importable (``AVAILABLE`` says which are), and the planner node creates only the
publishers it can fill. Lane markers need only visualization_msgs.
"""
import hashlib
from typing import Sequence

from geometry_msgs.msg import Point
import numpy as np
from std_msgs.msg import ColorRGBA, Header
from visualization_msgs.msg import Marker, MarkerArray

from orion_lite_ros.planning.autoware_outputs import ObjectArrays, TrajectoryArrays
from orion_lite_ros.ros.frames import quaternion_from_rpy
from orion_lite_ros.ros.time import ns_to_duration, s_to_ns

try:
    from autoware_planning_msgs.msg import Trajectory, TrajectoryPoint
except ImportError:
    Trajectory = TrajectoryPoint = None
try:
    from autoware_internal_planning_msgs.msg import CandidateTrajectories, CandidateTrajectory
    try:
        from autoware_internal_planning_msgs.msg import GeneratorInfo
    except ImportError:          # older releases
        from autoware_internal_planning_msgs.msg import TrajectoryGeneratorInfo as GeneratorInfo
except ImportError:
    CandidateTrajectories = CandidateTrajectory = GeneratorInfo = None
try:
    from autoware_perception_msgs.msg import (
        ObjectClassification,
        PredictedObject,
        PredictedObjects,
        PredictedPath,
        Shape,
    )
except ImportError:
    ObjectClassification = PredictedObject = PredictedObjects = PredictedPath = Shape = None

AVAILABLE = {'trajectory': Trajectory is not None,
             'candidates': CandidateTrajectories is not None and Trajectory is not None,
             'objects': PredictedObjects is not None}
GENERATOR_NAME = 'orion_lite'
COMMAND_NAMES = ('LEFT', 'RIGHT', 'STRAIGHT', 'LANE_FOLLOW', 'CHANGE_LANE_LEFT',
                 'CHANGE_LANE_RIGHT')


def _header(frame_id: str, stamp) -> Header:
    return Header(frame_id=frame_id, stamp=stamp)


def _set_pose(pose, x: float, y: float, z: float, yaw: float) -> None:
    pose.position.x, pose.position.y, pose.position.z = float(x), float(y), float(z)
    q = quaternion_from_rpy(0.0, 0.0, float(yaw))
    pose.orientation.x, pose.orientation.y, pose.orientation.z, pose.orientation.w = q


def trajectory_points(tr: TrajectoryArrays) -> list:
    points = []
    for k in range(len(tr.t_s)):
        p = TrajectoryPoint()
        p.time_from_start = ns_to_duration(s_to_ns(tr.t_s[k]))
        _set_pose(p.pose, tr.xy[k, 0], tr.xy[k, 1], 0.0, tr.yaw[k])
        p.longitudinal_velocity_mps = float(tr.velocity_mps[k])
        p.acceleration_mps2 = float(tr.accel_mps2[k])
        p.heading_rate_rps = float(tr.yaw_rate_rps[k])
        points.append(p)
    return points


def trajectory_msg(tr: TrajectoryArrays, frame_id: str, stamp):
    """autoware_planning_msgs/Trajectory, map frame, header stamp = sensor stamp."""
    msg = Trajectory()
    msg.header = _header(frame_id, stamp)
    msg.points = trajectory_points(tr)
    return msg


def _uuid(name: str):
    from unique_identifier_msgs.msg import UUID
    return UUID(uuid=list(hashlib.md5(name.encode()).digest()))   # stable per name


def candidates_msg(candidates: Sequence[TrajectoryArrays], frame_id: str, stamp):
    """autoware_internal_planning_msgs/CandidateTrajectories: one per command mode, each with
    its own generator id (``orion_lite/<COMMAND>``)."""
    msg = CandidateTrajectories()
    for k, tr in enumerate(candidates):
        name = f'{GENERATOR_NAME}/{COMMAND_NAMES[k] if k < len(COMMAND_NAMES) else k}'
        cand = CandidateTrajectory()
        cand.header = _header(frame_id, stamp)
        cand.generator_id = _uuid(name)
        cand.points = trajectory_points(tr)
        msg.candidate_trajectories.append(cand)
        info = GeneratorInfo()
        info.generator_id = _uuid(name)
        if hasattr(info.generator_name, 'data'):
            info.generator_name.data = name
        else:
            info.generator_name = name
        msg.generator_info.append(info)
    return msg


def predicted_objects_msg(obj: ObjectArrays, frame_id: str, stamp, dt_s: float = 0.5):
    """autoware_perception_msgs/PredictedObjects (map frame): pose, body-frame twist, box,
    class and the motion head's predicted paths with their confidences."""
    msg = PredictedObjects()
    msg.header = _header(frame_id, stamp)
    for i in range(len(obj.label)):
        o = PredictedObject()
        o.object_id = _uuid(f'object/{i}')
        o.existence_probability = float(obj.score[i])
        o.classification = [ObjectClassification(label=int(obj.label[i]),
                                                  probability=float(obj.score[i]))]
        kin = o.kinematics
        _set_pose(kin.initial_pose_with_covariance.pose, *obj.xyz[i], obj.yaw[i])
        kin.initial_twist_with_covariance.twist.linear.x = float(obj.velocity_body[i, 0])
        kin.initial_twist_with_covariance.twist.linear.y = float(obj.velocity_body[i, 1])
        for p in range(obj.paths_xy.shape[1]):
            path = PredictedPath()
            path.time_step = ns_to_duration(s_to_ns(dt_s))
            path.confidence = float(obj.path_confidence[i, p])
            for t in range(obj.paths_xy.shape[2]):
                pose = type(kin.initial_pose_with_covariance.pose)()
                _set_pose(pose, obj.paths_xy[i, p, t, 0], obj.paths_xy[i, p, t, 1],
                          obj.xyz[i, 2], obj.path_yaw[i, p, t])
                path.path.append(pose)
            kin.predicted_paths.append(path)
        o.shape.type = Shape.BOUNDING_BOX
        o.shape.dimensions.x, o.shape.dimensions.y, o.shape.dimensions.z = (
            float(v) for v in obj.size_lwh[i])
        msg.objects.append(o)
    return msg


LANE_COLORS = ((0.9, 0.9, 0.9), (1.0, 0.8, 0.1), (0.2, 0.6, 1.0), (0.9, 0.3, 0.3),
               (0.3, 0.9, 0.4), (0.8, 0.4, 0.9))      # per map class


def lane_markers(lanes, frame_id: str, stamp, min_score: float = 0.0,
                 namespace: str = 'lanes') -> MarkerArray:
    """The map head's lanes (REP-103 ego frame, control points) as LINE_STRIPs, one per lane,
    coloured by class, preceded by a DELETEALL so stale lanes vanish."""
    out = MarkerArray()
    clear = Marker(ns=namespace, id=0, action=Marker.DELETEALL)
    clear.header = _header(frame_id, stamp)
    out.markers.append(clear)
    if lanes is None:
        return out
    points = np.asarray(lanes.points, dtype=np.float64)
    for i, (score, label) in enumerate(zip(np.asarray(lanes.scores), np.asarray(lanes.labels))):
        if score < min_score:
            continue
        m = Marker(ns=namespace, id=i + 1, type=Marker.LINE_STRIP, action=Marker.ADD)
        m.header = _header(frame_id, stamp)
        m.pose.orientation.w = 1.0
        m.scale.x = 0.15
        r, g, b = LANE_COLORS[int(label) % len(LANE_COLORS)]
        m.color = ColorRGBA(r=r, g=g, b=b, a=float(np.clip(score, 0.2, 1.0)))
        m.points = [Point(x=float(p[0]), y=float(p[1]), z=float(p[2])) for p in points[i]]
        out.markers.append(m)
    return out
