"""Offline replay on bags written at test time (rosbags; mcap and sqlite3; Humble/Jazzy/Kilted).

The planners here are plain functions of ``FrameInputs`` so the bag reading, synchronisation,
conversions and metrics are tested exactly; the model itself is exercised in
test_replay_engine.py.
"""
import math
import shutil

import numpy as np
import pytest

from orion_lite_ros.eval.bag_io import BagError, BagSource
from orion_lite_ros.eval.frames import NodeSettings, ReplayError
from orion_lite_ros.eval.replay import ReplayConfig, replay
from orion_lite_ros.eval.synthetic_bag import SyntheticDrive, pattern, write_synthetic_bag
from orion_lite_ros.eval.topic_maps import TopicMap, load_topic_map
from orion_lite_ros.layout import Command
from orion_lite_ros.types import PlanResult

SMALL = SyntheticDrive(duration_s=4.0, image_hw=(24, 40))
CFG = ReplayConfig(progress=False)
STEPS = np.arange(1, 7) * 0.5


def constant_velocity(frame):
    """Straight ahead at the odometry speed: exact for a straight drive."""
    wps = np.stack([frame.ego.vx_mps * STEPS, np.zeros(6)], -1)
    return PlanResult(frame.stamp_ns, wps, np.zeros((6, 6, 2)), frame.command)


def _bag(tmp_path, name='bag', drive=SMALL, **kw):
    return write_synthetic_bag(tmp_path / name, drive, **kw)


@pytest.mark.parametrize('storage', ['mcap', 'sqlite3'])
@pytest.mark.parametrize('typestore', ['humble', 'jazzy', 'kilted'])
def test_straight_drive_exact_in_every_storage_and_typestore(tmp_path, storage, typestore):
    # Humble's sqlite3 bags carry no message definitions: the type store must supply them.
    embed = not (typestore == 'humble' and storage == 'sqlite3')
    bag = _bag(tmp_path, storage=storage, typestore=typestore, embed_definitions=embed)
    result = replay(bag, CFG, constant_velocity)
    assert result.storage == storage and result.typestore == typestore
    assert len(result.frames) == 41                          # 4 s at 10 Hz, both ends
    s = result.summary
    assert s['frames_covering_1s'] == 31 and s['frames_covering_3s'] == 11
    assert s['l2_3s_m'] == pytest.approx(0.0, abs=1e-9)
    assert s['l2_b2d_avg_2s_m'] == pytest.approx(0.0, abs=1e-9)
    assert result.summary['latency_s']['max'] > 0


def test_frames_rebuilt_like_the_node(tmp_path):
    drive = SyntheticDrive(duration_s=1.0, image_hw=(24, 40), camera_jitter_ns=4_000_000)
    seen = []

    def keep(frame):
        seen.append(frame)
        return constant_velocity(frame)

    replay(_bag(tmp_path, drive=drive), CFG, keep)
    assert len(seen) == 11
    f = seen[3]
    t = (f.stamp_ns - drive.start_ns) / 1e9
    assert t == pytest.approx(0.3)                           # header stamp of CAM_FRONT
    for i in range(6):                                       # CAMERA_NAMES order, exact pixels
        np.testing.assert_array_equal(f.images[i], pattern(t, i, drive.image_hw))
    assert f.ego.x_m == pytest.approx(drive.speed_mps * t) and f.ego.stamp_ns == f.stamp_ns
    assert f.intrinsics.shape == (6, 3, 3) and f.intrinsics[0, 0, 2] == pytest.approx(20.0)
    assert f.command == Command.LANE_FOLLOW
    np.testing.assert_allclose(f.target_point, [15.0, 0.0], atol=1e-6)   # route ahead


def test_arc_drive_errors_match_closed_form(tmp_path):
    drive = SyntheticDrive(duration_s=4.0, image_hw=(24, 40), yaw_rate_rps=0.2)
    result = replay(_bag(tmp_path, drive=drive), CFG, constant_velocity)
    r, w, v = drive.speed_mps / 0.2, 0.2, drive.speed_mps
    expected = [math.hypot(v * t - r * math.sin(w * t), r * (1 - math.cos(w * t)))
                for t in (1.0, 2.0, 3.0)]
    s = result.summary
    got = [s['l2_1s_m'], s['l2_2s_m'], s['l2_3s_m']]
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    assert s['heading_err_1s_deg'] > 1.0                    # straight plan, turning drive


def test_compressed_images_autoware_names_detected(tmp_path):
    tm = load_topic_map('autoware')
    drive = SyntheticDrive(duration_s=1.0, image_hw=(32, 48), compressed=True, route=False)
    seen = []

    def keep(frame):
        seen.append(frame.images.copy())
        return constant_velocity(frame)

    result = replay(_bag(tmp_path, drive=drive, topic_map=tm), CFG, keep)
    assert result.topic_map.name == 'autoware'
    assert result.topics.cameras['CAM_FRONT'].endswith('/image_raw/compressed')
    assert len(seen) == 11
    ref = pattern(0.0, 0, drive.image_hw).astype(int)
    assert np.abs(seen[0][0].astype(int) - ref).mean() < 12   # JPEG close to the pattern
    kinds = {p.kind for p in result.problems}
    assert 'no_route' in kinds                   # LaneletRoute topic absent -> reported


def test_missing_route_and_objects_reported_node_behaviour(tmp_path):
    drive = SyntheticDrive(duration_s=3.0, image_hw=(24, 40), route=False,
                           yaw_rate_rps=0.4)
    cmds = []
    result = replay(_bag(tmp_path, drive=drive), CFG,
                    lambda f: cmds.append(f.command) or constant_velocity(f))
    assert {p.kind for p in result.problems} >= {'no_route', 'missing_topic'}
    assert set(cmds) == {int(Command.LANE_FOLLOW)}
    cfg = ReplayConfig(progress=False, node=NodeSettings(route_from_drive=True))
    cmds.clear()
    replay(tmp_path / 'bag', cfg, lambda f: cmds.append(f.command) or constant_velocity(f))
    assert int(Command.LEFT) in cmds                       # the recorded arc turns left


def test_missing_odometry_or_front_camera_is_a_clear_error(tmp_path):
    bag = _bag(tmp_path, drive=SyntheticDrive(duration_s=0.5, image_hw=(24, 40)))
    with pytest.raises(ReplayError, match='odometry topic .*/nope'):
        replay(bag, ReplayConfig(progress=False, topic_map=_write_map(tmp_path, odometry='/nope')),
               constant_velocity)
    cams = dict(TopicMap().cameras, CAM_FRONT='/none/image')
    with pytest.raises(ReplayError, match='front camera .*/none/image'):
        replay(bag, ReplayConfig(progress=False, topic_map=_write_map(tmp_path, cameras=cams)),
               constant_velocity)


def _write_map(tmp_path, **fields):
    import yaml
    path = tmp_path / 'map.yaml'
    data = TopicMap().to_dict()
    data.update({k: dict(v) if isinstance(v, dict) else v for k, v in fields.items()})
    path.write_text(yaml.safe_dump(data))
    return str(path)


def test_unknown_type_on_a_camera_and_missing_camera_filled(tmp_path):
    from orion_lite_ros.eval.bag_io import BagSink
    from orion_lite_ros.eval.msg_build import make
    cams = tuple(c for c in SMALL.cameras if c != 'CAM_BACK')
    drive = SyntheticDrive(duration_s=1.0, image_hw=(24, 40), cameras=cams)
    bag = _bag(tmp_path, drive=drive)
    # A second bag file is not needed: re-write with a String on the CAM_BACK image topic.
    shutil.rmtree(bag)
    write_synthetic_bag(bag, drive)
    extra = tmp_path / 'with_string'
    with BagSource(bag) as src, BagSink(extra, 'mcap', 'jazzy') as sink:
        for conn, t, raw in src.raw_messages():
            out = sink.connection(conn.topic, conn.msgtype, conn.msgdef.data, conn.digest)
            sink.write_raw(out, raw, t)
        sink.write('/sim/camera/CAM_BACK/image', make(sink.store, 'std_msgs/msg/String',
                                                      data='oops'), SyntheticDrive.start_ns)
    seen = []
    result = replay(extra, CFG, lambda f: seen.append(f) or constant_velocity(f))
    probs = {(p.kind, p.topic) for p in result.problems}
    assert ('unknown_type', '/sim/camera/CAM_BACK/image') in probs
    assert ('missing_camera', 'CAM_BACK') in probs
    assert len(seen) == 11 and not seen[0].images[3].any()     # CAM_BACK black


def test_odometry_gap_reported_and_horizons_skipped(tmp_path):
    drive = SyntheticDrive(duration_s=6.0, image_hw=(24, 40), odometry_gap_s=(2.0, 3.0))
    result = replay(_bag(tmp_path, drive=drive), CFG, constant_velocity)
    gaps = [p for p in result.problems if p.kind == 'odometry_gap']
    assert len(gaps) == 1 and '1.05 s' in gaps[0].detail
    # Frames inside the gap are still planned? No: the synchroniser needs odometry.
    assert len(result.frames) == 61 - 10
    s = result.summary
    assert s['frames_covering_3s'] < 31 - 10 + 1
    assert s['l2_1s_m'] == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize('storage,suffix', [('mcap', '.mcap'), ('sqlite3', '.db3')])
def test_truncated_bag_evaluates_what_it_can(tmp_path, storage, suffix):
    drive = SyntheticDrive(duration_s=4.0, image_hw=(24, 40))
    bag = _bag(tmp_path, drive=drive, storage=storage, typestore='jazzy')
    full = replay(bag, CFG, constant_velocity)
    (data_file,) = bag.glob('*' + suffix)
    data = data_file.read_bytes()
    data_file.write_bytes(data[:int(len(data) * 0.6)])
    cut = replay(bag, CFG, constant_velocity)
    assert 0 < len(cut.frames) < len(full.frames)
    assert any(p.kind == 'truncated' for p in cut.problems)
    assert cut.summary['l2_1s_m'] == pytest.approx(0.0, abs=1e-9)


def test_garbage_and_missing_bags_raise_bag_error(tmp_path):
    (tmp_path / 'junk').mkdir()
    (tmp_path / 'junk' / 'x.mcap').write_bytes(b'not an mcap at all' * 10)
    with pytest.raises(BagError, match='x.mcap'):
        replay(tmp_path / 'junk', CFG, constant_velocity)
    with pytest.raises(BagError, match='no such bag'):
        replay(tmp_path / 'nothing', CFG, constant_velocity)
    (tmp_path / 'empty').mkdir()
    with pytest.raises(BagError, match='not a rosbag2 bag'):
        replay(tmp_path / 'empty', CFG, constant_velocity)


def test_bag_without_metadata_yaml_is_read(tmp_path):
    bag = _bag(tmp_path, drive=SyntheticDrive(duration_s=1.0, image_hw=(24, 40)))
    (bag / 'metadata.yaml').unlink()
    result = replay(bag, CFG, constant_velocity)
    assert len(result.frames) == 11
    assert any(p.kind == 'no_metadata' for p in result.problems)


def test_collision_proxy_from_marker_boxes_in_the_bag(tmp_path):
    drive = SyntheticDrive(duration_s=4.0, image_hw=(24, 40),
                           objects=((10.0, 3.5, 0.0, 4.0, 2.0),))

    def swerve(frame):
        wps = np.stack([frame.ego.vx_mps * STEPS, np.full(6, 3.5)], -1)
        return PlanResult(frame.stamp_ns, wps, np.zeros((6, 6, 2)), frame.command)

    clear = replay(_bag(tmp_path, drive=drive), CFG, constant_velocity)
    hit = replay(tmp_path / 'bag', CFG, swerve)
    assert clear.summary['collision']['rate_3s'] == 0.0
    assert hit.summary['collision']['rate_3s'] > 0.3
    assert hit.frames[0].collision[3] == 1.0          # t = 2 s: ego at x = 10 m, y = 3.5 m


@pytest.mark.parametrize('prefix', [3, 25])        # fewer / more than the sync queue (10)
def test_odometry_stamped_on_the_wall_clock_first(tmp_path, prefix):
    # A node started before /clock stamps its first odometry with the wall clock: newer
    # than everything after it. This used to end the replay with a KeyError.
    drive = SyntheticDrive(duration_s=2.0, image_hw=(24, 40), wall_clock_odometry=prefix,
                           odometry_extra_delay_ns=5_000_000)
    result = replay(_bag(tmp_path, drive=drive), CFG, constant_velocity)
    assert len(result.frames) == 21
    assert result.summary['l2_1s_m'] == pytest.approx(0.0, abs=1e-9)
    jumps = [p for p in result.problems if p.kind == 'clock_jump']
    assert len(jumps) == 1 and jumps[0].topic == result.topics.odometry
    assert f'after {prefix} message(s)' in jumps[0].detail
    assert not [p for p in result.problems if p.kind == 'odometry_gap']


def test_cli_does_not_traceback_on_wall_clock_odometry(tmp_path, capsys):
    from orion_lite_ros.cli.replay import parse_args, run
    drive = SyntheticDrive(duration_s=1.0, image_hw=(24, 40), wall_clock_odometry=25)
    args = parse_args([str(_bag(tmp_path, drive=drive)), '--quiet'])
    assert run(args, planner=constant_velocity) == 0
    assert 'clock_jump' in capsys.readouterr().out


def test_wall_clock_odometry_without_the_clock_guard_plans_nothing_but_runs(tmp_path,
                                                                           monkeypatch):
    # The synchroniser alone (message_filters semantics): the queued wall-clock odometry is
    # newer than every later pose, which is dropped on arrival; no set forms, nothing raises.
    from orion_lite_ros.eval import frames
    monkeypatch.setattr(frames, 'MAX_BACKWARD_JUMP_S', 1e12)
    drive = SyntheticDrive(duration_s=1.0, image_hw=(24, 40), wall_clock_odometry=25,
                           odometry_extra_delay_ns=5_000_000)   # a pose completes each set
    result = replay(_bag(tmp_path, drive=drive), CFG, constant_velocity)
    assert result.frames == [] and not result.ok


def _legacy_copy(src_bag, dst_dir):
    """A 2019-style bag (ROS 2 Crystal/Dashing): one .db3, no metadata.yaml, the early schema
    (no QoS column, no definitions) and type names without /msg/."""
    import sqlite3
    with BagSource(src_bag) as src:
        raw = list(src.raw_messages())
    dst_dir.mkdir()
    db = sqlite3.connect(dst_dir / 'legacy_0.db3')
    db.executescript(
        'CREATE TABLE topics(id INTEGER PRIMARY KEY, name TEXT NOT NULL, type TEXT NOT NULL,'
        ' serialization_format TEXT NOT NULL);'
        'CREATE TABLE messages(id INTEGER PRIMARY KEY, topic_id INTEGER NOT NULL,'
        ' timestamp INTEGER NOT NULL, data BLOB NOT NULL);')
    ids = {}
    for conn, t, data in raw:
        if conn.topic not in ids:
            ids[conn.topic] = len(ids) + 1
            db.execute('INSERT INTO topics VALUES (?, ?, ?, ?)',
                       (ids[conn.topic], conn.topic, conn.msgtype.replace('/msg/', '/'), 'cdr'))
        db.execute('INSERT INTO messages (topic_id, timestamp, data) VALUES (?, ?, ?)',
                   (ids[conn.topic], t, bytes(data)))
    db.commit()
    db.close()
    return dst_dir


def test_legacy_bag_type_names_are_normalised(tmp_path):
    bag = _legacy_copy(_bag(tmp_path, storage='sqlite3', embed_definitions=False),
                       tmp_path / 'legacy')
    with BagSource(bag) as src:
        assert src.topics['/sim/ego/odometry'][0] == 'nav_msgs/msg/Odometry'
    result = replay(bag, CFG, constant_velocity)
    assert len(result.frames) == 41
    assert result.summary['l2_3s_m'] == pytest.approx(0.0, abs=1e-9)
    kinds = {p.kind for p in result.problems}
    assert {'legacy_type_names', 'no_metadata'} <= kinds


QOS_HUMBLE_STRING = (
    '"- history: 3\\n  depth: 0\\n  reliability: 1\\n  durability: 2\\n  deadline:\\n'
    '    sec: 2147483647\\n    nsec: 4294967295\\n  lifespan:\\n    sec: 2147483647\\n'
    '    nsec: 4294967295\\n  liveliness: 1\\n  liveliness_lease_duration:\\n'
    '    sec: 2147483647\\n    nsec: 4294967295\\n  avoid_ros_namespace_conventions: false"')


@pytest.mark.parametrize('storage', ['mcap', 'sqlite3'])
def test_metadata_qos_unlike_the_storage_file_is_still_read(tmp_path, storage):
    # rosbag2's own test bags: metadata.yaml's QoS strings differ from the storage file's,
    # and rosbags then matches no connection (0 messages, no warning).
    bag = _bag(tmp_path, storage=storage)
    meta = bag / 'metadata.yaml'
    meta.write_text(meta.read_text().replace('offered_qos_profiles: []',
                                             'offered_qos_profiles: ' + QOS_HUMBLE_STRING))
    from rosbags.rosbag2 import Reader
    with Reader(bag) as plain:                                 # the failure being fixed
        assert sum(1 for _ in plain.messages()) == 0
    result = replay(bag, CFG, constant_velocity)
    assert len(result.frames) == 41
    [why] = [p for p in result.problems if p.kind == 'metadata_mismatch']
    assert 'offered QoS' in why.detail and 'directly instead' in why.detail


def test_broken_embedded_definition_falls_back_to_the_type_store(tmp_path):
    from orion_lite_ros.eval import msg_build as mb
    from orion_lite_ros.eval.bag_io import BagSink, typestore_for
    store = typestore_for('humble')
    with BagSink(tmp_path / 'b', 'mcap', 'humble') as sink:
        conn = sink.connection('/odom', 'nav_msgs/msg/Odometry', msgdef='float64 x\n',
                               digest='RIHS01_' + '1' * 64)
        for k in range(3):
            msg = mb.odometry_msg(store, (k + 1) * 10**9, float(k), 0.0, 0.0, 1.0, 0.0)
            sink.write_raw(conn, store.serialize_cdr(msg, 'nav_msgs/msg/Odometry'),
                           (k + 1) * 10**9)
    with BagSource(tmp_path / 'b') as src:
        got = [m.msg.pose.pose.position.x for m in src.messages(['/odom'])]
        assert got == [0.0, 1.0, 2.0]
        [p] = src.problems
        assert p.kind == 'bad_definition' and 'humble type store' in p.detail


def test_unusable_odometry_says_why_before_the_engine_is_built(tmp_path, monkeypatch, capsys):
    # The odometry topic carries another type: the error names it (not only "missing or
    # unreadable") and comes from the bag check, before any engine is built.
    from orion_lite_ros.cli import replay as cli
    from orion_lite_ros.eval.bag_io import BagSink
    from orion_lite_ros.eval.msg_build import make
    bag = tmp_path / 'wrong'
    with BagSink(bag, 'mcap', 'humble') as sink:
        sink.write('/sim/ego/odometry', make(sink.store, 'std_msgs/msg/String', data='x'), 1)
    monkeypatch.setattr(cli, 'make_engine_planner',
                        lambda *a, **k: pytest.fail('engine built for an unusable bag'))
    assert cli.main([str(bag), '--quiet', '--topic-map', 'sim']) == 2
    err = capsys.readouterr().err
    assert "odometry topic '/sim/ego/odometry' is unusable" in err
    assert 'type std_msgs/msg/String; expected nav_msgs/msg/Odometry' in err
    assert '/sim/ego/odometry (std_msgs/msg/String, 1)' in err


def test_cli_prints_the_bag_check_first(tmp_path, capsys):
    from orion_lite_ros.cli.replay import parse_args, run
    bag = _bag(tmp_path, drive=SyntheticDrive(duration_s=0.5, image_hw=(24, 40)))
    assert run(parse_args([str(bag), '--quiet']), planner=constant_velocity) == 0
    out = capsys.readouterr().out
    head = out.splitlines()[0]
    assert head.startswith('bag ') and 'mcap' in head
    line = next(x for x in out.splitlines() if x.strip().startswith('/sim/ego/odometry'))
    assert 'nav_msgs/msg/Odometry' in line and line.split()[2] == '11' and 'odometry' in line
