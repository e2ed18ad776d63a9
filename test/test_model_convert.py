"""Converter of the authors' fused checkpoint, against the shipped key manifest."""
import re

import pytest
import torch

from orion_lite_ros.cli import convert as convert_cli
from orion_lite_ros.model import OrionLite, OrionLiteConfig
from orion_lite_ros.model.checkpoint import load_checkpoint
from orion_lite_ros.model.convert import (
    canonical_alias,
    convert_official_state,
    load_manifest,
    rename,
)


@pytest.fixture(scope='module')
def manifest():
    return load_manifest()


def test_all_manifest_keys_map_onto_paper_model(manifest):
    """Every one of the 1266 keys is mapped, dropped as an alias / derived buffer, or a
    checked constant; shapes agree with the paper-scale model (meta device)."""
    shapes, notes = manifest
    assert len(shapes) == 1266
    with torch.device('meta'):
        model = OrionLite(OrionLiteConfig.orion_lite())
    state = {k: torch.empty(v, device='meta') for k, v in shapes.items()}
    report = convert_official_state(state, model)
    assert report.ok, report.summary()
    total = len(report.renamed) + len(report.aliases) + len(report.derived)
    assert total + len(report.constants) == 1266
    assert len(report.state) == len(model.state_dict())


def test_alias_rules_match_manifest(manifest):
    _, notes = manifest
    for alias, canon in notes['aliases'].items():
        assert canonical_alias(alias) == canon, alias


def test_rename_examples():
    assert rename('pts_bbox_head.transformer.query_decoder._layers.5.transformer_layers.4.'
                  '_layers.3.weight') == ('qt_former.pts_bbox_head.decoder.layers.5.ffn.'
                                          '_layers.3.weight')
    assert rename('map_head.transformer.query_decoder._layers.0.transformer_layers.2.attn.'
                  'in_proj_bias') == ('qt_former.map_head.decoder.layers.0.cross_attn.attn.'
                                     'in_proj_bias')
    assert rename('pts_bbox_head.memory_decoder_mq._layers.0.transformer_layers.0.attn.'
                  'out_proj.weight') == ('qt_former.pts_bbox_head.memory_decoder_mq.layers.0.'
                                         'attn.attn.out_proj.weight')
    assert rename('student_model.planning_query') == 'student_model.planning_query'
    assert rename('lm_head.weight') is None


def _mini_official_layout():
    """The mini preset without our route/ego token (a key the official layout lacks)."""
    from dataclasses import replace

    from orion_lite_ros.model.config import NavConfig
    return replace(OrionLiteConfig.mini(), nav=NavConfig(enabled=False))


def _scaled_official_state(model: OrionLite, shapes) -> dict:
    """A synthetic fused state dict for the mini model, built by running the manifest's key
    layout backwards: our keys -> official names, plus aliases, rope copies, constants."""
    ours = model.state_dict()
    inverse = {}
    for key in shapes:
        if canonical_alias(key) is None and rename(key) in ours:
            inverse[rename(key)] = key
    state = {inverse[k]: v.clone() for k, v in ours.items()}
    for key in shapes:
        canon = canonical_alias(key)
        if canon in state:
            state[key] = state[canon].clone()
    return state


def test_synthetic_fused_checkpoint_loads_bit_exact(tmp_path, manifest):
    """Mini-size tensors under the official names (ORION's depth 24 / 6 branches do not
    exist at mini scale, so only the keys the mini model has are written)."""
    shapes, _ = manifest
    torch.manual_seed(5)
    cfg = _mini_official_layout()
    src = OrionLite(cfg)
    state = _scaled_official_state(src, shapes)
    state['lm_head.weight'] = torch.zeros(2)
    dst = OrionLite(cfg)
    report = convert_official_state(state, dst)
    assert report.unmapped == ['lm_head.weight'] and not report.missing
    del state['lm_head.weight']
    report = convert_official_state(state, dst)
    assert report.ok, report.summary()
    dst.load_state_dict(report.state, strict=True)
    assert all(torch.equal(v, dst.state_dict()[k]) for k, v in src.state_dict().items())


def test_alias_disagreement_reported(manifest):
    shapes, _ = manifest
    cfg = _mini_official_layout()
    model = OrionLite(cfg)
    state = _scaled_official_state(model, shapes)
    key = next(k for k in state if re.match(r'map_head\.query_pos\.0\.weight', k))
    state[key] = state[key] + 1.0
    report = convert_official_state(state, model)
    assert not report.ok and any('map_head.query_pos.0.weight' in m for m in report.mismatched)


def test_convert_cli(tmp_path, manifest):
    shapes, _ = manifest
    torch.manual_seed(9)
    src = OrionLite(_mini_official_layout())
    state = _scaled_official_state(src, shapes)
    torch.save({'state_dict': state, 'meta': {'student_key_prefix': 'student_model.'}},
               tmp_path / 'fused.pth')
    assert convert_cli.main([str(tmp_path / 'fused.pth'), str(tmp_path / 'out'),
                             '--preset', 'mini']) == 0
    loaded, cfg = load_checkpoint(tmp_path / 'out')
    assert torch.equal(loaded.student_model.planning_query, src.student_model.planning_query)
    assert cfg.planner.output_frame == 'right_forward'


def test_official_fused_checkpoint_is_marked_right_forward(tmp_path, manifest):
    """Official weights emit (x right, y forward); the loaded model says so and converts."""
    from orion_lite_ros.model.checkpoint import load_official_fused, save_checkpoint
    shapes, _ = manifest
    torch.manual_seed(11)
    src = OrionLite(_mini_official_layout())
    torch.save({'state_dict': _scaled_official_state(src, shapes)}, tmp_path / 'fused.pth')
    model, cfg = load_official_fused(tmp_path / 'fused.pth', cfg=_mini_official_layout())
    assert cfg.planner.output_frame == 'right_forward'
    assert model.student_model.cfg.planner.output_frame == 'right_forward'
    tokens = torch.randn(1, cfg.num_tokens, cfg.token_dim)
    with torch.no_grad():
        raw = src.student_model.eval()(tokens, torch.tensor([2]), noise='mean')['all_modes']
        ours = model.student_model.eval()(tokens, torch.tensor([2]), noise='mean')['all_modes']
    assert torch.allclose(ours, torch.stack([raw[..., 1], -raw[..., 0]], -1))
    save_checkpoint(tmp_path / 'ours', model, cfg)         # the mark survives our format
    assert load_checkpoint(tmp_path / 'ours')[1].planner.output_frame == 'right_forward'
