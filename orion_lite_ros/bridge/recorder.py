"""rosbag2 (mcap) recording with the pure-Python ``rosbags`` library (no ROS needed).

The bridge node serialises its messages to CDR (``rclpy.serialization.serialize_message``) and
hands the bytes here; this module only knows topics, type names and timestamps. The bag plays
back with ``ros2 bag play --clock`` where ROS 2 is installed and is read by our replay tool.
"""
from pathlib import Path
from typing import Dict, Optional

from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_typestore

# Writer format 8 is readable by Humble and newer.
BAG_VERSION = 8


class BagRecorder:
    """Open on construction, ``write`` CDR bytes, ``close`` (idempotent) finalises metadata."""

    def __init__(self, path, type_store: str = 'ros2_humble'):
        self.path = Path(path)
        if self.path.exists():
            raise FileExistsError(f'bag {self.path} exists; choose a new record_bag path')
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.typestore = get_typestore(Stores(type_store))
        self._writer: Optional[Writer] = Writer(self.path, version=BAG_VERSION,
                                                storage_plugin=StoragePlugin.MCAP)
        self._writer.open()
        self._connections: Dict[str, object] = {}
        self.messages = 0

    def add_topic(self, topic: str, msgtype: str) -> None:
        """``msgtype`` like 'sensor_msgs/msg/Image'."""
        if topic not in self._connections:
            self._connections[topic] = self._writer.add_connection(
                topic, msgtype, typestore=self.typestore)

    def write(self, topic: str, stamp_ns: int, cdr: bytes) -> None:
        if self._writer is None:
            raise RuntimeError(f'bag {self.path} is closed')
        self._writer.write(self._connections[topic], int(stamp_ns), bytes(cdr))
        self.messages += 1

    def close(self) -> None:
        if self._writer is not None:
            writer, self._writer = self._writer, None
            writer.close()
