"""CLI, report files, plots, output bag, regression mode, and a bag from the embedded simulator."""
import json

import numpy as np
import pytest

from orion_lite_ros.cli import replay as cli
from orion_lite_ros.eval.bag_io import BagSource
from orion_lite_ros.eval.synthetic_bag import SyntheticDrive, write_synthetic_bag
from orion_lite_ros.types import PlanResult

STEPS = np.arange(1, 7) * 0.5
DRIVE = SyntheticDrive(duration_s=3.0, image_hw=(24, 40), yaw_rate_rps=0.1)


def cv_planner(offset_m=0.0):
    def plan(frame):
        wps = np.stack([frame.ego.vx_mps * STEPS, np.full(6, offset_m)], -1)
        return PlanResult(frame.stamp_ns, wps, np.zeros((6, 6, 2)), frame.command)
    return plan


@pytest.fixture
def bag(tmp_path):
    return write_synthetic_bag(tmp_path / 'bag', DRIVE, 'sqlite3', 'kilted')


def test_cli_writes_report_plots_and_output_bag(tmp_path, bag, capsys):
    out, out_bag = tmp_path / 'out', tmp_path / 'out_bag'
    args = cli.parse_args([str(bag), '--out', str(out), '--output-bag', str(out_bag),
                           '--quiet'])
    assert cli.run(args, cv_planner()) == 0
    report = json.loads((out / 'replay.json').read_text())
    assert len(report['frames']) == 31 and report['typestore'] == 'kilted'
    assert report['summary']['l2_1s_m'] > 0                      # straight plan, curved drive
    for name in ('summary.txt', 'camera_front.png', 'bev.png', 'errors.png'):
        assert (out / name).stat().st_size > 1000 or name == 'summary.txt'
    assert 'L2 at 1/2/3 s' in capsys.readouterr().out
    with BagSource(out_bag) as src:
        topics = src.topics
        assert topics['/orion_lite/replay/trajectory'] == ('nav_msgs/msg/Path', 31)
        assert topics['/orion_lite/replay/markers'][1] == 31
        assert topics['/sim/ego/odometry'] == ('nav_msgs/msg/Odometry', 61)   # copied
        paths = [m.msg for m in src.messages(['/orion_lite/replay/trajectory'])]
    first = report['frames'][0]
    assert paths[0].header.frame_id == 'base_link'
    assert paths[0].header.stamp.sec * 10**9 + paths[0].header.stamp.nanosec == \
        first['stamp_ns']
    got = [[p.pose.position.x, p.pose.position.y] for p in paths[0].poses]
    np.testing.assert_allclose(got, first['waypoints'], atol=1e-6)


def test_regression_mode_passes_then_catches_a_changed_output(tmp_path, bag, capsys):
    ref = tmp_path / 'ref'
    assert cli.run(cli.parse_args([str(bag), '--out', str(ref), '--no-plots', '--quiet']),
                   cv_planner()) == 0
    same = cli.parse_args([str(bag), '--reference', str(ref / 'replay.json'),
                           '--tolerance', '0.001', '--quiet'])
    assert cli.run(same, cv_planner()) == 0
    assert 'regression PASSED' in capsys.readouterr().out
    changed_out = tmp_path / 'changed'
    changed = cli.parse_args([str(bag), '--reference', str(ref / 'replay.json'),
                              '--tolerance', '0.001', '--out', str(changed_out),
                              '--no-plots', '--quiet'])
    assert cli.run(changed, cv_planner(offset_m=0.01)) == 1
    text = capsys.readouterr().out
    assert 'regression FAILED' in text and '31 differ' in text
    reg = json.loads((changed_out / 'regression.json').read_text())
    assert not reg['passed'] and len(reg['differing']) == 31
    assert reg['differing'][0]['max_diff_m'] == pytest.approx(0.01, abs=1e-6)


def test_cli_bad_bag_exit_code_and_message(tmp_path, capsys):
    assert cli.main([str(tmp_path / 'missing'), '--quiet']) == 2
    assert 'no such bag' in capsys.readouterr().err


def test_bag_from_the_embedded_simulator(tmp_path):
    pytest.importorskip('mujoco')
    sim_bag = pytest.importorskip('orion_lite_ros.eval.sim_bag')
    try:
        bag = sim_bag.record_sim_bag(tmp_path / 'sim', duration_s=3.0, storage='mcap')
    except Exception as err:       # no OpenGL on this machine
        pytest.skip(f'embedded simulator unavailable: {err}')
    from orion_lite_ros.eval.replay import ReplayConfig, replay
    result = replay(bag, ReplayConfig(progress=False), cv_planner())
    assert len(result.frames) == 31 and result.problems == []
    s = result.summary
    assert s['frames_covering_3s'] == 1 and np.isfinite(s['l2_1s_m'])
    assert s['collision'] is not None                    # agent boxes came through
    # The expert accelerates from rest: a constant-velocity plan falls short, error grows.
    assert s['l2_1s_m'] < s['l2_2s_m']
