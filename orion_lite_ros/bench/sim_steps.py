"""Embedded simulator throughput: steps/s with the six-camera rig rendered and without.

python -m orion_lite_ros.bench.sim_steps --out results/sim_steps.json
One step = expert control + physics/agents/infractions tick (+ six camera renders).
"""
import argparse
import json
import os
from pathlib import Path
import platform
import time

os.environ.setdefault('MUJOCO_GL', 'egl')

from orion_lite_ros.sim.backend import EmbeddedBackend, scenario_route  # noqa: E402
from orion_lite_ros.sim.config import SimConfig  # noqa: E402


def steps_per_second(render: bool, size_hw, family: str, seed: int, steps: int) -> dict:
    be = EmbeddedBackend(SimConfig(render=render, camera_height_px=size_hw[0],
                                   camera_width_px=size_hw[1]))
    t0 = time.perf_counter()
    be.load_route(scenario_route(family, seed))
    load_s = time.perf_counter() - t0
    n, render_s, done = 0, 0.0, False
    t0 = time.perf_counter()
    while n < steps and not done:
        t1 = time.perf_counter()
        be.sensors()
        render_s += time.perf_counter() - t1
        done = be.apply_and_tick(be.expert_control()).done
        n += 1
    total = time.perf_counter() - t0
    be.close()
    return {'render': render, 'size_hw': list(size_hw), 'scenario': family, 'seed': seed,
            'steps': n, 'steps_per_s': round(n / total, 1),
            'sensors_ms_per_step': round(1000 * render_s / n, 2), 'load_s': round(load_s, 3)}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--out', default='results/sim_steps.json')
    parser.add_argument('--steps', type=int, default=400)
    parser.add_argument('--family', default='red_light')
    parser.add_argument('--seed', type=int, default=1)
    args = parser.parse_args(argv)
    runs = [steps_per_second(True, (160, 256), args.family, args.seed, args.steps),
            steps_per_second(False, (160, 256), args.family, args.seed, args.steps)]
    result = {'machine': {'cpus': os.cpu_count(), 'platform': platform.platform(),
                          'mujoco_gl': os.environ.get('MUJOCO_GL', '')}, 'runs': runs}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + '\n')
    print(json.dumps(result, indent=2))


if __name__ == '__main__':
    main()
