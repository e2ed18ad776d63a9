"""controller_node: planned trajectory + odometry -> vehicle command (ORION's Bench2Drive PID).

Subscribes ``~/input/trajectory`` (nav_msgs/Path, base_link, stamp = sensor frame) and
``~/input/odometry``. Publishes ``~/output/command`` (sensor_msgs/Joy, always; axes
[throttle, steer, brake, target_speed_mps, steering_angle_rad], buttons [hand_brake, reverse])
and, when the packages are importable and enabled, CarlaEgoVehicleControl, Autoware Control and
AckermannDriveStamped. Every command answering a trajectory carries that trajectory's stamp.
Runs once per new trajectory (lock-step bridges need one answer per frame) and on a timer;
a stale trajectory or odometry gives full brake with the steering held.
"""
from dataclasses import dataclass
import math
import threading
from typing import Optional

from nav_msgs.msg import Odometry, Path
from rclpy.node import Node
from sensor_msgs.msg import Joy

from orion_lite_ros.control.bench2drive import Bench2DriveController, Bench2DriveControllerConfig
from orion_lite_ros.nodes.common import RELIABLE_QOS, declare_config, param, spin_main
from orion_lite_ros.ros.conversions import ego_state_from_odometry, path_to_array
from orion_lite_ros.ros.time import stamp_to_ns
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

    def __post_init__(self):
        if not (math.isfinite(self.rate_hz) and self.rate_hz >= 0):
            raise ValueError(f'rate_hz must be finite and >= 0, got {self.rate_hz}')
        for name in ('max_trajectory_age_s', 'max_odometry_age_s'):
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


class ControllerNode(Node):
    def __init__(self, **node_kwargs):
        super().__init__('controller_node', **node_kwargs)
        self.config = declare_config(self, ControllerNodeConfig)
        self.controller = Bench2DriveController(declare_config(self, Bench2DriveControllerConfig))
        self._lock = threading.Lock()
        self._trajectory: Optional[Path] = None
        self._odometry = None                      # EgoState
        self._last_step_ns: Optional[int] = None
        self._outputs = self._make_publishers()
        self.create_subscription(Path, '~/input/trajectory', self._on_trajectory, RELIABLE_QOS)
        self.create_subscription(Odometry, '~/input/odometry', self._on_odometry, RELIABLE_QOS)
        if self.config.rate_hz > 0:
            # Lock-step bridges (rate_hz 0) must only see answers stamped with their frame.
            self.create_timer(1.0 / self.config.rate_hz, self._on_timer)

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

    def _on_odometry(self, msg: Odometry) -> None:
        with self._lock:
            self._odometry = ego_state_from_odometry(msg)

    def _on_trajectory(self, msg: Path) -> None:
        with self._lock:
            self._trajectory = msg
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
        reason = self._stale_reason(now.nanoseconds)
        if reason:
            self.get_logger().warning(f'braking: {reason}', throttle_duration_sec=2.0)
            cmd = self.controller.safe_stop()
        else:
            dt_s = self._dt_s(now.nanoseconds)
            waypoints = path_to_array(self._trajectory)
            cmd = self.controller.step(waypoints, self._odometry.speed_mps, dt_s)
        self._last_step_ns = now.nanoseconds
        stamp = answer.header.stamp if answer is not None else now.to_msg()
        for build, pub in self._outputs:
            pub.publish(build(cmd, stamp))

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
        traj_age = _age_s(now_ns, self._trajectory.header.stamp)
        if traj_age > cfg.max_trajectory_age_s:
            return f'trajectory {traj_age:.2f} s old'
        odom_age = max(0.0, (now_ns - self._odometry.stamp_ns) * 1e-9)
        if odom_age > cfg.max_odometry_age_s:
            return f'odometry {odom_age:.2f} s old'
        return ''


def _age_s(now_ns: int, stamp) -> float:
    """Age of a header stamp on the node clock; a stamp from the future counts as fresh."""
    return max(0.0, (now_ns - stamp_to_ns(stamp)) * 1e-9)


def main(args=None) -> int:
    return spin_main('controller_node', ControllerNode, args)


if __name__ == '__main__':
    raise SystemExit(main())
