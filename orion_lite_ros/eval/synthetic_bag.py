"""Small bags with an exactly known drive, for tests and the replay benchmark (no ROS).

The ego drives a constant-speed arc (``yaw_rate_rps = 0`` -> a straight line) from the map
origin; its pose at any time is known in closed form (``SyntheticDrive.pose``), so the open-loop
truth of every frame is known exactly. Cameras carry a deterministic pattern that changes with
time (the planner's output changes with the frame).
"""
from dataclasses import dataclass
import math
from pathlib import Path
from typing import Tuple

import numpy as np

from orion_lite_ros.eval import msg_build as mb
from orion_lite_ros.eval.bag_io import BagSink
from orion_lite_ros.eval.topic_maps import TopicMap
from orion_lite_ros.layout import CAMERA_NAMES

NS = 1_000_000_000
WALL_CLOCK_NS = 1_764_000_000 * NS      # late 2025, what time.time_ns() gave


@dataclass(frozen=True)
class SyntheticDrive:
    duration_s: float = 6.0
    camera_hz: float = 10.0
    odometry_hz: float = 20.0
    speed_mps: float = 5.0
    yaw_rate_rps: float = 0.0
    start_ns: int = 1_000 * NS
    image_hw: Tuple[int, int] = (90, 160)
    cameras: Tuple[str, ...] = CAMERA_NAMES
    compressed: bool = False
    jpeg_quality: int = 90             # of the compressed cameras
    camera_info: bool = True
    route: bool = True
    objects: Tuple[Tuple[float, float, float, float, float], ...] = ()  # static map boxes
    camera_jitter_ns: int = 0          # camera k stamped k * jitter after the odometry tick
    transport_delay_ns: int = 2_000_000   # log time = stamp + delay
    odometry_gap_s: Tuple[float, float] = (0.0, 0.0)   # no odometry in [a, b) s
    # Odometry messages stamped on the wall clock (WALL_CLOCK_NS on) before the drive, as a
    # node started before /clock publishes them; recorded before the drive starts.
    wall_clock_odometry: int = 0
    odometry_extra_delay_ns: int = 0   # odometry logged this much later than the cameras

    def pose(self, t_s: float) -> Tuple[float, float, float]:
        """(x, y, yaw) at ``t_s`` after the start."""
        v, w = self.speed_mps, self.yaw_rate_rps
        if abs(w) < 1e-9:
            return v * t_s, 0.0, 0.0
        r = v / w
        return r * math.sin(w * t_s), r * (1 - math.cos(w * t_s)), w * t_s


def pattern(t_s: float, cam_index: int, hw: Tuple[int, int]) -> np.ndarray:
    """(H, W, 3) uint8 deterministic image for camera ``cam_index`` at ``t_s``."""
    h, w = hw
    yy, xx = np.mgrid[0:h, 0:w]
    shift = int(t_s * 40) + 17 * cam_index
    r = ((xx + shift) * 3) % 256
    g = ((yy * 5 + shift) % 256)
    b = np.full_like(xx, (40 * cam_index + int(t_s * 10)) % 256)
    return np.stack([r, g, b], -1).astype(np.uint8)


def intrinsics(hw: Tuple[int, int], fov_deg: float = 70.0) -> np.ndarray:
    h, w = hw
    f = w / (2 * math.tan(math.radians(fov_deg) / 2))
    return np.array([[f, 0, w / 2], [0, f, h / 2], [0, 0, 1]])


def _ticks(hz: float, duration_s: float):
    n = int(round(duration_s * hz))
    return [k / hz for k in range(n + 1)]


def write_synthetic_bag(path, drive: SyntheticDrive = SyntheticDrive(),
                        storage: str = 'mcap', typestore: str = 'humble',
                        topic_map: TopicMap = TopicMap(),
                        embed_definitions: bool = True) -> Path:
    """Write the drive as a rosbag2 bag at ``path`` (a new directory); returns ``path``."""
    path = Path(path)
    with BagSink(path, storage, typestore, embed_definitions) as sink:
        records = _route(sink.store, drive, topic_map) + _odometry(sink.store, drive, topic_map)
        records += _cameras(sink.store, drive, topic_map) + _objects(sink.store, drive,
                                                                    topic_map)
        for t_log, _order, topic, msg in sorted(records, key=lambda r: (r[0], r[1])):
            sink.write(topic, msg, t_log)
    return path


def _route(store, drive, tm):
    if not (drive.route and tm.route):
        return []
    times = np.arange(0.0, drive.duration_s + 30.0, 0.5)
    xy = np.array([drive.pose(t)[:2] for t in times])
    return [(drive.start_ns, 0, tm.route, mb.path_msg(store, drive.start_ns, 'map', xy))]


def _odometry(store, drive, tm):
    out = []
    for k in range(drive.wall_clock_odometry):
        dt = (drive.wall_clock_odometry - k) * NS // int(drive.odometry_hz)
        msg = mb.odometry_msg(store, WALL_CLOCK_NS - dt, 0.0, 0.0, 0.0, 0.0, 0.0)
        out.append((drive.start_ns - dt, 1, tm.odometry, msg))
    gap_a, gap_b = drive.odometry_gap_s
    for t in _ticks(drive.odometry_hz, drive.duration_s):
        if gap_a <= t < gap_b:
            continue
        stamp = drive.start_ns + int(round(t * NS))
        x, y, yaw = drive.pose(t)
        msg = mb.odometry_msg(store, stamp, x, y, yaw, drive.speed_mps, drive.yaw_rate_rps)
        out.append((stamp + drive.transport_delay_ns + drive.odometry_extra_delay_ns, 1,
                    tm.odometry, msg))
    return out


def _cameras(store, drive, tm):
    out = []
    k = intrinsics(drive.image_hw)
    for t in _ticks(drive.camera_hz, drive.duration_s):
        for i, cam in enumerate(drive.cameras):
            topic = tm.cameras.get(cam)
            if not topic:
                continue
            stamp = drive.start_ns + int(round(t * NS)) + i * drive.camera_jitter_ns
            rgb = pattern(t, i, drive.image_hw)
            if drive.compressed:
                out.append((stamp + drive.transport_delay_ns, 2, topic + '/compressed',
                            mb.compressed_image_msg(store, stamp, cam, rgb,
                                                       drive.jpeg_quality)))
            else:
                out.append((stamp + drive.transport_delay_ns, 2, topic,
                            mb.image_msg(store, stamp, cam, rgb)))
            info = tm.camera_info.get(cam)
            if drive.camera_info and info:
                h, w = drive.image_hw
                out.append((stamp + drive.transport_delay_ns, 3, info,
                            mb.camera_info_msg(store, stamp, cam, w, h, k)))
    return out


def _objects(store, drive, tm):
    if not (drive.objects and tm.objects):
        return []
    out = []
    for t in _ticks(drive.camera_hz, drive.duration_s):
        stamp = drive.start_ns + int(round(t * NS))
        markers = [mb.box_marker(store, stamp, 'map', 'objects', i, box)
                   for i, box in enumerate(drive.objects)]
        out.append((stamp + drive.transport_delay_ns, 4, tm.objects,
                    mb.marker_array(store, markers)))
    return out
