"""Six 1600x900 rgb8 cameras at 10 Hz between two processes: delivery rate and latency.

    python -m orion_lite_ros.bench.dds_images --profile on --seconds 10 \
        --out results/dds_images_profile_on.json

The driver starts a subscriber process and a publisher process (the venv's python, so the
ros-wheels bootstrapper's re-exec is harmless) with a private ROS_DOMAIN_ID, loopback-only
discovery and, with ``--profile on``, our Fast DDS profile (config/fastdds_loopback.xml).
Latency = receive wall time - header stamp (set just before publish()).
rclpy is imported only inside the worker processes.
"""
import argparse
from dataclasses import asdict, dataclass
import json
import os
from pathlib import Path
import platform
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, Optional

import numpy as np

from orion_lite_ros.layout import CAMERA_NAMES
from orion_lite_ros.ros.dds import dds_environment

TOPIC_FMT = '/bench/{}/image'


@dataclass(frozen=True)
class BenchConfig:
    profile: bool = True
    seconds: float = 10.0
    warmup_s: float = 2.0
    rate_hz: float = 10.0
    width_px: int = 1600
    height_px: int = 900
    depth: int = 2                  # RELIABLE, KEEP_LAST depth (ros2-runtime facts)
    domain_id: int = 87
    discovery_timeout_s: float = 15.0


def _qos(depth: int):
    from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
    return QoSProfile(depth=depth, history=HistoryPolicy.KEEP_LAST,
                      reliability=ReliabilityPolicy.RELIABLE)


def _wait_for_subscribers(node, publishers, timeout_s: float) -> None:
    import rclpy
    deadline = time.monotonic() + timeout_s
    while any(p.get_subscription_count() < 1 for p in publishers):
        if time.monotonic() > deadline:
            raise TimeoutError('subscriber not discovered')
        rclpy.spin_once(node, timeout_sec=0.05)


def run_publisher(cfg: BenchConfig) -> Dict:
    """Publish until warm-up + measurement are over; returns the measured window."""
    import rclpy
    from sensor_msgs.msg import Image

    from orion_lite_ros.ros.image_codec import rgb_to_image
    rclpy.init()
    node = rclpy.create_node('dds_images_pub')
    pubs = [node.create_publisher(Image, TOPIC_FMT.format(c), _qos(cfg.depth))
            for c in CAMERA_NAMES]
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 255, (cfg.height_px, cfg.width_px, 3), dtype=np.uint8)
    msgs = [rgb_to_image(frame, frame_id=c) for c in CAMERA_NAMES]
    _wait_for_subscribers(node, pubs, cfg.discovery_timeout_s)
    period_ns = int(1e9 / cfg.rate_hz)
    start_ns = time.time_ns()
    measure_from_ns = start_ns + int(cfg.warmup_s * 1e9)
    end_ns = measure_from_ns + int(cfg.seconds * 1e9)
    sent, publish_s, tick = 0, [], 0
    while True:
        tick_ns = start_ns + tick * period_ns
        if tick_ns >= end_ns:
            break
        time.sleep(max(0.0, (tick_ns - time.time_ns()) / 1e9))
        for pub, msg in zip(pubs, msgs):
            now_ns = time.time_ns()
            msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(now_ns, 1_000_000_000)
            pub.publish(msg)
            publish_s.append((time.time_ns() - now_ns) / 1e9)
        sent += tick_ns >= measure_from_ns
        tick += 1
    time.sleep(0.5)   # let RELIABLE retransmissions finish before the writer goes away
    node.destroy_node()
    rclpy.shutdown()
    return {'measure_from_ns': measure_from_ns, 'end_ns': end_ns, 'sent_per_camera': sent,
            'publish_ms_p50': 1e3 * float(np.median(publish_s))}


def run_subscriber(cfg: BenchConfig, stop_file: Path) -> Dict:
    """Record (stamp, receive time) per camera until ``stop_file`` appears."""
    import rclpy
    from sensor_msgs.msg import Image
    rclpy.init()
    node = rclpy.create_node('dds_images_sub')
    records: Dict[str, List] = {c: [] for c in CAMERA_NAMES}

    def make_callback(camera: str):
        def callback(msg: Image) -> None:
            received_ns = time.time_ns()
            stamp_ns = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
            records[camera].append((stamp_ns, received_ns, len(msg.data)))
        return callback

    subs = [node.create_subscription(Image, TOPIC_FMT.format(c), make_callback(c),
                                     _qos(cfg.depth)) for c in CAMERA_NAMES]
    print('READY', flush=True)
    deadline = time.monotonic() + cfg.discovery_timeout_s + cfg.warmup_s + cfg.seconds + 30
    while not stop_file.exists() and time.monotonic() < deadline:
        rclpy.spin_once(node, timeout_sec=0.05)
    del subs
    node.destroy_node()
    rclpy.shutdown()
    return records


def summarise(pub: Dict, records: Dict[str, List], cfg: BenchConfig) -> Dict:
    """Per-camera delivery and latency inside the publisher's measurement window."""
    window_s = (pub['end_ns'] - pub['measure_from_ns']) / 1e9
    cameras, all_latency = {}, []
    for camera, rows in records.items():
        inside = [(s, r) for s, r, _ in rows if pub['measure_from_ns'] <= s < pub['end_ns']]
        latency_ms = [(r - s) / 1e6 for s, r in inside]
        all_latency += latency_ms
        cameras[camera] = {
            'received': len(inside), 'sent': pub['sent_per_camera'],
            'delivery_ratio': len(inside) / max(1, pub['sent_per_camera']),
            'rate_hz': len(inside) / window_s,
            **_percentiles(latency_ms),
        }
    ratios = [c['delivery_ratio'] for c in cameras.values()]
    return {'config': asdict(cfg), 'window_s': window_s, 'cameras': cameras,
            'delivery_ratio_min': min(ratios), 'delivery_ratio_mean': float(np.mean(ratios)),
            'rate_hz_mean': float(np.mean([c['rate_hz'] for c in cameras.values()])),
            'latency_all': _percentiles(all_latency), 'publish_ms_p50': pub['publish_ms_p50']}


def _percentiles(latency_ms: List[float]) -> Dict:
    if not latency_ms:
        return {'latency_ms_p50': None, 'latency_ms_p99': None, 'latency_ms_max': None}
    values = np.asarray(latency_ms)
    return {'latency_ms_p50': float(np.percentile(values, 50)),
            'latency_ms_p99': float(np.percentile(values, 99)),
            'latency_ms_max': float(values.max())}


def _worker(role: str, cfg: BenchConfig, workdir: Path, env: Dict) -> subprocess.Popen:
    cmd = [sys.executable, '-m', 'orion_lite_ros.bench.dds_images', '--role', role,
           '--workdir', str(workdir), '--config-json', json.dumps(asdict(cfg))]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True)


def run_benchmark(cfg: BenchConfig) -> Dict:
    """Drive both worker processes and return the summary (with machine load)."""
    env = dds_environment(use_profile=cfg.profile, domain_id=cfg.domain_id)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix='dds_images_') as tmp:
        workdir = Path(tmp)
        sub = _worker('sub', cfg, workdir, env)
        if sub.stdout.readline().strip() != 'READY':
            sub.kill()
            raise RuntimeError('subscriber process failed to start')
        pub = _worker('pub', cfg, workdir, env)
        pub.communicate(timeout=cfg.discovery_timeout_s + cfg.warmup_s + cfg.seconds + 60)
        time.sleep(1.0)
        (workdir / 'stop').touch()
        sub.communicate(timeout=30)
        if pub.returncode or sub.returncode:
            raise RuntimeError(f'worker failed: pub rc {pub.returncode}, sub rc {sub.returncode}')
        pub_result = json.loads((workdir / 'pub.json').read_text())
        records = json.loads((workdir / 'sub.json').read_text())
    summary = summarise(pub_result, records, cfg)
    summary['machine'] = {'loadavg_before': load_before, 'loadavg_after': os.getloadavg(),
                          'cpu_count': os.cpu_count(), 'platform': platform.platform(),
                          'python': platform.python_version()}
    summary['profile_file'] = env.get('FASTDDS_DEFAULT_PROFILES_FILE')
    return summary


def _parse(argv: Optional[List[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--profile', choices=('on', 'off'), default='on')
    parser.add_argument('--seconds', type=float, default=BenchConfig.seconds)
    parser.add_argument('--depth', type=int, default=BenchConfig.depth)
    parser.add_argument('--domain-id', type=int, default=BenchConfig.domain_id)
    parser.add_argument('--out', type=Path, default=None)
    parser.add_argument('--role', choices=('driver', 'pub', 'sub'), default='driver',
                        help=argparse.SUPPRESS)
    parser.add_argument('--workdir', type=Path, help=argparse.SUPPRESS)
    parser.add_argument('--config-json', help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    args = _parse(argv)
    if args.role == 'pub':
        cfg = BenchConfig(**json.loads(args.config_json))
        (args.workdir / 'pub.json').write_text(json.dumps(run_publisher(cfg)))
        return 0
    if args.role == 'sub':
        cfg = BenchConfig(**json.loads(args.config_json))
        records = run_subscriber(cfg, args.workdir / 'stop')
        (args.workdir / 'sub.json').write_text(json.dumps(records))
        return 0
    cfg = BenchConfig(profile=args.profile == 'on', seconds=args.seconds, depth=args.depth,
                      domain_id=args.domain_id)
    summary = run_benchmark(cfg)
    text = json.dumps(summary, indent=2)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + '\n')
    print(text)
    return 0


if __name__ == '__main__':
    sys.exit(main())
