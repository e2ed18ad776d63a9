"""Input-sensitivity checks (eval/sensitivity.py): a planner that reads only the route target
moves under the target checks and not under the view checks."""
import numpy as np
import torch

from orion_lite_ros.eval.sensitivity import frame_sensitivity, sensitivity
from orion_lite_ros.types import EgoState, FrameInputs


def _batch(target_y=0.0):
    return {'images': torch.rand(3, 6, 3, 8, 16), 'can_bus': torch.zeros(3, 18),
            'target_point': torch.tensor([[15.0, target_y]] * 3)}


def _target_planner(batch):
    t = torch.arange(1, 7, dtype=torch.float32)
    return torch.stack([t[None].expand(3, 6), batch['target_point'][:, 1:2] * t / 6], -1)


def test_target_reading_planner_moves_only_under_target_checks():
    out = sensitivity(_target_planner, _batch(0.0))
    assert out['frames'] == 3.0
    assert out['black_views'] == 0.0 and out['mirror_views'] == 0.0
    assert out['ego_stopped'] == 0.0
    assert out['mirror_target'] == 0.0                     # straight ahead: mirror is blind
    assert np.isclose(out['shift_target'], 3 * 5.0)        # summed over 3 frames, 5 m each
    assert np.isclose(sensitivity(_target_planner, _batch(2.0))['mirror_target'], 3 * 4.0)


def test_frame_checks_on_planner_inputs():
    frame = FrameInputs(stamp_ns=0, images=np.full((6, 8, 16, 3), 100, np.uint8),
                        intrinsics=np.repeat(np.eye(3)[None], 6, 0),
                        cam_to_ego=np.repeat(np.eye(4)[None], 6, 0),
                        ego=EgoState(0, 0.0, 0.0, 0.0, 0.0, 5.0), command=3,
                        target_point=np.array([15.0, 1.0]))

    def plan(f):
        return np.stack([np.full(6, f.ego.vx_mps), np.full(6, f.target_point[1])], -1)
    out = frame_sensitivity(plan, frame)
    assert out['black_views'] == 0.0 and out['mirror_views'] == 0.0
    assert np.isclose(out['ego_stopped'], 5.0) and np.isclose(out['mirror_target'], 2.0)
    assert np.isclose(out['shift_target'], 5.0)
