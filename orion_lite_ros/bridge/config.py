"""Bridge node configuration (ROS parameter names = field names; config/bridge.yaml)."""
from dataclasses import dataclass, field
from typing import Tuple

from orion_lite_ros.layout import SIM_FIXED_DELTA_S

BACKENDS = ('embedded', 'carla')
DRIVERS = ('stack', 'expert', 'teacher')


def _p(default, doc: str):
    return field(default=default, metadata={'doc': doc})


@dataclass(frozen=True)
class BridgeConfig:
    backend: str = _p('embedded', 'simulator: embedded | carla')
    driver: str = _p('stack', 'stack: ROS command topic (lock-step) | expert: privileged '
                     'simulator expert | teacher: privileged teacher (teacher_checkpoint) '
                     'with the Bench2Drive controller; expert and teacher: embedded only, '
                     'no ROS stack needed')
    teacher_checkpoint: str = _p('', 'driver teacher: orion-lite-teacher checkpoint directory')
    routes: Tuple[str, ...] = _p(('',), "route ids to drive; [''] = every held-out route")
    num_routes: int = _p(0, 'drive at most this many routes (0 = all)')
    route_file: str = _p('', 'CARLA leaderboard / Bench2Drive route XML (backend carla)')
    fixed_delta_s: float = _p(SIM_FIXED_DELTA_S, 'simulation step (s)')
    camera_height: int = _p(0, 'image height (px); 0 = backend default')
    camera_width: int = _p(0, 'image width (px); 0 = backend default')
    stack_cameras: bool = _p(True, 'driver stack: render and publish the cameras; false for '
                                   'stacks that plan without images (the baseline planners): '
                                   'odometry, clock and route only, no rendering')
    command_timeout_s: float = _p(5.0, 'lock-step: wait this long for the command (s)')
    first_command_timeout_s: float = _p(60.0, 'first step of a route (model warm-up) (s)')
    resend_first_frame_s: float = _p(2.0, 'first step: re-send the frame this often (s)')
    on_missing_command: str = _p('brake', 'missing / late command: reuse_last | brake')
    wait_for_stack_s: float = _p(60.0, 'wait for the stack (command publisher, camera and '
                                 'odometry subscribers) before driving (s)')
    max_steps_per_route: int = _p(0, 'stop a route after this many steps (0 = no cap)')
    output_dir: str = _p('out/bridge', 'results.json, drive logs and frames go here')
    run_key: str = _p('', "results of another run_key are not resumed ('' = driver name)")
    resume: bool = _p(True, 'skip routes already in the results file')
    route_claims_dir: str = _p('', 'bridges sharing one route list: each route is driven by '
                                   'the bridge that claims it first (a file per route in '
                                   "this directory); '' = drive every route")
    record_bag: str = _p('', 'rosbag2 (mcap) output directory; empty = no recording')
    record_every_n: int = _p(1, 'record every n-th step')
    save_frames_every_n: int = _p(0, 'save the front camera every n steps as PNG (0 = off)')
    progress_every_n: int = _p(20, 'write <output_dir>/progress.json (route, step, '
                                   'completion) every n steps (0 = off)')
    video_every_n: int = _p(0, "a video per route (front camera + plan, bird's-eye view), "
                               'one frame every n steps (0 = off)')
    plan_topic: str = _p('/planning/orion/trajectory', "the planner's trajectory (Path, ego "
                                          'frame), drawn into the videos')
    exit_when_done: bool = _p(True, 'shut the node down after the last route')
    carla_host: str = _p('localhost', 'CARLA server host')
    carla_port: int = _p(2000, 'CARLA RPC port')
    carla_timeout_s: float = _p(10.0, 'CARLA client timeout (s)')
    carla_tm_port: int = _p(8000, 'CARLA traffic manager port')
    carla_num_background_vehicles: int = _p(0, 'CARLA autopilot traffic')

    def __post_init__(self):
        if self.backend not in BACKENDS:
            raise ValueError(f'backend must be one of {BACKENDS}, got {self.backend!r}')
        if self.driver not in DRIVERS:
            raise ValueError(f'driver must be one of {DRIVERS}, got {self.driver!r}')
        if self.driver in ('expert', 'teacher') and self.backend != 'embedded':
            raise ValueError(f'driver {self.driver} needs the embedded backend (privileged '
                             'state)')
        if self.driver == 'teacher' and not self.teacher_checkpoint:
            raise ValueError('driver teacher needs teacher_checkpoint')
        if self.on_missing_command not in ('reuse_last', 'brake'):
            raise ValueError(f'on_missing_command must be reuse_last or brake, '
                             f'got {self.on_missing_command!r}')
        for name in ('fixed_delta_s', 'command_timeout_s', 'first_command_timeout_s',
                     'resend_first_frame_s'):
            if not getattr(self, name) > 0:
                raise ValueError(f'{name} must be > 0')

    @property
    def route_ids(self) -> Tuple[str, ...]:
        return tuple(r for r in self.routes if r)

    @property
    def camera_size_hw(self):
        if self.camera_height > 0 and self.camera_width > 0:
            return (self.camera_height, self.camera_width)
        return None

    @property
    def effective_run_key(self) -> str:
        return self.run_key or f'{self.backend}/{self.driver}'
