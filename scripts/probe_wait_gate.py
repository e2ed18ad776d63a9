"""Issue 16 probe of a go/wait-gated student on its validation split: the gate's wait
probability on frames at rest, split by what the expert does next (stays / drives off), with
the views as recorded, black, and with the ego speed read as 0 (eval/sensitivity.py).

  python scripts/probe_wait_gate.py --config config/train_episodes.yaml KEY=VALUE ... \
      init_checkpoint=RUN/export [--out results.json]
(the same overrides as the run's training, so that the sample cache is found.)"""
import argparse
import json
import sys

import torch

from orion_lite_ros.eval.sensitivity import PERTURBATIONS
from orion_lite_ros.training.build import build_datasets, build_model
from orion_lite_ros.training.config import load_config
from orion_lite_ros.training.losses import wait_labels
from orion_lite_ros.training.trainer import batch_ego_speed, forward_model


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument('--config', required=True)
    ap.add_argument('--out', default='')
    ap.add_argument('--rest-speed', type=float, default=0.5, help='m/s: "at rest" below this')
    ap.add_argument('overrides', nargs='*')
    args = ap.parse_args(argv)
    cfg = load_config(args.config, args.overrides)
    _, val = build_datasets(cfg)
    model, _, _ = build_model(cfg)
    model.eval()
    loader = torch.utils.data.DataLoader(val, batch_size=32, shuffle=False, num_workers=0)
    views = {'recorded': lambda b: b, 'black_views': PERTURBATIONS['black_views'],
             'ego_stopped': PERTURBATIONS['ego_stopped']}
    probs = {k: [] for k in views}
    decisions = {k: [] for k in views}      # the gate's own decision (planner.wait_threshold)
    labels, speeds = [], []
    with torch.no_grad():
        for batch in loader:
            wait, has = wait_labels(batch['gt_future'], batch['gt_mask'].float(),
                                    cfg.loss.wait_travel_m, cfg.loss.wait_horizon)
            labels.append(wait[has])
            speeds.append(batch_ego_speed(batch)[has])
            for name, fn in views.items():
                out = forward_model(model, fn(dict(batch)), cfg.target, mean_plan=True,
                                    with_gt=False)
                probs[name].append(out['wait_prob'][has].float())
                decisions[name].append(out['wait'][has].float())
    label, speed = torch.cat(labels), torch.cat(speeds)
    rest = speed < args.rest_speed
    result = {'frames': int(label.numel()), 'at_rest': int(rest.sum()),
              'rest_stay': int((rest & (label > 0)).sum()),
              'rest_go': int((rest & (label == 0)).sum())}
    for name in views:
        p, d = torch.cat(probs[name]), torch.cat(decisions[name])
        for part, mask in (('moving', ~rest), ('rest_stay', rest & (label > 0)),
                           ('rest_go', rest & (label == 0))):
            if mask.any():
                result[f'{name}_{part}_wait_prob'] = round(float(p[mask].mean()), 4)
                result[f'{name}_{part}_wait_rate'] = round(float(d[mask].mean()), 4)
    print(json.dumps(result, indent=1))
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(result, f, indent=1)
    return 0


if __name__ == '__main__':
    sys.exit(main())
