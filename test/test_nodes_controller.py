"""controller_node over real DDS: Joy command stamps, stale braking, remapping, bad params."""
import math
import time

from nav_msgs.msg import Odometry, Path
import numpy as np
import pytest
from rclpy.executors import SingleThreadedExecutor
from sensor_msgs.msg import Joy

from orion_lite_ros.nodes.common import RELIABLE_QOS
from orion_lite_ros.nodes.runner import NodeSpec, start_nodes
from orion_lite_ros.ros.conversions import path_from_array
from orion_lite_ros.ros.time import ns_to_stamp

pytestmark = pytest.mark.ros


class Probe:
    """A test-side node: publishers, received messages, and a spin-until helper."""

    def __init__(self, context, name='probe'):
        from rclpy.node import Node
        self.node = Node(name, context=context)
        self.executor = SingleThreadedExecutor(context=context)
        self.executor.add_node(self.node)
        self.received = {}

    def listen(self, msg_type, topic, qos=RELIABLE_QOS):
        self.received[topic] = []
        self.node.create_subscription(msg_type, topic, self.received[topic].append, qos)

    def spin_until(self, predicate, timeout_s=10.0):
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.executor.spin_once(timeout_sec=0.05)
            if predicate():
                return True
        return False

    def now_ns(self):
        return self.node.get_clock().now().nanoseconds

    def close(self):
        self.executor.shutdown()
        self.node.destroy_node()


def odometry(stamp_ns, vx=2.0):
    msg = Odometry()
    msg.header.stamp = ns_to_stamp(stamp_ns)
    msg.header.frame_id, msg.child_frame_id = 'map', 'base_link'
    msg.pose.pose.orientation.w = 1.0
    msg.twist.twist.linear.x = vx
    return msg


def straight_path(stamp_ns, speed=4.0, curve=0.0):
    t = np.arange(1, 7) * 0.5
    xy = np.stack([t * speed, curve * (t * speed) ** 2], axis=1)
    return path_from_array(xy, 'base_link', stamp_ns, 0.5)


@pytest.fixture
def controller(ros_context):
    specs = [NodeSpec('controller_node', name='ctl', remappings={
        '~/input/trajectory': '/test/trajectory', '~/input/odometry': '/test/odom',
        '~/output/command': '/test/command'}, parameters={'rate_hz': 10.0})]
    group = start_nodes(specs, context=ros_context)
    probe = Probe(ros_context)
    probe.listen(Joy, '/test/command')
    pubs = {'traj': probe.node.create_publisher(Path, '/test/trajectory', RELIABLE_QOS),
            'odom': probe.node.create_publisher(Odometry, '/test/odom', RELIABLE_QOS)}
    assert probe.spin_until(lambda: all(p.get_subscription_count() for p in pubs.values()))
    yield probe, pubs
    probe.close()
    group.shutdown()


def _answers(probe, stamp):
    return [m for m in probe.received['/test/command'] if m.header.stamp == stamp]


def test_command_answers_each_trajectory_with_its_stamp(controller):
    probe, pubs = controller
    now = probe.now_ns()
    pubs['odom'].publish(odometry(now))
    probe.spin_until(lambda: False, 0.3)
    stamps = []
    for k in range(3):
        stamp_ns = now + k * 50_000_000
        pubs['traj'].publish(straight_path(stamp_ns, curve=0.05))
        stamps.append(ns_to_stamp(stamp_ns))
    assert probe.spin_until(lambda: all(_answers(probe, s) for s in stamps))
    cmd = _answers(probe, stamps[-1])[0]
    throttle, steer, brake, target, angle = cmd.axes
    assert len(cmd.axes) == 5 and list(cmd.buttons) == [0, 0]
    assert throttle > 0 and brake == 0.0 and target == pytest.approx(4.0, abs=0.5)
    assert steer < 0 and angle > 0                      # left curve: CARLA -, REP-103 +
    assert all(math.isfinite(v) for v in cmd.axes)


def test_stale_trajectory_brakes_with_steer_held(controller):
    probe, pubs = controller
    now = probe.now_ns()
    pubs['odom'].publish(odometry(now))
    probe.spin_until(lambda: False, 0.3)
    fresh = ns_to_stamp(now)
    pubs['traj'].publish(straight_path(now, curve=0.05))
    assert probe.spin_until(lambda: _answers(probe, fresh))
    steer = _answers(probe, fresh)[0].axes[1]
    old_ns = now - 5_000_000_000                        # 5 s old > max_trajectory_age_s
    pubs['traj'].publish(straight_path(old_ns))
    old = ns_to_stamp(old_ns)
    assert probe.spin_until(lambda: _answers(probe, old))
    throttle, steer_held, brake = _answers(probe, old)[0].axes[:3]
    assert (throttle, brake) == (0.0, 1.0) and steer_held == pytest.approx(steer)
    # the timer keeps braking while nothing fresh arrives
    count = len(probe.received['/test/command'])
    assert probe.spin_until(lambda: len(probe.received['/test/command']) >= count + 3, 20.0)
    assert probe.received['/test/command'][-1].axes[2] == 1.0


def test_nan_trajectory_brakes(controller):
    probe, pubs = controller
    now = probe.now_ns()
    pubs['odom'].publish(odometry(now))
    probe.spin_until(lambda: False, 0.3)
    path = straight_path(now)
    path.poses[2].pose.position.x = float('nan')
    pubs['traj'].publish(path)
    stamp = ns_to_stamp(now)
    assert probe.spin_until(lambda: _answers(probe, stamp))
    assert _answers(probe, stamp)[0].axes[2] == 1.0


def test_bad_parameter_is_refused(ros_context):
    from orion_lite_ros.nodes.common import ParameterError
    with pytest.raises(ParameterError, match='max_throttle'):
        start_nodes([NodeSpec('controller_node', parameters={'max_throttle': 2.0})],
                    context=ros_context)
    with pytest.raises(ParameterError, match="'rate_hz'"):
        start_nodes([NodeSpec('controller_node', parameters={'rate_hz': 'fast'})],
                    context=ros_context)


def test_lockstep_rate_zero_only_answers_trajectories(ros_context):
    """rate_hz 0: no timer commands, so a lock-step bridge sees only stamped answers."""
    specs = [NodeSpec('controller_node', name='ctl_lockstep', remappings={
        '~/input/trajectory': '/ls/trajectory', '~/input/odometry': '/ls/odom',
        '~/output/command': '/ls/command'}, parameters={'rate_hz': 0.0})]
    group = start_nodes(specs, context=ros_context)
    probe = Probe(ros_context)
    try:
        probe.listen(Joy, '/ls/command')
        traj = probe.node.create_publisher(Path, '/ls/trajectory', RELIABLE_QOS)
        odom = probe.node.create_publisher(Odometry, '/ls/odom', RELIABLE_QOS)
        assert probe.spin_until(lambda: traj.get_subscription_count()
                                and odom.get_subscription_count())
        now = probe.now_ns()
        odom.publish(odometry(now))
        probe.spin_until(lambda: False, 0.5)
        assert probe.received['/ls/command'] == []           # nothing without a trajectory
        stamp_ns = now + 50_000_000
        traj.publish(straight_path(stamp_ns))
        assert probe.spin_until(lambda: probe.received['/ls/command'])
        probe.spin_until(lambda: False, 0.5)
        stamps = [m.header.stamp for m in probe.received['/ls/command']]
        assert stamps == [ns_to_stamp(stamp_ns)]
    finally:
        probe.close()
        group.shutdown()


def test_unknown_parameter_names_are_reported(ros_context):
    from orion_lite_ros.nodes.common import unknown_parameters
    group = start_nodes([NodeSpec('controller_node', name='ctl_typo', parameters={
        'max_trottle': 0.5, 'rate_hz': 5.0})], context=ros_context)
    try:
        assert unknown_parameters(group.nodes[0]) == {
            'max_trottle': "did you mean 'max_throttle'?"}
    finally:
        group.shutdown()
