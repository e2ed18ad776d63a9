"""Which bag topics are the cameras, odometry, route and objects (no ROS).

A topic map is a YAML file (``config/topic_maps/<name>.yaml``)::

    name: autoware
    cameras:                      # layout.CAMERA_NAMES -> topic (Image or CompressedImage)
      CAM_FRONT: /sensing/camera/camera0/image_raw
    camera_info: {}               # optional, same keys -> sensor_msgs/CameraInfo topic
    odometry: /localization/kinematic_state     # nav_msgs/Odometry (required)
    route: /planning/mission_planning/route     # nav_msgs/Path; '' or another type -> the
                                                # route is the recorded drive itself
    objects: ''                                 # visualization_msgs/MarkerArray boxes
    acceleration: ''                            # geometry_msgs/AccelWithCovarianceStamped

Fields left out keep the defaults of ``TopicMap`` (our own bags: the bridge's ``/sim/...``
names). A camera topic missing from the bag is also looked up as ``<topic>/compressed``
(image_transport's name for the compressed stream).
"""
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Dict, Mapping, Union

import yaml

from orion_lite_ros.layout import CAMERA_NAMES

TOPIC_MAP_DIR = Path(__file__).resolve().parents[2] / 'config' / 'topic_maps'


def _sim_cameras() -> Dict[str, str]:
    return {cam: f'/sim/camera/{cam}/image' for cam in CAMERA_NAMES}


def _sim_camera_infos() -> Dict[str, str]:
    return {cam: f'/sim/camera/{cam}/camera_info' for cam in CAMERA_NAMES}


@dataclass(frozen=True)
class TopicMap:
    name: str = 'sim'
    cameras: Mapping[str, str] = field(default_factory=_sim_cameras)
    camera_info: Mapping[str, str] = field(default_factory=_sim_camera_infos)
    odometry: str = '/sim/ego/odometry'
    route: str = '/sim/route'
    objects: str = '/sim/objects'
    acceleration: str = ''

    def __post_init__(self):
        unknown = sorted(set(self.cameras) - set(CAMERA_NAMES))
        unknown += sorted(set(self.camera_info) - set(CAMERA_NAMES))
        if unknown:
            raise ValueError(f'topic map {self.name!r}: unknown camera names {unknown}; '
                             f'expected a subset of {list(CAMERA_NAMES)}')
        if not self.odometry:
            raise ValueError(f'topic map {self.name!r}: odometry topic is required')

    @staticmethod
    def from_dict(data: Mapping) -> 'TopicMap':
        names = {f.name for f in fields(TopicMap)}
        extra = sorted(set(data) - names)
        if extra:
            raise ValueError(f'unknown topic map keys {extra}; known: {sorted(names)}')
        clean = {k: ({} if v is None else dict(v)) if k in ('cameras', 'camera_info')
                 else ('' if v is None else str(v)) for k, v in data.items()}
        return replace(TopicMap(), **clean)

    def to_dict(self) -> dict:
        return {'name': self.name, 'cameras': dict(self.cameras),
                'camera_info': dict(self.camera_info), 'odometry': self.odometry,
                'route': self.route, 'objects': self.objects,
                'acceleration': self.acceleration}


def _topic_map_dir() -> Path:
    """config/topic_maps: source tree first, then the ament share directory."""
    if TOPIC_MAP_DIR.is_dir():
        return TOPIC_MAP_DIR
    try:
        from ament_index_python.packages import get_package_share_directory
        return Path(get_package_share_directory('orion_lite_ros')) / 'config' / 'topic_maps'
    except Exception:   # noqa: BLE001 - not installed with ament: no built-in maps
        return TOPIC_MAP_DIR


def builtin_topic_maps() -> Dict[str, Path]:
    return {p.stem: p for p in sorted(_topic_map_dir().glob('*.yaml'))}


def load_topic_map(spec: Union[str, Path, None] = None) -> TopicMap:
    """A topic map from a YAML path or a built-in name (``sim``, ``autoware``, ``carla``);
    ``None`` -> the defaults (our own bags)."""
    if spec is None:
        return TopicMap()
    path = Path(spec)
    if not path.suffix and not path.exists():
        known = builtin_topic_maps()
        if str(spec) not in known:
            raise ValueError(f'unknown topic map {spec!r}; built-in: {sorted(known)} '
                             'or a path to a YAML file')
        path = known[str(spec)]
    with open(path, encoding='utf-8') as f:
        data = yaml.safe_load(f) or {}
    if not isinstance(data, dict):
        raise ValueError(f'{path}: a topic map is a YAML mapping')
    data.setdefault('name', path.stem)
    return TopicMap.from_dict(data)
