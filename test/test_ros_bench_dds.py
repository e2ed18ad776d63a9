"""DDS image benchmark: the summary maths (fast) and one short real run (slow)."""
import pytest

from orion_lite_ros.bench.dds_images import BenchConfig, main, summarise
from orion_lite_ros.layout import CAMERA_NAMES


def test_summary_counts_only_the_measurement_window():
    pub = {'measure_from_ns': 1_000, 'end_ns': 1_000 + 2_000_000_000, 'sent_per_camera': 4,
           'publish_ms_p50': 1.0}
    records = {c: [] for c in CAMERA_NAMES}
    records['CAM_FRONT'] = [(500, 600, 1),                       # warm-up: ignored
                            (1_000, 3_001_000, 1), (2_000, 5_002_000, 1)]
    summary = summarise(pub, records, BenchConfig())
    front = summary['cameras']['CAM_FRONT']
    assert (front['received'], front['sent']) == (2, 4)
    assert front['delivery_ratio'] == 0.5 and front['rate_hz'] == 1.0
    assert front['latency_ms_p50'] == pytest.approx(4.0)
    assert summary['delivery_ratio_min'] == 0.0
    assert summary['cameras']['CAM_BACK']['latency_ms_p50'] is None


@pytest.mark.slow
@pytest.mark.ros
def test_short_run_delivers_with_profile(tmp_path):
    out = tmp_path / 'dds.json'
    assert main(['--profile', 'on', '--seconds', '2', '--out', str(out), '--domain-id', '91']) == 0
    import json
    summary = json.loads(out.read_text())
    assert summary['delivery_ratio_mean'] > 0.9
    assert len(summary['machine']['loadavg_before']) == 3
