"""The planner node end to end: cameras and odometry in over DDS, trajectory out.

    python -m orion_lite_ros.bench.planner_e2e --hw 900 1600 --rate 10 --seconds 20 \
        --checkpoint default --out results/planner_e2e_1600x900_10hz.json

Three processes on a private ROS_DOMAIN_ID, loopback-only discovery and our Fast DDS profile:
the planner node (`python -m orion_lite_ros.nodes.planner_node`, as `ros2 run` starts it), and
a driver that publishes six rgb8 cameras + odometry at `--rate` (stamped at publish time) and
records every trajectory. End-to-end latency = trajectory receive time - its header stamp (the
front camera's). `planned_ratio` = trajectories / input sets published in the window: below 1
the node does not keep up and plans the newest set. `--busy N` keeps N extra processes
spinning (a shared machine). Images are smooth scenes with sensor noise (JPEG costs as on real
images; uniform noise would cost 2-3x more to encode). `--jpeg-quality Q` publishes JPEG
CompressedImages instead (`image_transports: [compressed]`), as cameras with on-board JPEG
encoding send them; they are encoded once before the run (the camera's cost, not the
planner's).
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
from orion_lite_ros.nodes.common import EXECUTOR_ENV, EXECUTOR_KINDS
from orion_lite_ros.ros.dds import dds_environment


@dataclass(frozen=True)
class E2EConfig:
    seconds: float = 20.0
    warmup_s: float = 5.0
    rate_hz: float = 10.0
    height_px: int = 900
    width_px: int = 1600
    checkpoint: str = 'default'
    torch_threads: int = 0
    preprocess_threads: int = 0
    jpeg_decode: str = 'scaled'
    busy: int = 0
    jpeg_quality: int = 0               # 0: raw rgb8 Image; 1-100: JPEG CompressedImage
    compile: bool = False               # the node's `compile` parameter (torch.compile)
    precision: str = 'fp32'             # the node's `precision` parameter
    executor: str = ''                  # ORION_LITE_EXECUTOR of the node ('': its default)
    pipeline: bool = True               # the node's `pipeline` parameter (two model stages)
    domain_id: int = 88
    startup_timeout_s: float = 120.0


def natural_image(hw, seed: int = 0) -> np.ndarray:
    """(H, W, 3) uint8: a smooth random scene plus +-12 sensor noise."""
    from PIL import Image
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (max(2, hw[0] // 10), max(2, hw[1] // 10), 3), dtype=np.uint8)
    base = np.asarray(Image.fromarray(small).resize((hw[1], hw[0]), Image.BICUBIC), np.int16)
    return np.clip(base + rng.integers(-12, 12, base.shape), 0, 255).astype(np.uint8)


def planner_command(cfg: E2EConfig) -> List[str]:
    params = {'checkpoint': cfg.checkpoint, 'device': 'cpu', 'max_input_age_s': 2.0,
              'torch_threads': cfg.torch_threads, 'preprocess_threads': cfg.preprocess_threads,
              'jpeg_decode': cfg.jpeg_decode, 'diagnostics_period_s': 1.0}
    if cfg.jpeg_quality:
        params['image_transports'] = ['compressed']
    if cfg.compile:
        params['compile'] = True
    if cfg.precision != 'fp32':
        params['precision'] = cfg.precision
    if not cfg.pipeline:
        params['pipeline'] = False
    cmd = [sys.executable, '-m', 'orion_lite_ros.nodes.planner_node', '--ros-args']
    for k, v in params.items():
        cmd += ['-p', f'{k}:={json.dumps(v) if isinstance(v, (str, list, bool)) else v}']
    for c in CAMERA_NAMES:
        cmd += ['-r', f'~/input/cameras/{c}/image:=/e2e/{c}/image']
    return cmd + ['-r', '~/input/odometry:=/e2e/odom', '-r', '~/output/trajectory:=/e2e/traj']


def run_driver(cfg: E2EConfig) -> Dict:
    """Publish the inputs, collect the trajectories; returns the raw records."""
    from nav_msgs.msg import Odometry
    from nav_msgs.msg import Path as PathMsg
    import rclpy
    from sensor_msgs.msg import CompressedImage, Image

    from orion_lite_ros.nodes.common import RELIABLE_QOS, SENSOR_QOS
    from orion_lite_ros.ros.image_codec import rgb_to_compressed, rgb_to_image
    from orion_lite_ros.ros.time import ns_to_stamp, stamp_to_ns
    rclpy.init()
    node = rclpy.create_node('planner_e2e_driver')
    msg_type = CompressedImage if cfg.jpeg_quality else Image
    cams = [node.create_publisher(msg_type, f'/e2e/{c}/image', SENSOR_QOS)
            for c in CAMERA_NAMES]
    odom_pub = node.create_publisher(Odometry, '/e2e/odom', RELIABLE_QOS)
    received: List = []
    node.create_subscription(PathMsg, '/e2e/traj', lambda m: received.append(
        (stamp_to_ns(m.header.stamp), time.time_ns())), RELIABLE_QOS)
    images = [natural_image((cfg.height_px, cfg.width_px), i) for i in range(len(CAMERA_NAMES))]
    if cfg.jpeg_quality:
        msgs = [rgb_to_compressed(im, quality=cfg.jpeg_quality, frame_id=c)
                for im, c in zip(images, CAMERA_NAMES)]
    else:
        msgs = [rgb_to_image(im, frame_id=c) for im, c in zip(images, CAMERA_NAMES)]
    odom = Odometry()
    odom.header.frame_id, odom.child_frame_id = 'map', 'base_link'
    odom.pose.pose.orientation.w = 1.0
    odom.twist.twist.linear.x = 5.0
    deadline = time.monotonic() + cfg.startup_timeout_s
    while not (all(p.get_subscription_count() for p in cams) and node.count_publishers(
            '/e2e/traj')):
        if time.monotonic() > deadline:
            raise TimeoutError('planner node not discovered')
        rclpy.spin_once(node, timeout_sec=0.1)
    period_ns = int(1e9 / cfg.rate_hz)
    start_ns = time.time_ns()
    measure_from = start_ns + int(cfg.warmup_s * 1e9)
    end_ns = measure_from + int(cfg.seconds * 1e9)
    sent, tick = [], 0
    while True:
        tick_ns = start_ns + tick * period_ns
        if tick_ns >= end_ns:
            break
        while time.time_ns() < tick_ns:
            rclpy.spin_once(node, timeout_sec=max(0.0, (tick_ns - time.time_ns()) / 1e9))
        stamp = ns_to_stamp(time.time_ns())
        odom.header.stamp = stamp
        odom_pub.publish(odom)
        for pub, msg in zip(cams, msgs):
            msg.header.stamp = stamp
            pub.publish(msg)
        sent.append(stamp_to_ns(stamp))
        tick += 1
    drain = time.monotonic() + 3.0
    while time.monotonic() < drain:
        rclpy.spin_once(node, timeout_sec=0.05)
    node.destroy_node()
    rclpy.shutdown()
    return {'sent': sent, 'received': received, 'measure_from_ns': measure_from,
            'end_ns': end_ns}


def summarise(raw: Dict, cfg: E2EConfig) -> Dict:
    lo, hi = raw['measure_from_ns'], raw['end_ns']
    sent = [s for s in raw['sent'] if lo <= s < hi]
    lat = np.asarray([(r - s) / 1e6 for s, r in raw['received'] if lo <= s < hi])
    out = {'config': asdict(cfg), 'input_sets_sent': len(sent), 'trajectories': int(lat.size),
           'planned_ratio': round(lat.size / max(1, len(sent)), 3),
           'plans_per_s': round(lat.size / ((hi - lo) / 1e9), 2)}
    if lat.size:
        out['latency_ms'] = {f'p{q}': round(float(np.percentile(lat, q)), 1)
                             for q in (50, 90, 99)} | {'max': round(float(lat.max()), 1)}
    return out


def run_benchmark(cfg: E2EConfig) -> Dict:
    env = dds_environment(use_profile=True, domain_id=cfg.domain_id)
    busy = [subprocess.Popen([sys.executable, '-c', 'while True: pass'])
            for _ in range(cfg.busy)]
    planner_env = dict(env, **({EXECUTOR_ENV: cfg.executor} if cfg.executor else {}))
    planner = subprocess.Popen(planner_command(cfg), env=planner_env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    try:
        with tempfile.TemporaryDirectory(prefix='planner_e2e_') as tmp:
            out = Path(tmp) / 'driver.json'
            driver = subprocess.run(
                [sys.executable, '-m', 'orion_lite_ros.bench.planner_e2e', '--role', 'driver',
                 '--config-json', json.dumps(asdict(cfg)), '--raw-out', str(out)], env=env,
                timeout=cfg.startup_timeout_s + cfg.warmup_s + cfg.seconds + 60)
            if driver.returncode:
                raise RuntimeError(f'driver failed (rc {driver.returncode})')
            raw = json.loads(out.read_text())
    finally:
        planner.terminate()
        try:
            _, err = planner.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            planner.kill()
            _, err = planner.communicate()
        for p in busy:
            p.kill()
    summary = summarise(raw, cfg)
    summary['machine'] = {'cpu_count': os.cpu_count(), 'loadavg_after': os.getloadavg(),
                          'platform': platform.platform(), 'python': platform.python_version()}
    summary['planner_log_tail'] = (err or '').strip().splitlines()[-5:]
    return summary


def _parse(argv: Optional[List[str]]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--seconds', type=float, default=E2EConfig.seconds)
    p.add_argument('--rate', type=float, default=E2EConfig.rate_hz)
    p.add_argument('--hw', type=int, nargs=2, default=(900, 1600), metavar=('H', 'W'))
    p.add_argument('--checkpoint', default='default')
    p.add_argument('--threads', type=int, default=0, help='torch threads (0: engine policy)')
    p.add_argument('--preprocess-threads', type=int, default=0)
    p.add_argument('--jpeg-decode', default='scaled', choices=['scaled', 'full'])
    p.add_argument('--busy', type=int, default=0, help='extra busy processes (shared machine)')
    p.add_argument('--jpeg-quality', type=int, default=0,
                   help='publish JPEG CompressedImages of this quality (0: raw rgb8 Images)')
    p.add_argument('--compile', action='store_true',
                   help="the node's compile parameter (torch.compile; compiles at start-up)")
    p.add_argument('--precision', default='fp32', choices=['fp32', 'bf16'],
                   help="the node's precision parameter")
    p.add_argument('--executor', default='', choices=['', *EXECUTOR_KINDS],
                   help="the node's rclpy executor (ORION_LITE_EXECUTOR; '': its default)")
    p.add_argument('--no-pipeline', dest='pipeline', action='store_false',
                   help="the node's pipeline parameter off (model stages one after the other)")
    p.add_argument('--domain-id', type=int, default=E2EConfig.domain_id)
    p.add_argument('--out', type=Path, default=None)
    p.add_argument('--role', default='run', choices=['run', 'driver'], help=argparse.SUPPRESS)
    p.add_argument('--config-json', help=argparse.SUPPRESS)
    p.add_argument('--raw-out', type=Path, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> int:
    a = _parse(argv)
    if a.role == 'driver':
        a.raw_out.write_text(json.dumps(run_driver(E2EConfig(**json.loads(a.config_json)))))
        return 0
    cfg = E2EConfig(seconds=a.seconds, rate_hz=a.rate, height_px=a.hw[0], width_px=a.hw[1],
                    checkpoint=a.checkpoint, torch_threads=a.threads,
                    preprocess_threads=a.preprocess_threads, jpeg_decode=a.jpeg_decode,
                    busy=a.busy, jpeg_quality=a.jpeg_quality, compile=a.compile,
                    precision=a.precision, executor=a.executor, pipeline=a.pipeline,
                    domain_id=a.domain_id)
    summary = run_benchmark(cfg)
    text = json.dumps(summary, indent=1)
    if a.out:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(text + '\n')
    print(text)
    return 0


if __name__ == '__main__':
    sys.exit(main())
