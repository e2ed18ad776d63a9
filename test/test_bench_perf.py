"""The issue-20 benchmark summaries (pure parts): end-to-end latency and the tables."""
import json

from orion_lite_ros.bench import perf_table
from orion_lite_ros.bench.planner_e2e import E2EConfig, natural_image, planner_command, summarise


def test_e2e_summary_counts_only_the_window():
    raw = {'measure_from_ns': 1_000, 'end_ns': 5_000, 'sent': [500, 1_000, 2_000, 3_000, 4_000],
           'received': [(500, 900), (1_000, 51_000_000 + 1_000), (3_000, 3_000 + 90_000_000)]}
    out = summarise(raw, E2EConfig())
    assert out['input_sets_sent'] == 4 and out['trajectories'] == 2
    assert out['planned_ratio'] == 0.5
    assert out['latency_ms']['p50'] == 70.5 and out['latency_ms']['max'] == 90.0


def test_planner_command_sets_the_engine_parameters():
    cmd = planner_command(E2EConfig(torch_threads=2, jpeg_decode='full'))
    assert 'torch_threads:=2' in cmd and 'jpeg_decode:="full"' in cmd
    assert '~/input/odometry:=/e2e/odom' in cmd
    assert not any('image_transports' in c for c in cmd)
    assert 'image_transports:=["compressed"]' in planner_command(E2EConfig(jpeg_quality=20))
    img = natural_image((90, 160), 1)
    assert img.shape == (90, 160, 3) and img.dtype.name == 'uint8' and img.std() > 20


def test_tables_from_result_files(tmp_path):
    stage = {'p50': 10.0, 'p99': 12.0}
    (tmp_path / 'engine_a.json').write_text(json.dumps({
        'source_hw': [900, 1600], 'images': 'natural', 'engine': {'jpeg_decode': 'scaled',
                                                                  'torch_threads': 0},
        'threads': {'torch': 1, 'preprocess': 2}, 'stages_ms': {'preprocess': stage,
                                                                'model': stage},
        'latency_ms': stage, 'frames_per_s': 40.0}))
    (tmp_path / 'e2e_b.json').write_text(json.dumps({
        'config': {'width_px': 256, 'height_px': 160, 'rate_hz': 20.0, 'busy': 1},
        'planned_ratio': 1.0, 'plans_per_s': 20.0, 'latency_ms': {'p50': 1, 'p99': 2, 'max': 3}}))
    run = {'frames_per_s': 9.0, 'real_time_factor': 0.9}
    (tmp_path / 'replay_c.json').write_text(json.dumps({
        'bag': {'image_hw': [900, 1600], 'compressed': True, 'jpeg_quality': 20},
        'replay_only_noop_planner': run, 'replay_with_engine': run,
        'replay_with_engine_no_prefetch': run}))
    assert '| engine_a | natural 1600x900 | scaled | 0->1 / 2 | 0 |' in perf_table.engine_table(
        tmp_path)
    assert '| e2e_b | 6x 256x160 rgb8 | 20 | 1 | 1.0 | 20.0 | 1 / 2 / 3 |' in perf_table.e2e_table(
        tmp_path)
    assert 'JPEG q20' in perf_table.replay_table(tmp_path)
