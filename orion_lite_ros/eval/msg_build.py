"""Build rosbags message objects from numpy (for bags written here; no ROS runtime).

``make(store, msgtype, **fields)`` fills every field left out with its zero value, so callers
only name what they set. Builders for the handful of types the replay writes follow.
"""
import math

import numpy as np
from rosbags.typesys.base import Nodetype

NS = 1_000_000_000
_NUMPY = {'bool': np.bool_, 'int8': np.int8, 'uint8': np.uint8, 'byte': np.uint8,
          'char': np.uint8, 'int16': np.int16, 'uint16': np.uint16, 'int32': np.int32,
          'uint32': np.uint32, 'int64': np.int64, 'uint64': np.uint64,
          'float32': np.float32, 'float64': np.float64}


def _zero(store, node):
    kind, spec = node
    if kind == Nodetype.BASE:
        name = spec[0]
        return '' if name in ('string', 'wstring') else (False if name == 'bool' else 0)
    if kind == Nodetype.NAME:
        return make(store, spec)
    sub, length = spec
    if sub[0] == Nodetype.BASE and sub[1][0] in _NUMPY:
        return np.zeros(length if kind == Nodetype.ARRAY else 0, dtype=_NUMPY[sub[1][0]])
    return [_zero(store, sub) for _ in range(length)] if kind == Nodetype.ARRAY else []


def make(store, msgtype: str, **fields):
    """A message of ``msgtype`` with ``fields`` set and every other field zero."""
    _, defs = store.fielddefs[msgtype]
    names = {name for name, _ in defs}
    extra = sorted(set(fields) - names)
    if extra:
        raise ValueError(f'{msgtype} has no fields {extra}')
    values = {name: fields[name] if name in fields else _zero(store, node) for name, node in defs}
    return store.types[msgtype](**values)


def time_msg(store, stamp_ns: int):
    return make(store, 'builtin_interfaces/msg/Time', sec=int(stamp_ns // NS),
                nanosec=int(stamp_ns % NS))


def header(store, stamp_ns: int, frame_id: str):
    return make(store, 'std_msgs/msg/Header', stamp=time_msg(store, stamp_ns), frame_id=frame_id)


def pose(store, x: float, y: float, yaw: float, z: float = 0.0):
    return make(store, 'geometry_msgs/msg/Pose',
                position=make(store, 'geometry_msgs/msg/Point', x=float(x), y=float(y),
                              z=float(z)),
                orientation=make(store, 'geometry_msgs/msg/Quaternion', x=0.0, y=0.0,
                                 z=math.sin(yaw / 2), w=math.cos(yaw / 2)))


def path_msg(store, stamp_ns: int, frame_id: str, xy: np.ndarray, dt_s: float = 0.5):
    """nav_msgs/Path; pose k stamped ``stamp + dt_s * (k + 1)`` (the node's convention)."""
    xy = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
    poses = []
    prev = np.zeros(2)
    for k, (x, y) in enumerate(xy):
        yaw = math.atan2(y - prev[1], x - prev[0]) if np.hypot(*(xy[k] - prev)) > 1e-3 else 0.0
        prev = xy[k]
        poses.append(make(store, 'geometry_msgs/msg/PoseStamped',
                          header=header(store, stamp_ns + int(dt_s * NS * (k + 1)), frame_id),
                          pose=pose(store, x, y, yaw)))
    return make(store, 'nav_msgs/msg/Path', header=header(store, stamp_ns, frame_id),
                poses=poses)


def odometry_msg(store, stamp_ns: int, x: float, y: float, yaw: float, vx: float,
                 yaw_rate: float = 0.0, frame_id: str = 'map', child: str = 'base_link'):
    twist = make(store, 'geometry_msgs/msg/Twist',
                 linear=make(store, 'geometry_msgs/msg/Vector3', x=float(vx)),
                 angular=make(store, 'geometry_msgs/msg/Vector3', z=float(yaw_rate)))
    return make(store, 'nav_msgs/msg/Odometry', header=header(store, stamp_ns, frame_id),
                child_frame_id=child,
                pose=make(store, 'geometry_msgs/msg/PoseWithCovariance',
                          pose=pose(store, x, y, yaw)),
                twist=make(store, 'geometry_msgs/msg/TwistWithCovariance', twist=twist))


def image_msg(store, stamp_ns: int, frame_id: str, rgb: np.ndarray):
    h, w, _ = rgb.shape
    return make(store, 'sensor_msgs/msg/Image', header=header(store, stamp_ns, frame_id),
                height=h, width=w, encoding='rgb8', is_bigendian=0, step=w * 3,
                data=np.ascontiguousarray(rgb, dtype=np.uint8).reshape(-1))


def compressed_image_msg(store, stamp_ns: int, frame_id: str, rgb: np.ndarray,
                         quality: int = 90):
    import io

    from PIL import Image
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8)).save(buf, 'JPEG',
                                                                     quality=quality)
    return make(store, 'sensor_msgs/msg/CompressedImage', header=header(store, stamp_ns,
                                                                         frame_id),
                format='rgb8; jpeg compressed bgr8',
                data=np.frombuffer(buf.getvalue(), dtype=np.uint8))


def camera_info_msg(store, stamp_ns: int, frame_id: str, width: int, height: int,
                    k: np.ndarray):
    k = np.asarray(k, dtype=np.float64).reshape(3, 3)
    p = np.zeros((3, 4))
    p[:, :3] = k
    return make(store, 'sensor_msgs/msg/CameraInfo', header=header(store, stamp_ns, frame_id),
                width=int(width), height=int(height), distortion_model='plumb_bob',
                d=np.zeros(5), k=k.reshape(-1), r=np.eye(3).reshape(-1), p=p.reshape(-1))


def box_marker(store, stamp_ns: int, frame_id: str, ns: str, marker_id: int, box,
               color=(1.0, 0.5, 0.0, 0.6), height_m: float = 1.6):
    """CUBE marker from a box (x, y, yaw, length, width)."""
    x, y, yaw, length, width = (float(v) for v in box)
    return make(store, 'visualization_msgs/msg/Marker', header=header(store, stamp_ns, frame_id),
                ns=ns, id=int(marker_id), type=1, action=0,
                pose=pose(store, x, y, yaw, z=height_m / 2),
                scale=make(store, 'geometry_msgs/msg/Vector3', x=length, y=width, z=height_m),
                color=make(store, 'std_msgs/msg/ColorRGBA', r=color[0], g=color[1],
                           b=color[2], a=color[3]))


def line_marker(store, stamp_ns: int, frame_id: str, ns: str, marker_id: int, xy,
                color=(0.1, 0.8, 0.2, 1.0), width_m: float = 0.3):
    points = [make(store, 'geometry_msgs/msg/Point', x=float(x), y=float(y), z=0.2)
              for x, y in np.asarray(xy, dtype=np.float64).reshape(-1, 2)]
    return make(store, 'visualization_msgs/msg/Marker', header=header(store, stamp_ns, frame_id),
                ns=ns, id=int(marker_id), type=4, action=0, pose=pose(store, 0, 0, 0),
                scale=make(store, 'geometry_msgs/msg/Vector3', x=width_m),
                color=make(store, 'std_msgs/msg/ColorRGBA', r=color[0], g=color[1],
                           b=color[2], a=color[3]), points=points)


def marker_array(store, markers):
    return make(store, 'visualization_msgs/msg/MarkerArray', markers=list(markers))
