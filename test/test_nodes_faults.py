"""Faults a vehicle meets, over real DDS: the car stops, the node goes on (controller_node).

Future stamps refused and counted, silence brakes within the watchdog, a raising callback is
logged and counted, waypoints at 1e30 and broken odometry brake with finite outputs."""
import math

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from nav_msgs.msg import Odometry, Path
import numpy as np
import pytest
from sensor_msgs.msg import Joy
from test_nodes_controller import Probe, odometry, straight_path

from orion_lite_ros.nodes.common import RELIABLE_QOS
from orion_lite_ros.nodes.runner import NodeSpec, start_nodes
from orion_lite_ros.ros.conversions import path_from_array
from orion_lite_ros.ros.time import ns_to_stamp

pytestmark = pytest.mark.ros
HOUR_NS = 3600 * 10**9


@pytest.fixture
def chain(ros_context):
    specs = [NodeSpec('controller_node', name='ctl_faults', remappings={
        '~/input/trajectory': '/f/trajectory', '~/input/odometry': '/f/odom',
        '~/output/command': '/f/command'}, parameters={
            'rate_hz': 20.0, 'diagnostics_period_s': 0.2, 'max_trajectory_age_s': 0.5,
            'max_odometry_age_s': 0.5})]
    group = start_nodes(specs, context=ros_context)
    probe = Probe(ros_context, 'fault_probe')
    probe.listen(Joy, '/f/command')
    probe.listen(DiagnosticArray, '/diagnostics')
    probe.traj = probe.node.create_publisher(Path, '/f/trajectory', RELIABLE_QOS)
    probe.odom = probe.node.create_publisher(Odometry, '/f/odom', RELIABLE_QOS)
    assert probe.spin_until(lambda: probe.traj.get_subscription_count()
                            and probe.odom.get_subscription_count())
    probe.group = group
    yield probe
    probe.close()
    group.shutdown()


def _last(probe):
    return probe.received['/f/command'][-1].axes


def _diag(probe):
    msgs = [m for m in probe.received['/diagnostics']
            if m.status and m.status[0].name.startswith('ctl_faults')]
    return {kv.key: kv.value for kv in msgs[-1].status[0].values} if msgs else {}


def _level(probe):
    msgs = [m for m in probe.received['/diagnostics']
            if m.status and m.status[0].name.startswith('ctl_faults')]
    return msgs[-1].status[0].level if msgs else None


def _drive(probe, offset_ns=0, steps=10):
    """Fresh odometry + trajectory at 20 Hz for ``steps`` steps; True once it throttles."""
    for _ in range(steps):
        stamp = probe.now_ns() + offset_ns
        probe.odom.publish(odometry(stamp, vx=1.0))
        probe.traj.publish(straight_path(stamp))
        probe.spin_until(lambda: False, 0.05)
    return probe.spin_until(lambda: _last(probe)[0] > 0.0, 15.0)


def _brakes_within(probe, timeout_s):
    return probe.spin_until(lambda: probe.received['/f/command']
                            and _last(probe)[2] == 1.0 and _last(probe)[0] == 0.0, timeout_s)


@pytest.mark.parametrize('offset_ns', [HOUR_NS, 24 * HOUR_NS])
def test_future_stamps_refused_counted_and_silence_brakes(chain, offset_ns):
    probe = chain
    _drive(probe, offset_ns, steps=10)
    assert _brakes_within(probe, 2.0)
    assert all(m.axes[0] == 0.0 for m in probe.received['/f/command'])    # never throttled
    assert probe.spin_until(lambda: int(_diag(probe).get('refused /f/trajectory', 0)) >= 5
                            and int(_diag(probe).get('refused /f/odom', 0)) >= 5, 20.0)
    assert 'ahead of the node clock' in _diag(probe)['last_refusal']
    # fresh inputs drive again; stopping them brakes within the watchdog (0.5 s + a timer tick)
    assert _drive(probe)
    import time
    t0 = time.monotonic()
    assert _brakes_within(probe, 2.0)
    print(f'\nsilence -> brake after {time.monotonic() - t0:.2f} s (watchdog 0.5 s)')
    assert time.monotonic() - t0 < 1.0


def test_tolerated_future_stamp_still_ages_from_arrival(chain):
    probe = chain
    assert _drive(probe, offset_ns=300_000_000)        # +0.3 s: within future_tolerance_s
    import time
    t0 = time.monotonic()
    assert _brakes_within(probe, 2.0)
    assert time.monotonic() - t0 < 1.0                 # not 0.5 + 0.3 s stamp-based


def test_raising_callback_is_counted_and_the_node_goes_on(chain):
    probe = chain
    node = probe.group.nodes[0]
    original = node.controller.step

    def boom(*args):
        raise RuntimeError('injected fault')
    node.controller.step = boom
    stamp = probe.now_ns()
    probe.odom.publish(odometry(stamp))
    probe.spin_until(lambda: False, 0.1)
    probe.traj.publish(straight_path(stamp))
    assert probe.spin_until(lambda: int(_diag(probe).get('callback_errors', 0)) >= 1, 20.0)
    assert 'injected fault' in _diag(probe)['last_callback_error']
    node.controller.step = original
    assert _drive(probe)                                # same node, still answering
    assert probe.group.alive()


def test_huge_waypoints_brake_with_finite_outputs(chain):
    probe = chain
    assert _drive(probe)
    stamp = probe.now_ns()
    probe.odom.publish(odometry(stamp))
    probe.traj.publish(path_from_array(np.full((6, 2), 1e30), 'base_link', stamp, 0.5))
    answers = lambda: [m for m in probe.received['/f/command']  # noqa: E731
                       if m.header.stamp == ns_to_stamp(stamp)]
    assert probe.spin_until(answers, 20.0)
    axes = answers()[0].axes
    assert all(math.isfinite(v) for v in axes)
    assert (axes[0], axes[2], axes[3]) == (0.0, 1.0, 0.0)


@pytest.mark.parametrize('fault', ['nan_position', 'zero_quaternion'])
def test_broken_odometry_is_refused_and_brakes(chain, fault):
    probe = chain
    assert _drive(probe)
    for _ in range(12):
        stamp = probe.now_ns()
        odom = odometry(stamp)
        if fault == 'nan_position':
            odom.pose.pose.position.x = float('nan')
        else:
            odom.pose.pose.orientation.w = 0.0
        probe.odom.publish(odom)
        probe.traj.publish(straight_path(stamp))
        probe.spin_until(lambda: False, 0.05)
    assert _brakes_within(probe, 2.0)                  # odometry goes stale: refused ones
    assert probe.spin_until(lambda: int(_diag(probe).get('refused /f/odom', 0)) >= 10, 20.0)
    assert _drive(probe)                                 # driving again, refusals recent: WARN
    assert probe.spin_until(lambda: _diag(probe).get('state') == 'driving', 20.0)
    assert _level(probe) == DiagnosticStatus.WARN
    assert all(math.isfinite(v) for m in probe.received['/f/command'] for v in m.axes)


def test_sim_clock_jump_back_then_silence_brakes(ros_context):
    """use_sim_time: after /clock jumps from 100 s back to 10 s (a simulator reset), inputs
    received 'at 100 s' must not count as fresh for 90 s: silence brakes."""
    from rosgraph_msgs.msg import Clock
    specs = [NodeSpec('controller_node', name='ctl_clock', remappings={
        '~/input/trajectory': '/fc/trajectory', '~/input/odometry': '/fc/odom',
        '~/output/command': '/fc/command'}, parameters={
            'rate_hz': 20.0, 'use_sim_time': True, 'max_trajectory_age_s': 0.5})]
    group = start_nodes(specs, context=ros_context)
    probe = Probe(ros_context, 'fc_probe')
    try:
        probe.listen(Joy, '/fc/command')
        clock = probe.node.create_publisher(Clock, '/clock', 10)
        traj = probe.node.create_publisher(Path, '/fc/trajectory', RELIABLE_QOS)
        odom = probe.node.create_publisher(Odometry, '/fc/odom', RELIABLE_QOS)
        assert probe.spin_until(lambda: traj.get_subscription_count()
                                and odom.get_subscription_count()
                                and clock.get_subscription_count())
        t_ns = 100 * 10**9

        def tick(with_inputs):
            clock.publish(Clock(clock=ns_to_stamp(t_ns)))
            if with_inputs:
                odom.publish(odometry(t_ns, vx=1.0))
                traj.publish(straight_path(t_ns))
            probe.spin_until(lambda: False, 0.05)
        for _ in range(20):
            tick(True)
            t_ns += 50_000_000
        assert probe.spin_until(lambda: probe.received['/fc/command']
                                and probe.received['/fc/command'][-1].axes[0] > 0.0, 2.0)
        t_ns = 10 * 10**9                                   # reset: back by ~91 s
        for _ in range(30):                                 # 1.5 s of sim time, no inputs
            tick(False)
            t_ns += 50_000_000
        last = probe.received['/fc/command'][-1].axes
        assert (last[0], last[2]) == (0.0, 1.0), last
    finally:
        probe.close()
        group.shutdown()
