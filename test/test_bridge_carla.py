"""CARLA backend without a server: settings/teardown through the seam (fake client objects),
conversions, connection error from the real client; a live test when CARLA_HOST is set."""
import os
from types import SimpleNamespace as NS

import numpy as np
import pytest

from orion_lite_ros.bridge import carla_backend as cb
from orion_lite_ros.bridge.route_monitor import MonitorConfig, RouteMonitor
from orion_lite_ros.eval.records import (
    COLLISION_PEDESTRIAN,
    COLLISION_STATIC,
    COLLISION_VEHICLE,
    MIN_SPEED,
    RED_LIGHT,
    ROUTE_DEVIATION,
    ROUTE_TIMEOUT,
    VEHICLE_BLOCKED,
)
from orion_lite_ros.layout import Command


class FakeWorld:
    def __init__(self):
        self.settings = NS(synchronous_mode=False, fixed_delta_seconds=None,
                           no_rendering_mode=True)
        self.applied = []

    def get_settings(self):
        return NS(**vars(self.settings))            # a copy, like carla.World.get_settings

    def apply_settings(self, settings):
        self.applied.append(NS(**vars(settings)))
        self.settings = NS(**vars(settings))


class FakeTM:
    def __init__(self):
        self.sync = []

    def set_synchronous_mode(self, on):
        self.sync.append(on)


class FakeClient:
    def __init__(self):
        self.world, self.tm = FakeWorld(), FakeTM()

    def get_world(self):
        return self.world

    def get_trafficmanager(self, port):
        return self.tm

    def get_server_version(self):
        return '0.9.15'


class FakeActor:
    def __init__(self, log, name, fail=False, listening=False):
        self.log, self.name, self.fail, self.is_listening = log, name, fail, listening

    def stop(self):
        self.log.append(f'stop {self.name}')

    def destroy(self):
        self.log.append(f'destroy {self.name}')
        if self.fail:
            raise RuntimeError('actor already destroyed')


def test_sync_settings_enable_and_restore_original():
    world, tm = FakeWorld(), FakeTM()
    s = cb.SyncSettings(world, tm, 0.05)
    s.enable()
    assert world.settings.synchronous_mode is True
    assert world.settings.fixed_delta_seconds == 0.05
    assert world.settings.no_rendering_mode is True          # other fields untouched
    s.restore()
    assert world.settings.synchronous_mode is False
    assert world.settings.fixed_delta_seconds is None
    assert tm.sync == [True, False]
    s.restore()                                               # idempotent
    assert len(world.applied) == 2 and tm.sync == [True, False]


def test_backend_close_restores_settings_destroys_actors_and_is_idempotent():
    client = FakeClient()
    backend = cb.CarlaBackend(cb.CarlaConfig(), carla_module=NS(), client=client)
    assert client.world.settings.synchronous_mode is True and client.tm.sync == [True]
    log = []
    backend.route_actors.add(FakeActor(log, 'ego'))
    backend.route_actors.add(FakeActor(log, 'cam', listening=True))
    backend.actors.add(FakeActor(log, 'gone', fail=True))
    with backend:
        pass
    assert log == ['stop cam', 'destroy cam', 'destroy ego', 'destroy gone']
    assert client.world.settings.synchronous_mode is False
    assert client.tm.sync == [True, False]
    backend.close()
    assert len(log) == 4 and client.tm.sync == [True, False]


def test_settings_restored_when_driving_raises():
    client = FakeClient()
    with pytest.raises(ZeroDivisionError):
        with cb.CarlaBackend(cb.CarlaConfig(), carla_module=NS(), client=client):
            raise ZeroDivisionError('boom')
    assert client.world.settings.synchronous_mode is False


def test_connection_error_names_host_and_port():
    pytest.importorskip('carla')
    cfg = cb.CarlaConfig(host='127.0.0.1', port=2999, timeout_s=1.0)
    with pytest.raises(cb.CarlaConnectionError, match=r'127\.0\.0\.1:2999'):
        cb.connect(cfg)


def test_version_warning():
    def client(c, s):
        return NS(get_client_version=lambda: c, get_server_version=lambda: s)
    assert cb.version_warning(client('0.9.15', '0.9.15')) == ''
    assert 'differ' in cb.version_warning(client('0.9.16', '0.9.15'))
    assert 'untested' in cb.version_warning(client('0.9.14', '0.9.14'))


def test_image_and_kinematics_conversions():
    bgra = np.zeros((2, 3, 4), np.uint8)
    bgra[..., 0], bgra[..., 1], bgra[..., 2], bgra[..., 3] = 10, 20, 30, 255
    rgb = cb.bgra_to_rgb(bgra.tobytes(), 2, 3)
    assert rgb.shape == (2, 3, 3) and tuple(rgb[0, 0]) == (30, 20, 10)
    v3 = lambda x, y, z: NS(x=x, y=y, z=z)  # noqa: E731
    # CARLA: heading +y (yaw 90 deg, i.e. to the right), moving 5 m/s along +y, turning right
    ego = cb.ego_state_from_carla(NS(location=v3(1.0, 2.0, 0.3), rotation=NS(yaw=90.0)),
                                  v3(0.0, 5.0, 0.0), v3(0.0, 1.0, 0.0), v3(0.0, 0.0, 10.0), 7)
    assert (ego.x_m, ego.y_m, ego.z_m) == pytest.approx((1.0, -2.0, 0.3))
    assert ego.yaw_rad == pytest.approx(-np.pi / 2)
    assert ego.vx_mps == pytest.approx(5.0) and ego.vy_mps == pytest.approx(0.0, abs=1e-9)
    assert ego.ax_mps2 == pytest.approx(1.0)
    assert ego.yaw_rate_rps == pytest.approx(-np.radians(10.0))
    loc, yaw = cb.camera_mount_carla('CAM_FRONT_LEFT')
    np.testing.assert_allclose(loc, [0.27, -0.55, 1.60])     # Bench2Drive's CARLA numbers
    assert yaw == pytest.approx(-55.0)
    assert cb.road_option_to_command(-1) == Command.LANE_FOLLOW
    assert cb.road_option_to_command(1) == Command.LEFT
    assert cb.road_option_to_command(6) == Command.CHANGE_LANE_RIGHT


def test_frame_collector_matches_frame_ids():
    fc = cb.FrameCollector(['A', 'B'])
    img = lambda f: NS(frame=f, raw_data=bytes(4 * 2), height=1, width=2)  # noqa: E731
    fc.callback('A')(img(4))
    fc.callback('A')(img(5))
    fc.callback('B')(img(5))
    got = fc.get(5, timeout_s=0.5)
    assert set(got) == {'A', 'B'} and got['A'].shape == (1, 2, 3)
    with pytest.raises(TimeoutError, match='camera A'):
        fc.get(6, timeout_s=0.05)


def test_route_monitor_progress_and_infractions():
    route = np.stack([np.arange(0.0, 101.0), np.zeros(101)], axis=1)
    m = RouteMonitor(route, timeout_s=100.0, config=MonitorConfig(blocked_time_s=5.0))
    m.update(1.0, (50.0, 1.0), 5.0)
    assert m.completion_pct == pytest.approx(50.0)
    m.update(2.0, (47.0, 0.0), 5.0)                          # progress never goes back
    assert m.completion_pct == pytest.approx(50.0)
    assert m.on_collision(2.0, (50, 0), 7, 'vehicle.tesla.model3').kind == COLLISION_VEHICLE
    assert m.on_collision(2.5, (50, 0), 7, 'vehicle.tesla.model3') is None   # debounced
    assert m.on_collision(3.0, (50, 0), 8, 'walker.pedestrian.0001').kind == COLLISION_PEDESTRIAN
    assert m.on_collision(3.0, (50, 0), 9, 'static.prop.cone').kind == COLLISION_STATIC
    assert m.on_red_light(3.0, (50, 0), 11).kind == RED_LIGHT
    assert m.on_red_light(3.1, (50, 0), 11) is None
    m.update(9.0, (60.0, 0.0), 0.0)
    assert not m.done
    assert [i.kind for i in m.update(14.5, (60.0, 0.0), 0.0)] == [VEHICLE_BLOCKED]
    assert m.done and m.status().startswith('Failed')
    dev = RouteMonitor(route, 100.0)
    # (a first step 20 m along also closes min-speed stretches: see the test below)
    assert [i.kind for i in dev.update(1.0, (20.0, 40.0), 3.0)][-1:] == [ROUTE_DEVIATION]
    late = RouteMonitor(route, 10.0)
    assert [i.kind for i in late.update(11.0, (20.0, 0.0), 3.0)][-1:] == [ROUTE_TIMEOUT]
    end = RouteMonitor(route, 100.0)
    for k, x in enumerate(range(0, 99, 7)):
        end.update(0.1 * k, (float(x), 0.5), 3.0)
    end.update(5.0, (98.0, 0.0), 3.0)
    assert end.done and end.completion_pct == 100.0 and end.status() == 'Completed'


def test_route_monitor_min_speed_checkpoints_like_the_leaderboard():
    # 100 m route, 20 checkpoints of 5 m; the ego drives 1 m per tick at half the traffic's
    # speed for the first half, at the traffic's speed after, with no traffic on 40..50 m.
    route = np.stack([np.arange(0.0, 101.0), np.zeros(101)], axis=1)
    m = RouteMonitor(route, timeout_s=1000.0)
    for k in range(1, 101):
        traffic = None if 40 <= k < 50 else (10.0 if k < 50 else 5.0)
        m.update(0.1 * k, (float(k), 0.0), 5.0, traffic)
    m.finish(10.1, (100.0, 0.0))
    values = [i.percentage for i in m.infractions if i.kind == MIN_SPEED]
    # A stretch closes when progress exceeds the last close by > 5 m (at 6, 12, ...), before
    # that tick's sample; the last one at the end (past 95 %).
    assert len(values) == 17
    assert values[:6] == [50.0] * 6
    assert 100.0 in values                      # a stretch with no traffic sampled
    assert values[-1] == 100.0 and m.status() == 'Completed'
    assert m.finish(10.2, (100.0, 0.0)) is None  # once


@pytest.mark.carla
@pytest.mark.skipif(not os.environ.get('CARLA_HOST'), reason='set CARLA_HOST to a CARLA server')
def test_live_server_drives_a_few_steps():
    from pathlib import Path

    from orion_lite_ros.bridge.backend import ControlInput
    from orion_lite_ros.bridge.route_xml import load_route_specs
    cfg = cb.CarlaConfig(host=os.environ['CARLA_HOST'],
                         port=int(os.environ.get('CARLA_PORT', 2000)), timeout_s=30.0,
                         camera_height=90, camera_width=160, load_town=False)
    xml = os.environ.get('CARLA_ROUTES', str(Path(__file__).parent / 'fixtures' /
                                             'routes_b2d_mini.xml'))
    route = load_route_specs(xml)[0]
    with cb.CarlaBackend(cfg) as backend:
        original = backend.settings.original
        backend.load_route(route, (90, 160))
        for _ in range(5):
            frame = backend.sensors()
            backend.apply_and_tick(ControlInput(throttle=0.3))
        assert frame.images['CAM_FRONT'].shape == (90, 160, 3)
        record = backend.finish_route()
    assert record.route_id == route.route_id
    assert backend.world.get_settings().synchronous_mode == original.synchronous_mode


def test_route_file_routes_keep_the_leaderboards_names():
    # The ability tool matches RouteScenario_<id>_rep0 with the route file's id; the
    # leaderboard names a route by its first scenario's name.
    from pathlib import Path

    from orion_lite_ros.bridge.route_xml import load_route_specs
    from orion_lite_ros.eval.bench2drive import leaderboard_route_record
    from orion_lite_ros.eval.records import KinematicTrace, RouteRecord
    xml = Path(__file__).parent / 'fixtures' / 'routes_b2d_mini.xml'
    spec = load_route_specs(xml)[0]
    meta = cb.route_file_meta(spec)
    assert meta == {'scenario_name': 'Accident_1', 'scenario_type': 'Accident',
                    'repetition': '0'}
    record = RouteRecord(spec.route_id, spec.scenario, spec.abilities, 100.0, 100.0, [],
                         'Completed', 1.0, 1.0, KinematicTrace(0.05), meta)
    lb = leaderboard_route_record(record, 0)
    assert lb['route_id'] == 'RouteScenario_1711_rep0' and lb['scenario_name'] == 'Accident_1'
    assert lb['route_id'].split('_')[1] == '1711' and lb['status'] == 'Perfect'
