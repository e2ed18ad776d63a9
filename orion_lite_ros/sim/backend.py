"""``EmbeddedBackend``: the embedded simulator behind ``bridge.backend.DrivingBackend``."""
from pathlib import Path
import time
from typing import Iterable, List, Optional, Sequence

import numpy as np

from orion_lite_ros.bridge.backend import ControlInput, RouteSpec, SensorFrame, StepStatus
from orion_lite_ros.eval.leaderboard_criteria import failed_status
from orion_lite_ros.eval.records import RouteRecord
from orion_lite_ros.layout import CAMERA_NAMES
from orion_lite_ros.sim import cameras as cam
from orion_lite_ros.sim.config import SimConfig, config_dir
from orion_lite_ros.sim.expert import Expert, ExpertConfig
from orion_lite_ros.sim.groundtruth import GroundTruth, snapshot
from orion_lite_ros.sim.infractions import STATUS_COMPLETED, InfractionConfig, InfractionMonitor
from orion_lite_ros.sim.scenarios import FAMILIES, Scenario, build_scenario
from orion_lite_ros.types import EgoState


class EmbeddedBackend:
    """Loads a scenario per route, renders the rig, scores the drive (no ROS)."""

    def __init__(self, config: SimConfig = SimConfig()):
        self.config = config
        self.fixed_delta_s = config.fixed_delta_s
        self.scenario: Optional[Scenario] = None
        self.monitor: Optional[InfractionMonitor] = None
        self._renderer = None
        self._expert: Optional[Expert] = None
        self._size_hw = config.camera_size_hw
        self._wall_start = 0.0

    @property
    def world(self):
        return self.scenario.world

    def load_route(self, route: RouteSpec, camera_size_hw: Optional[Sequence[int]] = None
                   ) -> None:
        self._close_renderer()
        scenario = build_scenario(route.scenario, route.seed)
        if len(scenario.route.waypoints_xy) != len(route.waypoints_xy) or not np.allclose(
                scenario.route.waypoints_xy, route.waypoints_xy, atol=1e-3):
            raise ValueError(f'route {route.route_id!r} does not match scenario '
                             f'{route.scenario!r} seed {route.seed}; build it with '
                             'heldout_routes()/training_routes()/scenario_route()')
        scenario.world.dt_s = self.fixed_delta_s
        self.scenario = scenario
        self._size_hw = tuple(int(v) for v in (camera_size_hw or self.config.camera_size_hw))
        cfg = InfractionConfig(outside_lane_tolerance_m=self.config.outside_lane_tolerance_m,
                               route_deviation_m=self.config.route_deviation_m,
                               blocked_time_s=self.config.blocked_time_s)
        self.monitor = InfractionMonitor(scenario.world, route.timeout_s, cfg)
        self._expert = None
        if self.config.render:
            from orion_lite_ros.sim.render import CameraRenderer, RenderConfig
            self._renderer = CameraRenderer(scenario.world, RenderConfig(
                size_hw=self._size_hw, skybox=self.config.skybox))
        self._wall_start = time.monotonic()

    def ego_state(self) -> EgoState:
        w = self.world
        e = w.ego
        return EgoState(stamp_ns=self.sim_time_ns, x_m=e.x_m, y_m=e.y_m, z_m=0.0,
                        yaw_rad=e.yaw_rad, vx_mps=e.vx_mps, vy_mps=e.vy_mps, ax_mps2=e.ax_mps2,
                        ay_mps2=e.ay_mps2, yaw_rate_rps=e.yaw_rate_rps)

    @property
    def sim_time_ns(self) -> int:
        return int(round(self.world.time_s * 1e9))

    def sensors(self) -> SensorFrame:
        h, w = self._size_hw
        if self._renderer is not None:
            images = self._renderer.render(self.world)
        else:
            images = {name: np.zeros((h, w, 3), np.uint8) for name in CAMERA_NAMES}
        rig = cam.BENCH2DRIVE_RIG
        return SensorFrame(
            sim_time_ns=self.sim_time_ns, images=images,
            intrinsics={n: cam.intrinsics(rig[n], self._size_hw) for n in CAMERA_NAMES},
            cam_to_ego={n: cam.cam_to_ego(rig[n]) for n in CAMERA_NAMES}, ego=self.ego_state())

    def apply_and_tick(self, control: ControlInput) -> StepStatus:
        if self.monitor.done:
            return StepStatus(True, self.completion_pct(), [])
        self.world.step(control.throttle, control.steer, control.brake,
                        hand_brake=control.hand_brake, reverse=control.reverse)
        new = self.monitor.update()
        return StepStatus(self.monitor.done, self.completion_pct(), new)

    def completion_pct(self) -> float:
        return 100.0 if self.monitor.status == STATUS_COMPLETED else self.monitor.completion_pct

    def expert_control(self) -> ControlInput:
        """The privileged expert's control for the current step (reference / training data)."""
        if self._expert is None:
            self._expert = Expert(self.world, ExpertConfig(
                cruise_speed_mps=self.config.expert_cruise_speed_mps,
                green_reaction_s=self.config.expert_green_reaction_s,
                restart_reaction_s=self.config.expert_restart_reaction_s))
        return self._expert.run_step()

    def expert_reaction_hold(self) -> bool:
        """Whether the last `expert_control` held the ego at rest only for its reaction time
        (`Expert.reaction_hold`: whatever held it has cleared)."""
        return self._expert is not None and self._expert.reaction_hold

    def ground_truth(self) -> GroundTruth:
        return snapshot(self.world)

    def finish_route(self) -> RouteRecord:
        m, route = self.monitor, self.scenario.route
        m.finish()
        status = m.status or failed_status()     # stopped from outside: a plain 'Failed'
        return RouteRecord(
            route_id=route.route_id, scenario=route.scenario, abilities=route.abilities,
            route_length_m=round(self.world.tracker.length_m, 3),
            route_completion_pct=round(self.completion_pct(), 3),
            infractions=list(m.infractions), status=status,
            game_time_s=round(self.world.time_s, 3),
            system_time_s=round(time.monotonic() - self._wall_start, 3), trace=m.trace,
            meta={'backend': 'embedded', 'seed': str(route.seed),
                  'variant': route.extra.get('variant', '')})

    def _close_renderer(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None

    def close(self) -> None:
        self._close_renderer()


# ------------------------------------------------------------------------------ route sets
def scenario_route(family: str, seed: int) -> RouteSpec:
    return build_scenario(family, seed).route


def heldout_entries(path: Optional[str] = None) -> List[dict]:
    import yaml
    path = Path(path) if path else config_dir() / 'routes_heldout.yaml'
    return list(yaml.safe_load(path.read_text())['routes'])


def heldout_routes(path: Optional[str] = None) -> List[RouteSpec]:
    """The fixed held-out evaluation set (``config/routes_heldout.yaml``)."""
    return [scenario_route(e['family'], int(e['seed'])) for e in heldout_entries(path)]


EVAL_SEED_MIN = 100000


def evaluation_route(route_id: str) -> RouteSpec:
    """`<family>_<seed>` with an evaluation seed (>= 100000, never used for training) ->
    its route (the held-out file lists ten; any other evaluation seed works too)."""
    family, _, seed = route_id.rpartition('_')
    if family not in FAMILIES or not seed.isdigit() or int(seed) < EVAL_SEED_MIN:
        raise ValueError(f'unknown route id {route_id!r} (expected <family>_<seed>, family '
                         f'in {sorted(FAMILIES)}, seed >= {EVAL_SEED_MIN})')
    return scenario_route(family, int(seed))


def evaluation_routes(seeds: Iterable[int], families: Optional[Sequence[str]] = None
                      ) -> List[RouteSpec]:
    """Every family at each evaluation seed (route ids `<family>_<seed>`)."""
    return [evaluation_route(f'{family}_{int(seed)}') for seed in seeds
            for family in (families or sorted(FAMILIES))]


def training_routes(seed_range: Iterable[int], families: Optional[Sequence[str]] = None
                    ) -> List[RouteSpec]:
    """One route per (family, seed); seeds of the held-out set are refused."""
    held = {(e['family'], int(e['seed'])) for e in heldout_entries()}
    out = []
    for seed in seed_range:
        for family in families or sorted(FAMILIES):
            if (family, int(seed)) in held:
                raise ValueError(f'seed {seed} of {family} belongs to the held-out set')
            out.append(scenario_route(family, int(seed)))
    return out
