"""Issue 16 probe of a go/wait-gated student on its validation split: the gate's wait
probability on frames at rest, split by what the expert does next (stays / drives off), with
the views as recorded, black, and with the ego speed read as 0 (eval/sensitivity.py); the
frames at rest also by the state of the nearest traffic light ahead (ground truth: red / green
/ none), with the model's own reading of it (the red probability of its most confident
traffic-light query).

  python scripts/probe_wait_gate.py --config config/train_episodes.yaml KEY=VALUE ... \
      init_checkpoint=RUN/export [--out results.json]
(the same overrides as the run's training, so that the sample cache is found.)"""
import argparse
import json
import sys

import torch

from orion_lite_ros.eval.sensitivity import PERTURBATIONS
from orion_lite_ros.model.student import light_features
from orion_lite_ros.training.build import validation_model
from orion_lite_ros.training.config import load_config
from orion_lite_ros.training.losses import wait_labels
from orion_lite_ros.training.perception import TRAFFIC_LIGHT
from orion_lite_ros.training.trainer import batch_ego_speed, forward_model


def light_state(objects: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(B, K, 12) ground-truth objects -> (B,) state of the nearest traffic light ahead:
    0 none, 1 red (or amber), 2 green."""
    light = mask.bool() & (objects[..., 5] == TRAFFIC_LIGHT) & (objects[..., 0] > -2.0)
    dist = torch.where(light, objects[..., :2].norm(dim=-1), torch.full_like(objects[..., 0], 1e9))
    nearest = dist.argmin(-1)
    row = objects[torch.arange(len(objects)), nearest]
    state = torch.where(row[:, 10] > 0.5, 2, 1)
    return torch.where(light.any(-1), state, torch.zeros_like(state))


def model_red(out: dict) -> torch.Tensor:
    """(B,) red probability of the model's most confident traffic-light query (the light the
    gate reads with planner.wait_gate_lights)."""
    return light_features(out['cls_scores'].float(), out['traffic_states'].float())[:, 1].sigmoid()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument('--config', required=True)
    ap.add_argument('--out', default='')
    ap.add_argument('--rest-speed', type=float, default=0.5, help='m/s: "at rest" below this')
    ap.add_argument('overrides', nargs='*')
    args = ap.parse_args(argv)
    cfg = load_config(args.config, args.overrides)
    val, model = validation_model(cfg)
    loader = torch.utils.data.DataLoader(val, batch_size=32, shuffle=False, num_workers=0)
    views = {'recorded': lambda b: b, 'black_views': PERTURBATIONS['black_views'],
             'ego_stopped': PERTURBATIONS['ego_stopped']}
    probs = {k: [] for k in views}
    decisions = {k: [] for k in views}      # the gate's own decision (planner.wait_threshold)
    labels, speeds, lights, reds = [], [], [], []
    with torch.no_grad():
        for batch in loader:
            wait, has = wait_labels(batch['gt_future'], batch['gt_mask'].float(),
                                    cfg.loss.wait_travel_m, cfg.loss.wait_horizon)
            labels.append(wait[has])
            speeds.append(batch_ego_speed(batch)[has])
            lights.append(light_state(batch['gt_objects'], batch['gt_objects_mask'])[has])
            for name, fn in views.items():
                out = forward_model(model, fn(dict(batch)), cfg.target, mean_plan=True,
                                    with_gt=False)
                probs[name].append(out['wait_prob'][has].float())
                decisions[name].append(out['wait'][has].float())
                if name == 'recorded':
                    reds.append(model_red(out)[has])
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
    light, red = torch.cat(lights), torch.cat(reds)
    p, d = torch.cat(probs['recorded']), torch.cat(decisions['recorded'])
    for part, mask in (('rest_stay', rest & (label > 0)), ('rest_go', rest & (label == 0))):
        for code, state in ((0, 'no_light'), (1, 'red'), (2, 'green')):
            m = mask & (light == code)
            result[f'{part}_{state}_frames'] = int(m.sum())
            if m.any():
                result[f'{part}_{state}_wait_prob'] = round(float(p[m].mean()), 4)
                result[f'{part}_{state}_wait_rate'] = round(float(d[m].mean()), 4)
                q = torch.quantile(p[m], torch.tensor([0.1, 0.5, 0.9]))
                result[f'{part}_{state}_wait_prob_p10_p50_p90'] = [round(float(v), 4) for v in q]
                result[f'{part}_{state}_model_red_prob'] = round(float(red[m].mean()), 4)
    for code, state in ((1, 'red'), (2, 'green')):
        m = light == code
        if m.any():
            result[f'all_{state}_frames'] = int(m.sum())
            result[f'all_{state}_model_red_prob'] = round(float(red[m].mean()), 4)
    print(json.dumps(result, indent=1))
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(result, f, indent=1)
    return 0


if __name__ == '__main__':
    sys.exit(main())
