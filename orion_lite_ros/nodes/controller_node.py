"""controller_node: planned trajectory + odometry -> vehicle command (ORION's Bench2Drive PID).

Subscribes ``~/input/trajectory`` (nav_msgs/Path, base_link, stamp = sensor frame) and
``~/input/odometry``. Publishes ``~/output/command`` (sensor_msgs/Joy, always; axes
[throttle, steer, brake, target_speed_mps, steering_angle_rad], buttons [hand_brake, reverse])
and, when the packages are importable and enabled, CarlaEgoVehicleControl, Autoware Control and
AckermannDriveStamped. Every command answering a trajectory carries that trajectory's stamp.
Runs once per new trajectory (lock-step bridges need one answer per frame) and on a timer;
a stale trajectory or odometry gives full brake with the steering held. Staleness counts from
the later of the header stamp and the arrival on the node clock, so silence brakes within
``max_*_age_s`` (the watchdog) whatever the stamps said. Inputs stamped more than
``future_tolerance_s`` ahead of the node clock, and odometry that is not finite or has a zero
quaternion, are refused and counted. A callback that raises is logged and counted; the node
goes on. ``/diagnostics``: state (driving | braking: reason) and the counts.
"""
from dataclasses import dataclass, field
import math
import re
import threading
from typing import Dict, Optional

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from nav_msgs.msg import Odometry, Path
from rclpy.node import Node
from sensor_msgs.msg import Joy

from orion_lite_ros.control.bench2drive import Bench2DriveController, Bench2DriveControllerConfig
from orion_lite_ros.nodes.common import (
    RELIABLE_QOS,
    CallbackGuard,
    declare_config,
    diagnostic_status,
    param,
    spin_main,
)
from orion_lite_ros.ros.conversions import path_to_array
from orion_lite_ros.ros.time import ns_to_stamp, stamp_to_ns
from orion_lite_ros.ros.validation import InputError, check_not_future, checked_odometry
from orion_lite_ros.types import VehicleCommand

try:
    from carla_msgs.msg import CarlaEgoVehicleControl
except ImportError:
    CarlaEgoVehicleControl = None
try:
    from autoware_control_msgs.msg import Control as AutowareControl
except ImportError:
    AutowareControl = None
try:
    from ackermann_msgs.msg import AckermannDriveStamped
except ImportError:
    AckermannDriveStamped = None


@dataclass(frozen=True)
class ControllerNodeConfig:
    rate_hz: float = param(20.0, 'control timer rate (Hz); new trajectories also trigger a '
                                 'step; 0 = lock-step: answer trajectories only')
    max_trajectory_age_s: float = param(1.0, 'older trajectory (node clock - stamp) -> brake')
    max_odometry_age_s: float = param(0.5, 'older odometry -> brake')
    trajectory_frame_id: str = param('base_link', 'expected trajectory frame ("" = any)')
    publish_carla: bool = param(True, 'CarlaEgoVehicleControl when carla_msgs is importable')
    publish_autoware: bool = param(True, 'autoware_control_msgs/Control when importable')
    publish_ackermann: bool = param(True, 'AckermannDriveStamped when importable')
    future_tolerance_s: float = param(0.5, 'inputs stamped further ahead of the node clock '
                                           'are refused (s)')
    diagnostics_period_s: float = param(1.0, 'diagnostics publication period (s)')

    def __post_init__(self):
        if not (math.isfinite(self.rate_hz) and self.rate_hz >= 0):
            raise ValueError(f'rate_hz must be finite and >= 0, got {self.rate_hz}')
        for name in ('max_trajectory_age_s', 'max_odometry_age_s', 'future_tolerance_s',
                     'diagnostics_period_s'):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f'{name} must be finite and > 0, got {value}')


def joy_from_command(cmd: VehicleCommand, stamp, frame_id: str = 'base_link') -> Joy:
    msg = Joy()
    msg.header.stamp = stamp
    msg.header.frame_id = frame_id
    msg.axes = [float(cmd.throttle), float(cmd.steer), float(cmd.brake),
                float(cmd.target_speed_mps), float(cmd.steering_angle_rad)]
    msg.buttons = [0, 0]
    return msg


def carla_from_command(cmd: VehicleCommand, stamp):
    msg = CarlaEgoVehicleControl()
    msg.header.stamp = stamp
    msg.throttle, msg.steer, msg.brake = float(cmd.throttle), float(cmd.steer), float(cmd.brake)
    msg.hand_brake, msg.reverse, msg.manual_gear_shift = False, False, False
    return msg


def autoware_from_command(cmd: VehicleCommand, stamp):
    msg = AutowareControl()
    msg.stamp = stamp
    msg.lateral.stamp = stamp
    msg.lateral.steering_tire_angle = float(cmd.steering_angle_rad)
    msg.longitudinal.stamp = stamp
    msg.longitudinal.velocity = float(cmd.target_speed_mps)
    msg.longitudinal.acceleration = float(cmd.acceleration_mps2)
    msg.longitudinal.is_defined_acceleration = True
    return msg


def ackermann_from_command(cmd: VehicleCommand, stamp):
    msg = AckermannDriveStamped()
    msg.header.stamp = stamp
    msg.header.frame_id = 'base_link'
    msg.drive.steering_angle = float(cmd.steering_angle_rad)
    msg.drive.speed = float(cmd.target_speed_mps)
    msg.drive.acceleration = float(cmd.acceleration_mps2)
    return msg


FAULT_WINDOW_NS = 5_000_000_000     # WARN while refusals / callback errors are this recent


@dataclass
class ControllerStats:
    commands: int = 0
    braking: int = 0
    refused: Dict[str, int] = field(default_factory=dict)     # why -> count
    state: str = 'starting'
    last_refusal: str = ''
    last_fault_ns: int = -(1 << 62)               # refusal or callback error, node clock


class ControllerNode(Node):
    def __init__(self, **node_kwargs):
        super().__init__('controller_node', **node_kwargs)
        self.config = declare_config(self, ControllerNodeConfig)
        self.controller = Bench2DriveController(declare_config(self, Bench2DriveControllerConfig))
        self.stats = ControllerStats()
        self.guard = CallbackGuard(self, on_error=self._on_callback_error)
        self._lock = threading.Lock()
        self._trajectory: Optional[Path] = None
        self._trajectory_rx_ns = 0                 # arrival on the node clock
        self._odometry = None                      # EgoState
        self._odometry_rx_ns = 0
        self._last_step_ns: Optional[int] = None
        self._outputs = self._make_publishers()
        self.pub_diag = self.create_publisher(DiagnosticArray, '/diagnostics', RELIABLE_QOS)
        self.create_subscription(Path, '~/input/trajectory',
                                 self.guard.wrap('trajectory', self._on_trajectory), RELIABLE_QOS)
        self.create_subscription(Odometry, '~/input/odometry',
                                 self.guard.wrap('odometry', self._on_odometry), RELIABLE_QOS)
        if self.config.rate_hz > 0:
            # Lock-step bridges (rate_hz 0) must only see answers stamped with their frame.
            self.create_timer(1.0 / self.config.rate_hz, self.guard.wrap('timer', self._on_timer))
        self.create_timer(self.config.diagnostics_period_s,
                          self.guard.wrap('diagnostics', self._publish_diagnostics))
        self.topics = {name: self.resolve_topic_name(f'~/input/{name}')
                       for name in ('trajectory', 'odometry')}

    def _make_publishers(self):
        cfg = self.config
        pubs = [(joy_from_command, self.create_publisher(Joy, '~/output/command', RELIABLE_QOS))]
        optional = ((CarlaEgoVehicleControl, cfg.publish_carla, carla_from_command,
                     '~/output/carla_control'),
                    (AutowareControl, cfg.publish_autoware, autoware_from_command,
                     '~/output/autoware_control'),
                    (AckermannDriveStamped, cfg.publish_ackermann, ackermann_from_command,
                     '~/output/ackermann'))
        for msg_type, enabled, build, topic in optional:
            if msg_type is not None and enabled:
                pubs.append((build, self.create_publisher(msg_type, topic, RELIABLE_QOS)))
        return pubs

    def _on_callback_error(self, name: str) -> None:
        self.stats.last_fault_ns = self.get_clock().now().nanoseconds

    def _refuse(self, why: str, text: str) -> None:
        """Count (under the lock) and log a refused input, throttled."""
        self.stats.refused[why] = self.stats.refused.get(why, 0) + 1
        self.stats.last_refusal = text
        self.stats.last_fault_ns = self.get_clock().now().nanoseconds
        self.get_logger().warning(f'refused: {text}', throttle_duration_sec=2.0)

    def _on_odometry(self, msg: Odometry) -> None:
        now_ns = self.get_clock().now().nanoseconds
        with self._lock:
            try:
                check_not_future('odometry', stamp_to_ns(msg.header.stamp), now_ns,
                                 self.config.future_tolerance_s)
                ego = checked_odometry(msg)
            except InputError as exc:
                self._refuse('odometry', str(exc))
                return
            self._odometry, self._odometry_rx_ns = ego, now_ns

    def _on_trajectory(self, msg: Path) -> None:
        now_ns = self.get_clock().now().nanoseconds
        with self._lock:
            try:
                check_not_future('trajectory', stamp_to_ns(msg.header.stamp), now_ns,
                                 self.config.future_tolerance_s)
            except InputError as exc:
                self._refuse('trajectory', str(exc))
                return
            self._trajectory, self._trajectory_rx_ns = msg, now_ns
            self._step(answer=msg)

    def _on_timer(self) -> None:
        with self._lock:
            now = self.get_clock().now().nanoseconds
            period_ns = 1e9 / self.config.rate_hz
            if self._last_step_ns is not None and 0 <= now - self._last_step_ns < 0.5 * period_ns:
                return                            # a trajectory just triggered a step
            self._step(answer=None)

    def _step(self, answer: Optional[Path]) -> None:
        """Compute and publish one command; stamp = ``answer``'s stamp, else the clock."""
        now = self.get_clock().now()
        self._check_clock(now.nanoseconds)
        reason = self._stale_reason(now.nanoseconds)
        if reason:
            if _kind(reason) != _kind(self.stats.state[len('braking: '):]):
                self.get_logger().info(f'braking: {reason}')    # once per kind of reason
            self.stats.state = f'braking: {reason}'
            self.stats.braking += 1
            cmd = self.controller.safe_stop()
        else:
            if self.stats.state != 'driving':
                self.get_logger().info('driving')
            self.stats.state = 'driving'
            dt_s = self._dt_s(now.nanoseconds)
            waypoints = path_to_array(self._trajectory)
            cmd = self.controller.step(waypoints, self._odometry.speed_mps, dt_s)
        self.stats.commands += 1
        self._last_step_ns = now.nanoseconds
        stamp = answer.header.stamp if answer is not None else now.to_msg()
        for build, pub in self._outputs:
            pub.publish(build(cmd, stamp))

    def _check_clock(self, now_ns: int) -> None:
        """The node clock went backwards (sim reset, bag loop): inputs received 'later' than
        now are from another timeline; drop them and restart the PIDs (logged once)."""
        if self._last_step_ns is None or now_ns >= self._last_step_ns:
            return
        back_s = (self._last_step_ns - now_ns) * 1e-9
        self.get_logger().warning(f'clock jumped back {back_s:.3g} s: inputs dropped, '
                                  'controller reset')
        if self._trajectory_rx_ns > now_ns:
            self._trajectory = None
        if self._odometry_rx_ns > now_ns:
            self._odometry = None
        self.controller.reset()
        self.stats.refused['clock_jump'] = self.stats.refused.get('clock_jump', 0) + 1
        self._last_step_ns = None

    def _dt_s(self, now_ns: int) -> float:
        if self._last_step_ns is None:
            return self.controller.config.tick_s
        return max(0.0, (now_ns - self._last_step_ns) * 1e-9)

    def _stale_reason(self, now_ns: int) -> str:
        cfg = self.config
        if self._trajectory is None:
            return 'no trajectory yet'
        if self._odometry is None:
            return 'no odometry yet'
        frame = self._trajectory.header.frame_id
        if cfg.trajectory_frame_id and frame != cfg.trajectory_frame_id:
            return f'trajectory frame {frame!r} != {cfg.trajectory_frame_id!r}'
        traj_age = input_age_s(now_ns, stamp_to_ns(self._trajectory.header.stamp),
                               self._trajectory_rx_ns)
        if traj_age > cfg.max_trajectory_age_s:
            return f'trajectory {traj_age:.2f} s old'
        odom_age = input_age_s(now_ns, self._odometry.stamp_ns, self._odometry_rx_ns)
        if odom_age > cfg.max_odometry_age_s:
            return f'odometry {odom_age:.2f} s old'
        return ''

    def _publish_diagnostics(self) -> None:
        now_ns = self.get_clock().now().nanoseconds
        errors, last_error = self.guard.snapshot()
        with self._lock:
            st = self.stats
            values = {'state': st.state, 'commands': st.commands, 'braking_commands': st.braking,
                      'last_refusal': st.last_refusal, 'callback_errors': sum(errors.values()),
                      'last_callback_error': last_error}
            values.update({f'refused {self.topics.get(k, k)}': n for k, n in st.refused.items()})
            driving = st.state == 'driving'
            recent_fault = now_ns - st.last_fault_ns < FAULT_WINDOW_NS
        level = DiagnosticStatus.OK if driving and not recent_fault else DiagnosticStatus.WARN
        msg = DiagnosticArray()
        msg.header.stamp = ns_to_stamp(max(now_ns, 0))
        msg.status = [diagnostic_status(f'{self.get_name()}: control', 'orion_lite',
                                        int.from_bytes(level, 'little'), values['state'],
                                        values)]
        self.pub_diag.publish(msg)


def _kind(reason: str) -> str:
    """A reason without its numbers ('trajectory 1.2 s old' -> 'trajectory  s old')."""
    return re.sub(r'[-+0-9.e]+(?= s)', '', reason)


def input_age_s(now_ns: int, stamp_ns: int, received_ns: int) -> float:
    """Age of an input on the node clock: from the earlier of its stamp and its arrival, so a
    stamp from the (tolerated) future still ages from when it arrived."""
    return (int(now_ns) - min(int(stamp_ns), int(received_ns))) * 1e-9


def main(args=None) -> int:
    return spin_main('controller_node', ControllerNode, args)


if __name__ == '__main__':
    raise SystemExit(main())
