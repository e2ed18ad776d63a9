"""Drive routes on a ``DrivingBackend`` with a ``Driver`` (no ROS).

The loop per route: ``load_route`` -> [``sensors`` -> ``driver.act`` -> ``apply_and_tick``]* ->
``finish_route``. A driver is either privileged (the simulator's expert) or the ROS stack
(the bridge node publishes the frame and waits for the lock-step command). Routes already in
the ``ResultsStore`` are skipped (resume); a route interrupted by ``should_stop`` is not
recorded, so a restarted run drives it again.
"""
from dataclasses import dataclass, field
import os
from pathlib import Path
import time
from typing import Callable, Dict, List, Optional, Protocol, Sequence

import numpy as np

from orion_lite_ros.bridge.backend import (
    ControlInput,
    DrivingBackend,
    RouteSpec,
    SensorFrame,
    StepStatus,
)
from orion_lite_ros.bridge.results_store import ResultsStore
from orion_lite_ros.eval.records import RouteRecord


class Interrupted(RuntimeError):
    """The run was asked to stop in the middle of a route."""


class Driver(Protocol):
    name: str

    def start_route(self, route: RouteSpec) -> None:
        """Called after the backend loaded ``route``."""

    def act(self, frame: SensorFrame) -> ControlInput:
        """The command for this step."""

    def route_meta(self) -> Dict[str, str]:
        """Statistics of the route just driven (merged into ``RouteRecord.meta``)."""


@dataclass
class DriveLog:
    """What a route looked like, for plots: driven path and the route."""

    route_id: str
    route_xy: np.ndarray                            # (N, 2) map frame
    ego_xy: List[tuple] = field(default_factory=list)
    ego_yaw: List[float] = field(default_factory=list)
    stamps_ns: List[int] = field(default_factory=list)
    controls: List[tuple] = field(default_factory=list)   # (throttle, steer, brake)
    target_speeds: List[float] = field(default_factory=list)  # driver's desired speed or nan

    def add(self, frame: SensorFrame, control: ControlInput) -> None:
        self.ego_xy.append((frame.ego.x_m, frame.ego.y_m))
        self.ego_yaw.append(frame.ego.yaw_rad)
        self.stamps_ns.append(frame.sim_time_ns)
        self.controls.append((control.throttle, control.steer, control.brake))
        self.target_speeds.append(float(control.target_speed_mps))

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(
            path, route_xy=np.asarray(self.route_xy, dtype=np.float64),
            ego_xy=np.asarray(self.ego_xy, dtype=np.float64).reshape(-1, 2),
            ego_yaw=np.asarray(self.ego_yaw), stamps_ns=np.asarray(self.stamps_ns, np.int64),
            controls=np.asarray(self.controls, dtype=np.float64).reshape(-1, 3),
            target_speed_mps=np.asarray(self.target_speeds, dtype=np.float64))


StepHook = Callable[[RouteSpec, SensorFrame, ControlInput, StepStatus], None]


@dataclass(frozen=True)
class RunOptions:
    camera_size_hw: Optional[Sequence[int]] = None
    max_steps: Optional[int] = None          # hard cap per route (None: the backend decides)
    log_dir: Optional[Path] = None           # DriveLog per route as <route_id>.npz


def drive_route(backend: DrivingBackend, route: RouteSpec, driver: Driver,
                options: RunOptions = RunOptions(), on_step: Optional[StepHook] = None,
                should_stop: Callable[[], bool] = lambda: False) -> RouteRecord:
    """One route; raises ``Interrupted`` when ``should_stop()`` turns true mid-route."""
    backend.load_route(route, options.camera_size_hw)
    driver.start_route(route)
    log = DriveLog(route.route_id, route.waypoints_xy)
    wall0, steps = time.monotonic(), 0
    while True:
        if should_stop():
            raise Interrupted(f'stopped during route {route.route_id}')
        frame = backend.sensors()
        control = driver.act(frame)
        status = backend.apply_and_tick(control)
        log.add(frame, control)
        if on_step is not None:
            on_step(route, frame, control, status)
        steps += 1
        if status.done or (options.max_steps is not None and steps >= options.max_steps):
            break
    record = backend.finish_route()
    wall = time.monotonic() - wall0
    record.meta.update(driver.route_meta())
    record.meta.update({'driver': driver.name, 'steps': str(steps),
                        'steps_per_s': f'{steps / max(wall, 1e-9):.2f}'})
    if options.log_dir is not None:
        log.save(Path(options.log_dir) / f'{_safe(route.route_id)}.npz')
    return record


def _safe(name: str) -> str:
    return ''.join(c if c.isalnum() or c in '-_.' else '_' for c in name)


def drive_routes(backend: DrivingBackend, routes: Sequence[RouteSpec], driver: Driver,
                 store: ResultsStore, options: RunOptions = RunOptions(),
                 on_step: Optional[StepHook] = None,
                 should_stop: Callable[[], bool] = lambda: False,
                 on_route_done: Optional[Callable[[RouteRecord], None]] = None,
                 claim: Callable[[str], bool] = lambda route_id: True
                 ) -> List[RouteRecord]:
    """Every route not yet in ``store``; each result is persisted before the next route.

    `claim(route_id)` is asked just before a route starts; False: another runner drives it
    (`RouteClaims`: several runners working off one queue)."""
    done = []
    for route in routes:
        if store.is_finished(route.route_id) or not claim(route.route_id):
            continue
        record = drive_route(backend, route, driver, options, on_step, should_stop)
        store.add(record)
        done.append(record)
        if on_route_done is not None:
            on_route_done(record)
    return done


class RouteClaims:
    """A route queue shared by runners (processes): a route belongs to the first runner that
    creates its file in `directory` (O_CREAT | O_EXCL, atomic on a local file system)."""

    def __init__(self, directory):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)

    def path(self, route_id: str) -> Path:
        return self.directory / _safe(route_id)

    def __call__(self, route_id: str) -> bool:
        try:
            fd = os.open(self.path(route_id), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, 'w') as f:
            f.write(f'{os.getpid()}\n')
        return True
