"""Issue 16 probe of a student's speed behaviour on its validation split
(orion_lite_ros/eval/speed_profile.py): planned vs expert vs constant-velocity distance at 3 s
by ego speed, the same with the acceleration inputs zeroed (a car cruising in closed loop reads
~0), and a sweep of the speed input (acceleration zeroed) on the moving frames.

  python scripts/probe_speed_profile.py --config config/train_episodes.yaml KEY=VALUE ... \
      init_checkpoint=RUN/export [--every 3] [--out results.json]
(the same overrides as the run's training, so that the sample cache is found.)"""
import argparse
import json
import sys

import torch

from orion_lite_ros.eval.speed_profile import speed_profile, speed_sweep
from orion_lite_ros.training.build import validation_model
from orion_lite_ros.training.config import load_config
from orion_lite_ros.training.trainer import batch_ego_speed, forward_model

SWEEP_MPS = (0.0, 1.0, 2.0, 3.0, 4.0, 6.0, 8.0)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument('--config', required=True)
    ap.add_argument('--out', default='')
    ap.add_argument('--every', type=int, default=3, help='use every n-th validation frame')
    ap.add_argument('overrides', nargs='*')
    args = ap.parse_args(argv)
    cfg = load_config(args.config, args.overrides)
    val, model = validation_model(cfg)
    val = torch.utils.data.Subset(val, range(0, len(val), args.every))

    def plan(batch):
        return forward_model(model, batch, cfg.target, mean_plan=True, with_gt=False)['waypoints']

    loader = torch.utils.data.DataLoader(val, batch_size=32, shuffle=False, num_workers=0)
    plans, plans_a0, experts, masks, speeds = [], [], [], [], []
    sweep, sweep_frames = {}, 0
    with torch.no_grad():
        for batch in loader:
            plans.append(plan(batch))
            cb = batch['can_bus'].clone()
            cb[:, 10:12] = 0.0
            plans_a0.append(plan(dict(batch, can_bus=cb)))
            experts.append(batch['gt_future'])
            masks.append(batch['gt_mask'])
            speed = batch_ego_speed(batch)
            speeds.append(speed)
            moving = speed > 1.0
            if moving.any():
                sub = {k: v[moving] if torch.is_tensor(v) and v.shape[:1] == speed.shape else v
                       for k, v in batch.items()}
                n = int(moving.sum())
                for k, v in speed_sweep(plan, sub, SWEEP_MPS).items():
                    acc = sweep.setdefault(k, {})
                    for name, value in v.items():
                        acc[name] = acc.get(name, 0.0) + value * n
                sweep_frames += n
    plan_all, expert, mask, speed = (torch.cat(x) for x in (plans, experts, masks, speeds))
    result = {'frames': int(speed.numel()),
              'recorded': speed_profile(plan_all, expert, mask, speed),
              'accel_zeroed': speed_profile(torch.cat(plans_a0), expert, mask, speed),
              'speed_sweep_moving_frames': sweep_frames,
              'speed_sweep': {k: {name: round(value / max(sweep_frames, 1), 3)
                                  for name, value in v.items()} for k, v in sweep.items()}}
    print(json.dumps(result, indent=1))
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(result, f, indent=1)
    return 0


if __name__ == '__main__':
    sys.exit(main())
