"""Shared node plumbing: QoS profiles, frozen-config <-> ROS parameters, latest-wins slot,
diagnostics. Parameter names equal the config dataclass field names."""
from dataclasses import MISSING, field, fields
import math
import threading
import typing
from typing import Any, Dict, Mapping, Optional, Tuple

from diagnostic_msgs.msg import DiagnosticStatus, KeyValue
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.node import Node
from rclpy.qos import (
    DurabilityPolicy,
    HistoryPolicy,
    QoSProfile,
    ReliabilityPolicy,
    qos_profile_sensor_data,
)

# Cameras: best effort keep-last 5; accepts reliable and best-effort publishers.
SENSOR_QOS = qos_profile_sensor_data
# Odometry, trajectories, commands: reliable keep-last.
RELIABLE_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=10,
                          reliability=ReliabilityPolicy.RELIABLE,
                          durability=DurabilityPolicy.VOLATILE)
# Route: latched (a late subscriber still gets the last route).
LATCHED_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1,
                         reliability=ReliabilityPolicy.RELIABLE,
                         durability=DurabilityPolicy.TRANSIENT_LOCAL)


def param(default, doc: str):
    """A config field with a ROS parameter description."""
    return field(default=default, metadata={'doc': doc})


class ParameterError(ValueError):
    """A parameter value refused at start-up; the message names the parameter and why."""


def _kind(annotation) -> Tuple[type, bool]:
    """(element type, is_sequence) of a field annotation such as float or Tuple[str, ...]."""
    if typing.get_origin(annotation) in (tuple, list):
        return typing.get_args(annotation)[0], True
    return annotation, False


def _coerce(name: str, value: Any, annotation) -> Any:
    elem, is_seq = _kind(annotation)
    if is_seq:
        if isinstance(value, (str, bytes)) or not hasattr(value, '__iter__'):
            raise ParameterError(f"parameter '{name}': expected a list, got {value!r}")
        return tuple(_coerce(name, v, elem) for v in value)
    if elem is bool:
        if not isinstance(value, bool):
            raise ParameterError(f"parameter '{name}': expected true/false, got {value!r}")
        return value
    if elem in (int, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ParameterError(f"parameter '{name}': expected a number, got {value!r}")
        if elem is int and float(value) != int(value):
            raise ParameterError(f"parameter '{name}': expected an integer, got {value!r}")
        return elem(value)
    if not isinstance(value, str):
        raise ParameterError(f"parameter '{name}': expected a string, got {value!r}")
    return value


def declare_config(node: Node, cls, prefix: str = ''):
    """Declare one read-only parameter per field of the frozen dataclass ``cls`` (defaults from
    the dataclass, overrides from YAML / CLI) and return the validated config instance.

    Raises ``ParameterError`` naming the parameter when a value has the wrong type or the
    dataclass' own validation refuses it.
    """
    values: Dict[str, Any] = {}
    hints = typing.get_type_hints(cls)
    for f in fields(cls):
        if f.default is MISSING:
            continue
        name = prefix + f.name
        doc = f.metadata.get('doc', f.name)
        descriptor = ParameterDescriptor(description=doc, read_only=True, dynamic_typing=True)
        default = list(f.default) if isinstance(f.default, tuple) else f.default
        if isinstance(default, float) and not math.isfinite(default):
            default = str(default)                      # YAML/ROS have no inf literal for us
        raw = node.declare_parameter(name, default, descriptor).value
        if isinstance(raw, str) and _kind(hints[f.name])[0] is float and raw in ('inf', '-inf'):
            raw = float(raw)
        values[f.name] = _coerce(name, raw, hints[f.name])
    try:
        return cls(**values)
    except (TypeError, ValueError) as exc:
        raise ParameterError(f'{cls.__name__}: {exc}') from exc


def config_overrides(cls, values: Mapping[str, Any]) -> Dict[str, Any]:
    """The subset of ``values`` that are fields of ``cls`` (for building configs by name)."""
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in values.items() if k in names}


class LatestSlot:
    """One-item hand-over between a producer callback and a worker thread: the latest item wins,
    an item replaced before the worker took it is dropped and counted."""

    def __init__(self):
        self._cond = threading.Condition()
        self._item = None
        self._closed = False
        self.dropped = 0

    def put(self, item) -> bool:
        """Store ``item``; True when an older, unprocessed item was dropped."""
        with self._cond:
            dropped = self._item is not None
            self.dropped += int(dropped)
            self._item = item
            self._cond.notify()
            return dropped

    def take(self, timeout_s: Optional[float] = None):
        """The latest item (None on timeout or once closed)."""
        with self._cond:
            if self._item is None and not self._closed:
                self._cond.wait(timeout_s)
            item, self._item = self._item, None
            return item

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed


def diagnostic_status(name: str, hardware_id: str, level: int, message: str,
                      values: Mapping[str, Any]) -> DiagnosticStatus:
    """DiagnosticStatus with floats printed to 4 significant digits (never 'nan' silently)."""
    def text(v):
        return f'{v:.4g}' if isinstance(v, float) else str(v)
    return DiagnosticStatus(level=bytes([level]), name=name, hardware_id=hardware_id,
                            message=message,
                            values=[KeyValue(key=k, value=text(v)) for k, v in values.items()])



def spin_main(executable: str, node_factory, args=None, spin=None,
              exit_code=lambda node: 0) -> int:
    """Console-script body of a node: init, build (exit 2 on a refused parameter), spin until
    Ctrl-C or shutdown (``spin(node)``, default ``rclpy.spin``), then close (when the node has
    ``close()``), destroy and shut down; returns ``exit_code(node)``."""
    import rclpy
    from rclpy.executors import ExternalShutdownException
    rclpy.init(args=args)
    try:
        node = node_factory()
    except ParameterError as exc:
        print(f'{executable}: refused parameter: {exc}', flush=True)
        rclpy.try_shutdown()
        return 2
    try:
        (spin or rclpy.spin)(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if hasattr(node, 'close'):
            node.close()
        node.destroy_node()
        rclpy.try_shutdown()
    return exit_code(node)
