"""Start several nodes without ``ros2 launch``: in this process (one executor) or
as child processes, with our DDS environment (loopback discovery, shared-memory profile).

    from orion_lite_ros.nodes.runner import NodeSpec, run_nodes, start_nodes

    specs = [NodeSpec('planner_node', params_files=('config/planner.yaml',),
                      remappings={'~/input/odometry': '/sim/ego/odometry'}),
             NodeSpec('controller_node', parameters={'use_sim_time': True})]
    run_nodes(specs, mode='threads')            # blocks until Ctrl-C; returns an exit code

    with start_nodes(specs, mode='processes') as group:   # non-blocking
        ...                                               # group.alive(), group.nodes
    # leaving the block stops the nodes (SIGINT, then SIGTERM/SIGKILL after a grace period)

A ``NodeSpec`` names a known executable (``KNOWN_NODES``) or gives ``module`` + ``node_class``
directly. The node class must accept ``context=`` and ``cli_args=`` keyword arguments (passed
on to ``rclpy.node.Node``) and the module must have ``main(args=None)`` and run it under
``if __name__ == '__main__'``. All per-node settings travel as ROS arguments
(``--ros-args -r __node:=NAME --params-file F -p k:=v -r from:=to``), identical in both modes.
"""
from dataclasses import dataclass, field
import importlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

import rclpy
from rclpy.executors import (
    ExternalShutdownException,
    MultiThreadedExecutor,
    SingleThreadedExecutor,
)

from orion_lite_ros.nodes.common import warn_unknown_parameters
from orion_lite_ros.ros.dds import apply_dds_environment, dds_environment

# executable -> (module, node class)
KNOWN_NODES: Dict[str, Tuple[str, str]] = {
    'planner_node': ('orion_lite_ros.nodes.planner_node', 'PlannerNode'),
    'controller_node': ('orion_lite_ros.nodes.controller_node', 'ControllerNode'),
    'bridge_node': ('orion_lite_ros.nodes.bridge_node', 'BridgeNode'),
}
MODES = ('threads', 'processes')


@dataclass(frozen=True)
class NodeSpec:
    executable: str                                  # key of KNOWN_NODES, or a label
    name: str = ''                                   # node name; '' = the executable's default
    namespace: str = ''
    params_files: Tuple[str, ...] = ()
    parameters: Mapping[str, Any] = field(default_factory=dict)   # -p name:=value (JSON/YAML)
    remappings: Mapping[str, str] = field(default_factory=dict)   # from -> to
    module: str = ''                                 # overrides KNOWN_NODES
    node_class: str = ''

    def target(self) -> Tuple[str, str]:
        if self.module:
            return self.module, self.node_class
        if self.executable not in KNOWN_NODES:
            raise ValueError(f'unknown executable {self.executable!r}; known: '
                             f'{sorted(KNOWN_NODES)} (or set module= and node_class=)')
        return KNOWN_NODES[self.executable]

    def ros_args(self) -> List[str]:
        args = ['--ros-args']
        if self.name:
            args += ['-r', f'__node:={self.name}']
        if self.namespace:
            args += ['-r', f'__ns:={self.namespace}']
        for path in self.params_files:
            args += ['--params-file', str(path)]
        for key, value in self.parameters.items():
            args += ['-p', f'{key}:={json.dumps(value)}']
        for src, dst in self.remappings.items():
            args += ['-r', f'{src}:={dst}']
        return args


class NodeGroup:
    """Running nodes; stop with ``shutdown()`` or by leaving the ``with`` block."""

    def __init__(self, mode: str):
        self.mode = mode
        self.nodes: list = []                        # threads mode
        self.processes: List[subprocess.Popen] = []  # processes mode
        self.labels: List[str] = []                  # node name per process
        self._context = None
        self._own_context = False
        self._executor = None
        self._thread: Optional[threading.Thread] = None

    def alive(self) -> bool:
        if self.mode == 'processes':
            return bool(self.processes) and all(p.poll() is None for p in self.processes)
        return self._thread is not None and self._thread.is_alive()

    def exited(self) -> List[Tuple[str, int]]:
        """(node name, return code) of every child process that has stopped."""
        return [(label, p.returncode) for label, p in zip(self.labels, self.processes)
                if p.poll() is not None]

    def wait(self, timeout_s: Optional[float] = None) -> int:
        """Block until a node stops (or timeout); the exit code of the first one to stop."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while self.alive() and (deadline is None or time.monotonic() < deadline):
            time.sleep(0.1)
        codes = [p.poll() for p in self.processes if p.poll() is not None]
        return next((c for c in codes if c), 0)

    def shutdown(self, grace_s: float = 5.0) -> None:
        if self.mode == 'processes':
            _stop_processes(self.processes, grace_s)
            return
        if self._executor is not None:
            self._executor.shutdown(timeout_sec=grace_s)
        for node in self.nodes:
            _close_node(node)
        self.nodes = []
        if self._own_context and self._context.ok():
            self._context.try_shutdown()
        if self._thread is not None:
            self._thread.join(grace_s)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.shutdown()


def describe_exit(returncode: Optional[int]) -> str:
    """How a child process ended, in words ('exit code 2 (refused parameter)', 'killed by
    SIGKILL', ...)."""
    if returncode is None:
        return 'still running'
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f'signal {-returncode}'
        return f'killed by {name}'
    meaning = {0: 'success', 1: 'error', 2: 'refused parameter / usage error'}
    return f'exit code {returncode} ({meaning.get(returncode, "error")})'


def _close_node(node) -> None:
    close = getattr(node, 'close', None)          # our nodes stop their workers here
    if callable(close):
        close()
    node.destroy_node()


def _stop_processes(processes: Sequence[subprocess.Popen], grace_s: float) -> None:
    for proc in processes:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
    deadline = time.monotonic() + grace_s
    for proc in processes:
        for sig in (None, signal.SIGTERM, signal.SIGKILL):
            if sig is not None and proc.poll() is None:
                proc.send_signal(sig)
            try:
                proc.wait(max(0.5, deadline - time.monotonic()))
                break
            except subprocess.TimeoutExpired:
                continue


def _start_threads(group: NodeGroup, specs, context, num_threads) -> None:
    group._own_context = context is None
    group._context = context or rclpy.Context()
    if group._own_context:
        rclpy.init(context=group._context)
    try:
        for spec in specs:
            module, cls = spec.target()
            node_cls = getattr(importlib.import_module(module), cls)
            node = node_cls(context=group._context, cli_args=spec.ros_args())
            warn_unknown_parameters(node)              # as spin_main does for processes
            group.nodes.append(node)
    except BaseException:
        group.shutdown()
        raise
    # One thread by default: rclpy 9.1's MultiThreadedExecutor re-queues pending callbacks
    # (ros2/rclpy#1547), which slowed the in-process lock-step loop to ~1.5 steps/s.
    group._executor = (SingleThreadedExecutor(context=group._context) if not num_threads
                       or num_threads <= 1 else
                       MultiThreadedExecutor(num_threads=num_threads, context=group._context))
    for node in group.nodes:
        group._executor.add_node(node)
    group._thread = threading.Thread(target=_spin, args=(group._executor,), daemon=True,
                                     name='orion-runner')
    group._thread.start()


def _spin(executor) -> None:
    try:
        executor.spin()
    except (ExternalShutdownException, KeyboardInterrupt):
        pass


def _start_processes(group: NodeGroup, specs, env: Mapping[str, str]) -> None:
    for spec in specs:
        module, _ = spec.target()
        cmd = [sys.executable, '-m', module] + spec.ros_args()
        group.processes.append(subprocess.Popen(cmd, env=dict(env)))
        group.labels.append(spec.name or spec.executable)


def start_nodes(specs: Sequence[NodeSpec], mode: str = 'threads', use_dds_profile: bool = True,
                domain_id: Optional[int] = None, context=None,
                num_threads: Optional[int] = None, env: Optional[Mapping[str, str]] = None
                ) -> NodeGroup:
    """Start ``specs`` and return at once.

    threads: all nodes in this process on one executor (single-threaded; a
    MultiThreadedExecutor when ``num_threads`` > 1) spun in a background thread; ``context``
    (an initialised rclpy Context) is used as is, otherwise one is created after applying the
    DDS environment to this process. processes: one child per spec
    (``python -m module``) with ``dds_environment(use_dds_profile, domain_id, base=env)``.
    """
    if mode not in MODES:
        raise ValueError(f'mode must be one of {MODES}, got {mode!r}')
    group = NodeGroup(mode)
    if mode == 'processes':
        _start_processes(group, specs, dds_environment(use_dds_profile, domain_id, base=env))
        return group
    if context is None:
        apply_dds_environment(use_dds_profile, domain_id)
    _start_threads(group, specs, context, num_threads)
    return group


def run_nodes(specs: Sequence[NodeSpec], mode: str = 'threads', use_dds_profile: bool = True,
              domain_id: Optional[int] = None, duration_s: Optional[float] = None) -> int:
    """Start ``specs`` and block until Ctrl-C / SIGTERM, a node stops, or ``duration_s``."""
    stop = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stop.set())
                for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with start_nodes(specs, mode, use_dds_profile, domain_id) as group:
            deadline = None if duration_s is None else time.monotonic() + duration_s
            while group.alive() and not stop.is_set():
                if deadline is not None and time.monotonic() > deadline:
                    break
                stop.wait(0.2)
            return group.wait(0.0)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def environment_summary() -> str:
    keys = ('ROS_DOMAIN_ID', 'ROS_AUTOMATIC_DISCOVERY_RANGE', 'RMW_IMPLEMENTATION',
            'FASTDDS_DEFAULT_PROFILES_FILE')
    return ', '.join(f'{k}={os.environ.get(k, "")}' for k in keys)
