"""Shared node plumbing: QoS profiles, frozen-config <-> ROS parameters, latest-wins slot,
callback guard, diagnostics, the console-script body. Parameter names equal the config
dataclass field names."""
from dataclasses import MISSING, field, fields
import difflib
import functools
import math
import os
import signal
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


def declare_config(node: Node, cls, prefix: str = '', read_only: bool = True):
    """Declare one parameter per field of the frozen dataclass ``cls`` (defaults from the
    dataclass, overrides from YAML / CLI) and return the validated config instance. Read-only
    unless ``read_only`` is False (then the node itself may still set the value in effect).

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
        descriptor = ParameterDescriptor(description=doc, read_only=read_only,
                                         dynamic_typing=True)
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


# Parameters every rclpy node has, or that ROS tools pass to every node.
_BUILTIN_PARAMETERS = ('use_sim_time', 'start_type_description_service')


def unknown_parameters(node: Node) -> Dict[str, str]:
    """Overrides given to ``node`` (YAML / -p) that it never declared: {name: hint}, the hint
    naming the closest declared parameter. rclpy ignores such names silently."""
    overrides = getattr(node, '_parameter_overrides', {}) or {}
    declared = set(node._parameters) if hasattr(node, '_parameters') else set()
    out = {}
    for name in overrides:
        if name in declared or name in _BUILTIN_PARAMETERS or name.startswith('qos_overrides.'):
            continue
        close = difflib.get_close_matches(name, sorted(declared), n=1)
        out[name] = f"did you mean '{close[0]}'?" if close else 'no such parameter'
    return out


def warn_unknown_parameters(node: Node) -> Dict[str, str]:
    """Log one warning per parameter given to the node that it does not know (a typo)."""
    unknown = unknown_parameters(node)
    for name, hint in unknown.items():
        node.get_logger().warning(f"parameter '{name}' is not a parameter of "
                                  f'{node.get_name()} and is ignored ({hint})')
    return unknown


class CallbackGuard:
    """Wraps subscription and timer callbacks: an exception is logged (throttled) and counted
    per callback name, and the node goes on with the next message."""

    def __init__(self, node: Node, on_error=None):
        self._logger = node.get_logger()
        self._lock = threading.Lock()
        self._on_error = on_error                 # called with the callback name, optional
        self.errors: Dict[str, int] = {}
        self.last_error = ''

    def wrap(self, name: str, callback):
        @functools.wraps(callback)
        def guarded(*args):
            try:
                return callback(*args)
            except Exception as exc:  # noqa: B902 - one bad message must not end the node
                self._record(name, exc)
            return None
        return guarded

    def _record(self, name: str, exc: Exception) -> None:
        text = f'{name}: {type(exc).__name__}: {exc}'
        with self._lock:
            self.errors[name] = self.errors.get(name, 0) + 1
            self.last_error = text
            count = self.errors[name]
        self._logger.error(f'callback raised (#{count}, the node goes on): {text}',
                           throttle_duration_sec=5.0)
        if self._on_error is not None:
            self._on_error(name)

    def snapshot(self) -> Tuple[Dict[str, int], str]:
        with self._lock:
            return dict(self.errors), self.last_error


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



class StopSignal:
    """SIGINT / SIGTERM set a flag instead of tearing the context down under running worker
    threads (rclpy's own handler shuts the context down at once: a worker publishing then
    raises 'publisher's context is invalid'). Restores the previous handlers on exit."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self):
        self.event = threading.Event()
        self._previous = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in self.SIGNALS:
                self._previous[sig] = signal.signal(sig, lambda *_: self.event.set())
        return self

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


EXECUTOR_ENV = 'ORION_LITE_EXECUTOR'
EXECUTOR_KINDS = ('single', 'events')
DEFAULT_EXECUTOR = 'single'


def make_executor(kind: str):
    """The executor our console-script nodes spin on: 'single' (rclpy's
    SingleThreadedExecutor) or 'events' (rclpy's experimental EventsExecutor: dispatch in
    C++, less GIL time per message). Unknown kind: ValueError; 'events' where this rclpy has
    no EventsExecutor: falls back to 'single'."""
    from rclpy.executors import SingleThreadedExecutor
    if kind not in EXECUTOR_KINDS:
        raise ValueError(f'{EXECUTOR_ENV} must be one of {EXECUTOR_KINDS}, got {kind!r}')
    if kind == 'events':
        try:
            from rclpy.experimental import EventsExecutor
        except ImportError:
            return SingleThreadedExecutor()
        return EventsExecutor()
    return SingleThreadedExecutor()


def spin_main(executable: str, node_factory, args=None, until=lambda node: False,
              exit_code=lambda node: 0) -> int:
    """Console-script body of a node: init (our own SIGINT/SIGTERM handling), build (exit 2
    with one line on a refused parameter), warn about unknown parameters, spin until a signal,
    ``until(node)`` or an external shutdown; then stop the node's threads (``close()``) while
    the context is still valid, destroy the node and shut down. Returns ``exit_code(node)``."""
    import rclpy
    from rclpy.executors import ExternalShutdownException
    from rclpy.signals import SignalHandlerOptions
    with StopSignal() as stop:
        rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
        try:
            node = node_factory()
        except ParameterError as exc:
            print(f'{executable}: refused parameter: {exc}', flush=True)
            rclpy.try_shutdown()
            return 2
        warn_unknown_parameters(node)
        executor = make_executor(os.environ.get(EXECUTOR_ENV, DEFAULT_EXECUTOR))
        executor.add_node(node)
        try:
            while rclpy.ok() and not stop.event.is_set() and not until(node):
                executor.spin_once(timeout_sec=0.1)
        except (KeyboardInterrupt, ExternalShutdownException):
            pass
        finally:
            if hasattr(node, 'close'):
                node.close()
            executor.shutdown(timeout_sec=1.0)
            node.destroy_node()
            rclpy.try_shutdown()
    return exit_code(node)
