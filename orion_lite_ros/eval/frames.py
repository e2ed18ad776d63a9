"""Rebuild the planner's frame sets from bag messages (no ROS runtime).

The bag's messages are fed in recorded order (``ros2 bag play`` order) through the same
``ApproximateTimeSynchronizer`` class the planner node uses (``orion_lite_ros.ros.sync``), one
input filter per camera plus one for odometry, as in the node. Each emitted set
becomes a ``FrameInputs`` through the node's own frame assembly
(``planning.frame_assembly.FrameAssembler``: decoding, rig, odometry, route navigation).
"""
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

import numpy as np

from orion_lite_ros.eval.bag_io import BagMessage, Problem, stamp_ns
from orion_lite_ros.eval.topic_maps import TopicMap
from orion_lite_ros.layout import CAMERA_NAMES
from orion_lite_ros.nav.route import RouteConfig
from orion_lite_ros.planning import frame_assembly
from orion_lite_ros.planning.frame_assembly import PlannerNodeConfig
from orion_lite_ros.ros.conversions import path_to_array
from orion_lite_ros.ros.frames import yaw_from_quaternion
from orion_lite_ros.ros.rig import Rig
from orion_lite_ros.ros.sync import (
    ApproximateTimeSynchronizer,
    ClockJump,
    ClockJumpGuard,
    ClockJumpReset,
    SimpleFilter,
)
from orion_lite_ros.ros.validation import InputError
from orion_lite_ros.types import FrameInputs

IMAGE_TYPES = ('sensor_msgs/msg/Image', 'sensor_msgs/msg/CompressedImage')
EXPECTED = {'odometry': ('nav_msgs/msg/Odometry',), 'route': ('nav_msgs/msg/Path',),
            'objects': ('visualization_msgs/msg/MarkerArray',),
            'camera_info': ('sensor_msgs/msg/CameraInfo',),
            'acceleration': ('geometry_msgs/msg/AccelWithCovarianceStamped',)}
_CUBE, _DELETE = 1, 2


class ReplayError(RuntimeError):
    """Nothing can be evaluated (the message says what is wrong with the bag)."""


@dataclass
class BagTopics:
    """Topics of the bag that feed the replay (after checking names and types)."""

    cameras: Dict[str, str]                 # camera name -> topic (Image / CompressedImage)
    camera_info: Dict[str, str]
    odometry: str
    route: str = ''                         # '' -> no route (node: LANE_FOLLOW)
    objects: str = ''
    acceleration: str = ''
    missing_cameras: List[str] = field(default_factory=list)


def resolve_topics(bag: Dict[str, tuple], tm: TopicMap, problems: List[Problem],
                   undecodable: Dict[str, str]) -> BagTopics:
    """Check the topic map against the bag's topics; raise only if nothing can run."""
    def usable(role: str, topic: str, allowed: Sequence[str]) -> bool:
        if not topic:
            return False
        if topic not in bag:
            problems.append(Problem('missing_topic', topic, f'{role}: not in the bag'))
            return False
        msgtype = bag[topic][0]
        if msgtype not in allowed or msgtype in undecodable:
            why = undecodable.get(msgtype, f'expected {" or ".join(allowed)}')
            problems.append(Problem('unknown_type', topic, f'{role}: type {msgtype}; {why}'))
            return False
        return True

    cameras, missing = {}, []
    for cam in CAMERA_NAMES:
        topic = tm.cameras.get(cam, '')
        if topic and topic not in bag and topic + '/compressed' in bag:
            topic += '/compressed'
        (cameras.__setitem__(cam, topic) if usable(f'camera {cam}', topic, IMAGE_TYPES)
         else missing.append(cam))
    if not usable('odometry', tm.odometry, EXPECTED['odometry']):
        raise ReplayError(f'odometry topic {tm.odometry!r} is unusable: '
                          f'{_reasons(tm.odometry, problems)}; no ego pose, nothing to evaluate '
                          f'(topic map {tm.name!r}; bag topics: {_listing(bag)})')
    if CAMERA_NAMES[0] not in cameras:
        front = tm.cameras.get(CAMERA_NAMES[0], '')
        raise ReplayError(f'front camera topic {front!r} is unusable: '
                          f'{_reasons(front, problems)} (topic map {tm.name!r}; bag topics: '
                          f'{_listing(bag)})')
    infos = {c: t for c, t in tm.camera_info.items()
             if c in cameras and t in bag and bag[t][0] in EXPECTED['camera_info']}
    route = tm.route if usable('route', tm.route, EXPECTED['route']) else ''
    objects = tm.objects if usable('objects', tm.objects, EXPECTED['objects']) else ''
    accel = tm.acceleration if usable('acceleration', tm.acceleration,
                                      EXPECTED['acceleration']) else ''
    return BagTopics(cameras, infos, tm.odometry, route, objects, accel, missing)


def _reasons(topic: str, problems: Sequence[Problem]) -> str:
    """What the reader and the checks collected about ``topic``, and about the whole bag."""
    own = [p.detail for p in problems if p.topic in (topic, topic + '/compressed')]
    bag_wide = [f'{p.kind}: {p.detail}' for p in problems if not p.topic]
    return '; '.join(own + bag_wide) or 'no reason recorded'


def _listing(bag: Dict[str, tuple]) -> str:
    return ', '.join(f'{t} ({typ}, {n})' for t, (typ, n) in sorted(bag.items())) or 'none'


def pose2d(odom_msg) -> tuple:
    """(stamp_ns, x, y, yaw) of a nav_msgs/Odometry."""
    p = odom_msg.pose.pose
    q = p.orientation
    return (stamp_ns(odom_msg.header.stamp), p.position.x, p.position.y,
            yaw_from_quaternion(q.x, q.y, q.z, q.w))


def marker_boxes(marker_array) -> Optional[tuple]:
    """(stamp_ns, boxes (M, 5)) from the CUBE markers of a MarkerArray (map frame)."""
    boxes, stamp = [], None
    for m in marker_array.markers:
        if m.type != _CUBE or m.action >= _DELETE:
            continue
        q = m.pose.orientation
        boxes.append((m.pose.position.x, m.pose.position.y,
                      yaw_from_quaternion(q.x, q.y, q.z, q.w), m.scale.x, m.scale.y))
        stamp = stamp_ns(m.header.stamp) if stamp is None else stamp
    return None if stamp is None else (stamp, np.array(boxes).reshape(-1, 5))


class _BagFilter(SimpleFilter):
    """Input filter of the synchroniser fed from the bag instead of a subscription."""


MAX_BACKWARD_JUMP_S = 1.0   # stamps this much older than a topic's newest: another clock


def clock_guard() -> ClockJumpGuard:
    return ClockJumpGuard(MAX_BACKWARD_JUMP_S)


def jump_problem(jump: ClockJump, what: str) -> Problem:
    return Problem('clock_jump', jump.topic, f'{jump.describe()}: {what}')


@dataclass(frozen=True)
class NodeSettings:
    """The planner node's parameters that shape its frame sets (``PlannerNodeConfig``)."""

    queue_size: int = PlannerNodeConfig.queue_size
    slop_s: float = PlannerNodeConfig.slop_s
    use_camera_info: bool = PlannerNodeConfig.use_camera_info
    route_from_drive: bool = False     # no route in the bag: the recorded drive (not the node)


class FrameAssembler:
    """Feed bag messages in recorded order; returns the ``FrameInputs`` completed by each.

    Mirrors ``PlannerNode``: cameras (``CAMERA_NAMES`` order) + odometry through the
    approximate synchroniser, then the node's ``planning.frame_assembly.FrameAssembler``
    (route, acceleration and camera_info latest-wins; every camera decoded, equal sizes; rig
    intrinsics scaled to the image size unless ``use_camera_info``; without a route
    LANE_FOLLOW and a target straight ahead). Unlike the node, nothing is dropped for lateness
    (offline: every set is planned; no stale check, no latest-wins slot here) and a camera
    missing from the whole bag is filled with black (reported) instead of blocking every set
    (``fill_missing_cameras``); a set with a bad image is dropped under its first reason.
    """

    def __init__(self, topics: BagTopics, rig: Rig, settings: NodeSettings = NodeSettings(),
                 route_config: RouteConfig = RouteConfig(), drive_xy=None):
        self.topics, self.rig, self.settings = topics, rig, settings
        self.route_config = route_config
        self.frames = frame_assembly.FrameAssembler(
            rig, route_config, use_camera_info=settings.use_camera_info,
            fill_missing_cameras=True, stop_at_first_fault=True)
        self._cams = [c for c in CAMERA_NAMES if c in topics.cameras]
        self._filters = [_BagFilter() for _ in range(len(self._cams) + 1)]
        names = [topics.cameras[c] for c in self._cams] + [topics.odometry]
        # Before the synchroniser, so a queue is cleared before the message that shows the
        # jump reaches it (registration order = call order).
        self.clock = ClockJumpReset(self._filters, names, MAX_BACKWARD_JUMP_S)
        self._sync = ApproximateTimeSynchronizer(self._filters, settings.queue_size,
                                                 settings.slop_s)
        self.clock.attach(self._sync)
        self._sync.registerCallback(self._on_set)
        self._inputs = {t: i for i, t in enumerate(names)}
        self._info_cam = {t: c for c, t in topics.camera_info.items()}
        if settings.route_from_drive and drive_xy is not None and len(drive_xy) >= 2:
            self.frames.set_route(drive_xy)
        self._ready: List[FrameInputs] = []
        self.dropped: Dict[str, int] = {}

    def feed(self, m: BagMessage) -> List[FrameInputs]:
        if m.topic in self._inputs:
            self._filters[self._inputs[m.topic]].signalMessage(m.msg)
        elif m.topic == self.topics.route:
            self.frames.set_route(path_to_array(m.msg))
        elif m.topic == self.topics.acceleration:
            self.frames.set_acceleration(m.msg)
        elif m.topic in self._info_cam:
            try:
                self.frames.set_camera_info(self._info_cam[m.topic], m.msg)
            except InputError as exc:               # rig intrinsics stay
                self._drop(f'bad camera_info: {exc}')
        ready, self._ready = self._ready, []
        return ready

    def topics_needed(self) -> List[str]:
        t = self.topics
        return [*t.cameras.values(), t.odometry, t.route, t.acceleration,
                *t.camera_info.values()]

    def _drop(self, why: str) -> None:
        self.dropped[why] = self.dropped.get(why, 0) + 1

    def _on_set(self, *msgs) -> None:
        decoded = self._decode(msgs[:-1])
        if decoded.images is None:
            return
        try:
            self._ready.append(self.frames.frame_inputs(
                stamp_ns(msgs[0].header.stamp), decoded.images, msgs[-1],
                decoded.source_jpeg_quality, decoded.source_hw))
        except InputError as exc:
            self._drop(f'bad odometry: {exc}')

    def _decode(self, cams):
        decoded = self.frames.decode_set(
            (cam, msg, self.topics.cameras[cam]) for cam, msg in zip(self._cams, cams))
        if decoded.faults:                          # one reason per set (the first)
            cam, reason = decoded.faults[0]
            self._drop(f'bad image: {reason}' if cam else reason)
        return decoded


def route_from_path(msg) -> np.ndarray:
    return path_to_array(msg, 2)
