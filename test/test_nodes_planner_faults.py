"""planner_node faults over real DDS (constant-velocity planner: no model, fast): each fault is
published, then the diagnostics, the outputs and the node's survival are asserted.

Future stamps, 0x0 and oversized images, NaN odometry, a singular CameraInfo, degenerate
routes, a clock jump backwards, a raising callback; levels follow the recent window (ERROR
when nothing is planned, WARN while faults recur, OK after recovery) and every input set is
counted in exactly one outcome."""
import io
import time

from conftest import fresh_domain_id
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from geometry_msgs.msg import AccelWithCovarianceStamped
from nav_msgs.msg import Odometry, Path
import numpy as np
import pytest
import rclpy
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from test_nodes_controller import Probe, odometry

from orion_lite_ros.layout import CAMERA_NAMES
from orion_lite_ros.nodes.common import LATCHED_QOS, RELIABLE_QOS, SENSOR_QOS
from orion_lite_ros.nodes.runner import NodeSpec, start_nodes
from orion_lite_ros.planning.health import OUTCOMES
from orion_lite_ros.ros.conversions import camera_info_from_intrinsics, path_from_array
from orion_lite_ros.ros.image_codec import rgb_to_compressed, rgb_to_image
from orion_lite_ros.ros.time import stamp_to_ns

pytestmark = pytest.mark.ros
H, W = 36, 64
TRANSPORTS = ['compressed' if cam == 'CAM_BACK' else 'raw' for cam in CAMERA_NAMES]
WINDOW_S = 1.5


@pytest.fixture(scope='module')
def planner():
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=fresh_domain_id())
    remap = {f'~/input/cameras/{c}/image': f'/pf/cam/{c}' for c in CAMERA_NAMES}
    remap.update({f'~/input/cameras/{c}/camera_info': f'/pf/info/{c}' for c in CAMERA_NAMES})
    remap.update({'~/input/odometry': '/pf/odom', '~/input/route': '/pf/route',
                  '~/input/acceleration': '/pf/accel', '~/output/trajectory': '/pf/trajectory'})
    specs = [NodeSpec('planner_node', name='pf_planner', remappings=remap, parameters={
        'planner': 'constant_velocity', 'image_transports': TRANSPORTS,
        'use_camera_info': True, 'diagnostics_period_s': 0.2,
        'diagnostics_window_s': WINDOW_S})]
    group = start_nodes(specs, context=context)
    probe = Probe(context, 'pf_probe')
    probe.listen(Path, '/pf/trajectory')
    probe.listen(DiagnosticArray, '/diagnostics')
    probe.cams = {c: probe.node.create_publisher(
        CompressedImage if t == 'compressed' else Image, f'/pf/cam/{c}', SENSOR_QOS)
        for c, t in zip(CAMERA_NAMES, TRANSPORTS)}
    probe.info = probe.node.create_publisher(CameraInfo, '/pf/info/CAM_FRONT', RELIABLE_QOS)
    probe.odom = probe.node.create_publisher(Odometry, '/pf/odom', RELIABLE_QOS)
    probe.route = probe.node.create_publisher(Path, '/pf/route', LATCHED_QOS)
    probe.accel = probe.node.create_publisher(AccelWithCovarianceStamped, '/pf/accel',
                                              RELIABLE_QOS)
    probe.node_under_test = group.nodes[0]
    probe.group = group
    assert probe.spin_until(lambda: all(p.get_subscription_count()
                                        for p in probe.cams.values()), 20.0)
    publish_route(probe, np.stack([np.arange(0.0, 200.0, 2.0), np.zeros(100)], axis=1))
    yield probe
    probe.close()
    group.shutdown()
    context.try_shutdown()


def publish_route(probe, xy):
    probe.route.publish(path_from_array(np.asarray(xy, float).reshape(-1, 2), 'map',
                                        probe.now_ns()))


def publish_set(probe, stamp_ns, fault=None, x_m=0.0):
    odom = odometry(stamp_ns, vx=3.0)
    odom.pose.pose.position.x = x_m
    if fault == 'nan_odometry':
        odom.pose.pose.position.y = float('nan')
    probe.odom.publish(odom)
    rgb = np.full((H, W, 3), 90, np.uint8)
    for cam, pub in probe.cams.items():
        if isinstance(pub.msg_type(), CompressedImage):
            msg = rgb_to_compressed(rgb, 'jpeg', 80, frame_id=cam, stamp_ns=stamp_ns)
            if fault == 'huge_png':
                from PIL import Image as PilImage
                buffer = io.BytesIO()
                PilImage.new('L', (6000, 6000)).save(buffer, format='PNG')
                msg.format, msg.data = 'png', buffer.getvalue()
        else:
            msg = rgb_to_image(rgb, 'rgb8', frame_id=cam, stamp_ns=stamp_ns)
            if fault == 'empty_images' or (fault == 'one_empty' and cam == 'CAM_FRONT_LEFT'):
                msg.width = msg.height = msg.step = 0
                msg.data = b''
        pub.publish(msg)


def stream(probe, seconds, fault=None, offset_ns=0, rate_hz=10.0):
    """Publish sets at ``rate_hz`` for ``seconds`` while spinning the probe."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        publish_set(probe, probe.now_ns() + offset_ns, fault)
        probe.spin_until(lambda: False, 1.0 / rate_hz)


def status(probe):
    msgs = [m for m in probe.received['/diagnostics']
            if m.status and m.status[0].name.startswith('pf_planner')]
    return msgs[-1].status[0] if msgs else None


def values(probe):
    st = status(probe)
    return {kv.key: kv.value for kv in st.values} if st else {}


def wait_level(probe, level, timeout_s=6.0, fault=None, offset_ns=0, outcome=None):
    """Keep streaming until the diagnostics reach ``level`` (and, given ``outcome``, count
    some of it in the recent window: on a loaded machine the window can turn ERROR from
    sets that are still incomplete before the faulty ones are counted)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        stream(probe, 0.2, fault, offset_ns)
        st = status(probe)
        if st is not None and st.level == level and (
                outcome is None or int(values(probe).get(f'window {outcome}', 0)) > 0):
            return True
    return False


def planned_since(probe, t0_ns):
    return [m for m in probe.received['/pf/trajectory'] if stamp_to_ns(m.header.stamp) >= t0_ns]


def recover(probe):
    assert wait_level(probe, DiagnosticStatus.OK, 3 * WINDOW_S + 20), status(probe)


def test_healthy_stream_is_ok_and_every_set_counted(planner):
    probe = planner
    recover(probe)
    v = values(probe)
    assert v['route'] == 'yes' and float(v['latency_ms p95']) >= float(v['latency_ms p50']) > 0
    probe.spin_until(lambda: False, 0.6)               # in-flight sets settle
    v = values(probe)
    assert int(v['input_sets']) == sum(int(v[f'total {k}']) for k in OUTCOMES)


@pytest.mark.parametrize('fault,outcome', [('empty_images', 'bad_image'),
                                           ('nan_odometry', 'bad_input'),
                                           ('huge_png', 'bad_image')])
def test_every_set_faulty_is_error_then_recovers(planner, fault, outcome):
    probe = planner
    recover(probe)
    t0 = probe.now_ns()
    assert wait_level(probe, DiagnosticStatus.ERROR, 3 * WINDOW_S + 20, fault,
                      outcome=outcome), status(probe)
    assert 'nothing planned' in status(probe).message
    assert not planned_since(probe, t0)
    assert probe.group.alive()
    recover(probe)
    probe.spin_until(lambda: False, 0.6)
    v = values(probe)
    assert int(v['input_sets']) == sum(int(v[f'total {k}']) for k in OUTCOMES)


def test_one_empty_camera_is_warn_per_topic_then_ok(planner):
    probe = planner
    recover(probe)
    stream(probe, 0.5)
    for _ in range(15):                                   # one bad set in three
        publish_set(probe, probe.now_ns(), 'one_empty')
        probe.spin_until(lambda: False, 0.1)
        stream(probe, 0.2)
    assert status(probe).level == DiagnosticStatus.WARN, status(probe)
    assert int(values(probe)['bad_images /pf/cam/CAM_FRONT_LEFT']) >= 1
    recover(probe)                                        # the WARN does not stay forever


def test_future_stamps_refused_and_error(planner):
    probe = planner
    recover(probe)
    t0 = probe.now_ns()
    assert wait_level(probe, DiagnosticStatus.ERROR, 3 * WINDOW_S + 20,
                      offset_ns=3600 * 10**9, outcome='future'), status(probe)
    assert 'ahead of the node clock' in values(probe)['last_error']
    assert not [m for m in probe.received['/pf/trajectory']
                if stamp_to_ns(m.header.stamp) > t0 + 10**12]
    recover(probe)


def test_singular_camera_info_refused_warn_planning_goes_on(planner):
    probe = planner
    recover(probe)
    t0 = probe.now_ns()
    for _ in range(8):                                   # a camera driver sending K = 0
        probe.info.publish(camera_info_from_intrinsics(np.zeros((3, 3)), W, H))
        stream(probe, 0.2)
    assert int(values(probe).get('bad_inputs /pf/info/CAM_FRONT', 0)) >= 1
    assert status(probe).level == DiagnosticStatus.WARN, status(probe)
    assert int(values(probe)['window bad_camera_info']) >= 1
    assert planned_since(probe, t0)                      # rig intrinsics: still planning
    recover(probe)


@pytest.mark.parametrize('route', [np.zeros((0, 2)), [[3.0, 4.0]], [[np.nan, 0.0]] * 5])
def test_degenerate_route_is_no_route(planner, route):
    probe = planner
    publish_route(probe, route)
    stream(probe, 0.6)
    assert probe.spin_until(lambda: values(probe).get('route') == 'no', 20.0)
    assert status(probe).level == DiagnosticStatus.WARN
    publish_route(probe, np.stack([np.arange(0.0, 200.0, 2.0), np.zeros(100)], axis=1))
    recover(probe)


def test_clock_jump_back_resets_once(planner):
    probe = planner
    recover(probe)
    before = int(values(probe)['resets_clock_jump_or_teleport'])
    stream(probe, 0.3, offset_ns=-30 * 10**9 // 100)     # stamps 0.3 s behind: back by 0.3 s
    stream(probe, 0.5)
    assert probe.spin_until(
        lambda: int(values(probe)['resets_clock_jump_or_teleport']) >= before + 1, 3.0)
    stream(probe, 0.5)                                    # steady again: no further resets
    probe.spin_until(lambda: False, 0.5)
    assert int(values(probe)['resets_clock_jump_or_teleport']) <= before + 2


def test_raising_callback_is_counted_and_the_node_goes_on(planner):
    probe = planner
    node = probe.node_under_test

    def boom(msg):
        raise RuntimeError('injected accel fault')
    original, node.frames.set_acceleration = node.frames.set_acceleration, boom
    try:
        probe.accel.publish(AccelWithCovarianceStamped())
        assert probe.spin_until(lambda: int(values(probe).get('callback_errors', 0)) >= 1, 20.0)
        assert 'injected accel fault' in values(probe)['last_callback_error']
    finally:
        node.frames.set_acceleration = original
    t0 = probe.now_ns()
    stream(probe, 0.5)
    assert planned_since(probe, t0) and probe.group.alive()
