"""Perception supervision (training/perception.py): targets from teacher tokens, matching,
losses that are ~0 for a perfect prediction and grow with the error."""
import numpy as np
import torch

from orion_lite_ros.model import geometry
from orion_lite_ros.training import perception as P


def _tokens():
    agents = np.zeros((4, 7), np.float32)
    agents[0] = [10.0, 2.0, 0.3, 4.5, 2.0, 5.0, 0]        # car ahead-left, 5 m/s
    agents[1] = [6.0, -3.0, 1.5, 0.6, 0.6, 1.0, 1]        # pedestrian
    signals = np.zeros((2, 8), np.float32)
    signals[0] = [20.0, 0.0, 20.0, 0, 1, 0, 0, 0]          # red light on the route
    return agents, np.array([1, 1, 0, 0], bool), signals, np.array([1, 0], bool)


def test_object_targets_classes_and_states():
    objects, mask = P.object_targets(*_tokens(), max_objects=6)
    assert mask.tolist() == [True, True, True, False, False, False]
    assert objects[:3, 5].tolist() == [P.CAR, P.PEDESTRIAN, P.TRAFFIC_LIGHT]
    assert np.allclose(objects[0, 6:8], [5 * np.cos(0.3), 5 * np.sin(0.3)])
    assert objects[2, 8:12].tolist() == [1, 0, 0, 1]                   # red, affects ego


def _perfect_outputs(objects, mask, queries=8):
    """Predictions that put queries 5..7 exactly on the three objects (LiDAR frame)."""
    logits = torch.full((1, queries, 9), -8.0)
    boxes = torch.zeros(1, queries, 10)
    traffic = torch.full((1, queries, 4), -8.0)
    for q, row in zip(range(5, 8), torch.as_tensor(objects[mask])):
        logits[0, q, int(row[5])] = 8.0
        centre = geometry.rep103_to_head(row[:2] + torch.tensor([0.39, 0.0]))
        yaw = row[2] + np.pi / 2
        boxes[0, q, :2] = centre
        boxes[0, q, 3] = row[3].log()
        boxes[0, q, 6:8] = torch.stack([yaw.sin(), yaw.cos()])
        boxes[0, q, 8:10] = geometry.rep103_to_head(row[6:8])
        traffic[0, q] = torch.where(row[8:12] > 0, 8.0, -8.0)
    return {'cls_scores': logits, 'bbox_preds': boxes, 'traffic_states': traffic}


def test_detection_loss_zero_for_perfect_and_grows_with_error():
    objects, mask = P.object_targets(*_tokens(), max_objects=6)
    gt, gm = torch.as_tensor(objects)[None], torch.as_tensor(mask)[None]
    out = _perfect_outputs(objects, mask)
    good = P.detection_loss(out, gt, gm)
    assert good['det_box'] < 1e-4 and good['det_cls'] < 1e-3 and good['det_traffic'] < 1e-2
    out['bbox_preds'][0, 5:8, :2] += 3.0
    bad = P.detection_loss(out, gt, gm)
    assert bad['det_box'] > 0.5


def test_detection_loss_backpropagates_and_handles_empty_frames():
    logits = torch.zeros(2, 8, 9, requires_grad=True)
    boxes = torch.zeros(2, 8, 10, requires_grad=True)
    out = {'cls_scores': logits, 'bbox_preds': boxes, 'traffic_states': torch.zeros(2, 8, 4)}
    objects, mask = P.object_targets(*_tokens(), max_objects=6)
    gt = torch.as_tensor(np.stack([objects, np.zeros_like(objects)]))
    gm = torch.as_tensor(np.stack([mask, np.zeros_like(mask)]))
    terms = P.detection_loss(out, gt, gm)
    (terms['det_cls'] + terms['det_box']).backward()
    assert boxes.grad[0].abs().sum() > 0 and boxes.grad[1].abs().sum() == 0
    assert torch.isfinite(logits.grad).all()


def test_map_loss_matches_lanes():
    lanes = torch.tensor([[[0.0, 2.0], [20.0, 2.0]], [[0.0, -2.0], [20.0, -2.0]]])[None]
    valid = torch.tensor([[True, True]])
    pts = P.resample_polyline(lanes[0], 11)
    lidar = P._ego_to_lidar_xy(pts)                                      # (2, 11, 2)
    preds = torch.zeros(1, 4, 11, 3)
    preds[0, 2, :, :2] = lidar[1]
    preds[0, 3, :, :2] = lidar[0]
    logits = torch.full((1, 4, 6), -8.0)
    logits[0, 2:, P.LANE_BOUNDARY_CLASS] = 8.0
    out = {'lane_cls_one2one': logits, 'lane_preds_one2one': preds.flatten(-2)}
    terms = P.map_loss(out, lanes, valid)
    assert terms['map_pts'] < 1e-5 and terms['map_cls'] < 1e-3
    out['lane_preds_one2one'] = (preds + 1.0).flatten(-2)
    assert P.map_loss(out, lanes, valid)['map_pts'] > 0.1
