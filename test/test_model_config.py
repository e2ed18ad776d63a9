"""Config presets and JSON round trip."""
import json

import pytest

from orion_lite_ros.model import OrionLiteConfig


@pytest.mark.parametrize('name', ['mini', 'orion_lite'])
def test_round_trip_json(name):
    cfg = OrionLiteConfig.preset(name)
    again = OrionLiteConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert again == cfg


def test_paper_values():
    cfg = OrionLiteConfig.orion_lite()
    assert (cfg.encoder.img_h, cfg.encoder.img_w, cfg.encoder.embed_dim) == (640, 640, 1024)
    assert cfg.encoder.global_blocks == tuple(range(2, 24, 3))
    assert cfg.qtformer.num_det_queries == 600 and cfg.qtformer.num_lane_queries == 1800
    assert cfg.student.hidden_dim == 1024 and cfg.num_tokens == 529


def test_unknown_fields_and_presets_rejected():
    data = OrionLiteConfig.mini().to_dict()
    data['student']['bogus'] = 1
    with pytest.raises(ValueError, match='bogus'):
        OrionLiteConfig.from_dict(data)
    with pytest.raises(ValueError, match='preset'):
        OrionLiteConfig.preset('huge')


def test_planner_output_frame_round_trip_and_default():
    from dataclasses import replace
    cfg = OrionLiteConfig.mini()
    assert cfg.planner.output_frame == 'rep103'
    official = replace(cfg, planner=replace(cfg.planner, output_frame='right_forward'))
    data = json.loads(json.dumps(official.to_dict()))
    assert data['planner']['output_frame'] == 'right_forward'
    assert OrionLiteConfig.from_dict(data) == official
    del data['planner']['output_frame']                   # config.json written before the field
    assert OrionLiteConfig.from_dict(data).planner.output_frame == 'rep103'
    data['planner']['output_frame'] = 'left_back'
    with pytest.raises(ValueError, match='output_frame'):
        OrionLiteConfig.from_dict(data)
