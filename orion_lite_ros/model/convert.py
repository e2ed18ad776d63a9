"""The authors' fused checkpoint (`fused_ckpts/orion_lite.pth`) -> our OrionLite state dict.

File layout: {'state_dict': OrderedDict, 'meta': {...}} with keys `img_backbone.*`,
`pts_bbox_head.*`, `map_head.*`, `student_model.*` and top-level `query_pos`,
`time_embedding`, `ego_pose_pe`, `position_encoder`, `position_range`, `coords_d`
(key list: orion_lite_ros/data/orion_lite_fused_manifest.json). Rules, in order:
  1. derived buffers (rope tables, also one copy per block) -> dropped after a shape check;
  2. constants (position_range, coords_d; heads' code_weights / match_costs / pc_range)
     -> compared with our config, not loaded;
  3. aliases of shared modules (heads' query_pos / time_embedding / ego_pose_pe, branches
     1..5 repeating branch 0) -> checked equal to their canonical key, dropped;
  4. renames: QT-Former modules move under `qt_former.`, PETR decoder layers get our names;
     `img_backbone.*` and `student_model.*` keep theirs.
Anything else is reported as unmapped.

The official VAE head emits waypoints in ORION's Bench2Drive ego frame (x right, y forward:
its PID steers by pi/2 - atan2(y, x)); `official_config()` marks a config with
`planner.output_frame = 'right_forward'` so StudentPlanner converts to REP-103.
"""
from dataclasses import dataclass, field, replace
import json
from pathlib import Path
import re
from typing import Dict, List, Mapping, Optional, Tuple

import torch
from torch import nn

from orion_lite_ros.model.config import OrionLiteConfig

OFFICIAL_OUTPUT_FRAME = 'right_forward'
MANIFEST = Path(__file__).resolve().parents[1] / 'data' / 'orion_lite_fused_manifest.json'
QT_PREFIXES = ('query_pos.', 'time_embedding.', 'ego_pose_pe.', 'position_encoder.',
               'pts_bbox_head.', 'map_head.')
_ROPE = re.compile(r'^img_backbone\.(rope_(win|glb)|blocks\.(\d+)\.attn\.rope)\.freqs_(cos|sin)$')
_CONSTANT = re.compile(r'^((pts_bbox_head|map_head)\.(code_weights|match_costs|pc_range)|'
                       r'position_range|coords_d)$')
_SHARED_ALIAS = re.compile(r'^(pts_bbox_head|map_head)\.((query_pos|time_embedding|'
                           r'ego_pose_pe)\..*)$')
_BRANCH_ALIAS = re.compile(r'^(.*_branches)\.([1-9]\d*)\.(.*)$')
_PETR = re.compile(r'^(pts_bbox_head|map_head)\.transformer\.query_decoder\._layers\.(\d+)\.'
                   r'transformer_layers\.(\d+)\.(.*)$')
_SMALL = re.compile(r'^pts_bbox_head\.(motion_decoder|memory_decoder_cq|memory_decoder_mq)\.'
                    r'_layers\.(\d+)\.transformer_layers\.(\d+)\.(.*)$')
# official operation index -> our sub-module (attention keeps `attn.` / `_layers.` inside)
_PETR_OPS = {'0': ('attn.', 'self_attn.attn.'), '1': ('', 'norm1.'),
             '2': ('attn.', 'cross_attn.attn.'), '3': ('', 'norm2.'),
             '4': ('_layers.', 'ffn._layers.'), '5': ('', 'norm3.')}
_SMALL_OPS = {'0': ('attn.', 'attn.attn.'), '1': ('', 'norm1.'), '2': ('_layers.', 'ffn._layers.'),
              '3': ('', 'norm2.')}


@dataclass
class ConversionReport:
    state: Dict[str, torch.Tensor] = field(default_factory=dict)   # ours, ready to load
    renamed: Dict[str, str] = field(default_factory=dict)          # official -> ours
    aliases: List[str] = field(default_factory=list)
    derived: List[str] = field(default_factory=list)
    constants: Dict[str, str] = field(default_factory=dict)        # key -> 'ok' | problem
    unmapped: List[str] = field(default_factory=list)
    missing: List[str] = field(default_factory=list)               # ours, not filled
    mismatched: List[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        bad_const = [k for k, v in self.constants.items() if v != 'ok']
        return not (self.unmapped or self.missing or self.mismatched or bad_const)

    def summary(self) -> str:
        lines = [f'mapped {len(self.renamed)} tensors; dropped {len(self.aliases)} aliases, '
                 f'{len(self.derived)} derived buffers, {len(self.constants)} constants']
        for name in ('unmapped', 'missing', 'mismatched'):
            items = getattr(self, name)
            if items:
                lines.append(f'{name} ({len(items)}): ' + ', '.join(items[:10])
                             + (' ...' if len(items) > 10 else ''))
        lines += [f'constant {k}: {v}' for k, v in self.constants.items() if v != 'ok']
        return '\n'.join(lines)


def official_config(cfg: OrionLiteConfig) -> OrionLiteConfig:
    """`cfg` for a model holding official weights: the planner head's frame is theirs, and
    no route/ego token of ours (the authors' model has none)."""
    from orion_lite_ros.model.config import NavConfig
    return replace(cfg, planner=replace(cfg.planner, output_frame=OFFICIAL_OUTPUT_FRAME),
                   nav=NavConfig(enabled=False))


def canonical_alias(key: str) -> Optional[str]:
    """The key whose tensor `key` repeats, or None when `key` is canonical."""
    m = _SHARED_ALIAS.match(key)
    if m:
        return m.group(2)
    m = _BRANCH_ALIAS.match(key)
    if m:
        return f'{m.group(1)}.0.{m.group(3)}'
    m = _ROPE.match(key)
    if m and m.group(3) is not None:
        kind = 'glb' if _is_global(int(m.group(3))) else 'win'
        return f'img_backbone.rope_{kind}.freqs_{m.group(4)}'
    return None


def _is_global(block: int) -> bool:
    return block % 3 == 2          # ORION's EVA-L: global attention in blocks 2, 5, ..., 23


def rename(key: str) -> Optional[str]:
    """Official canonical key -> our key (None when no rule applies)."""
    m = _PETR.match(key)
    if m:
        head, layer, op, rest = m.groups()
        return _op_key(f'qt_former.{head}.decoder.layers.{layer}.', _PETR_OPS, op, rest)
    m = _SMALL.match(key)
    if m:
        decoder, layer, op, rest = m.groups()
        return _op_key(f'qt_former.pts_bbox_head.{decoder}.layers.{layer}.', _SMALL_OPS,
                       op, rest)
    if key.startswith(QT_PREFIXES):
        return 'qt_former.' + key
    if key.startswith(('img_backbone.', 'student_model.')):
        return key
    return None


def _op_key(prefix: str, ops: Dict[str, Tuple[str, str]], op: str, rest: str):
    if op not in ops or not rest.startswith(ops[op][0]):
        return None
    inner, ours = ops[op]
    return prefix + ours + rest[len(inner):]


def _same(a: torch.Tensor, b: torch.Tensor) -> bool:
    if a.is_meta or b.is_meta:
        return a.shape == b.shape
    return a.shape == b.shape and torch.equal(a, b)


def _check_constant(key: str, value: torch.Tensor, model: nn.Module) -> str:
    ours = {'position_range': 'qt_former.position_range', 'coords_d': 'qt_former.coords_d',
            'pts_bbox_head.pc_range': 'qt_former.pc_range', 'map_head.pc_range':
            'qt_former.pc_range'}.get(key)
    if ours is None or value.is_meta:
        return 'ok'
    mine = dict(model.named_buffers())[ours]
    if mine.shape != value.shape or not torch.allclose(mine.float(), value.float(), atol=1e-4):
        return f'differs from our config ({value.flatten()[:4].tolist()} ...)'
    return 'ok'


def convert_official_state(state: Mapping[str, torch.Tensor],
                           model: nn.Module) -> ConversionReport:
    """Map an official fused state dict onto `model` (an OrionLite); see the module doc."""
    report = ConversionReport()
    buffers = dict(model.named_buffers())
    for key, value in state.items():
        if _CONSTANT.match(key):
            report.constants[key] = _check_constant(key, value, model)
            continue
        canon = canonical_alias(key)
        if canon is not None and not _ROPE.match(key):
            if canon in state and not _same(state[canon], value):
                report.mismatched.append(f'{key} differs from its canonical {canon}')
            report.aliases.append(key)
            continue
        if _ROPE.match(key):
            _check_rope(key, value, canon, buffers, report)
            continue
        ours = rename(key)
        if ours is None:
            report.unmapped.append(key)
            continue
        report.renamed[key] = ours
        report.state[ours] = value
    _check_against_model(report, model)
    return report


def _check_rope(key, value, canon, buffers, report: ConversionReport) -> None:
    """Rope tables are derived from the config: only their shape has to agree."""
    mine = buffers.get(canon or key)
    if mine is None or tuple(mine.shape) != tuple(value.shape):
        have = None if mine is None else tuple(mine.shape)
        report.mismatched.append(f'{key}: {tuple(value.shape)} vs ours {have}')
    report.derived.append(key)


def _check_against_model(report: ConversionReport, model: nn.Module) -> None:
    expected = model.state_dict()
    report.missing = sorted(set(expected) - set(report.state))
    for ours, value in report.state.items():
        if ours not in expected:
            report.unmapped.append(f'{ours} (renamed; no such key in the model)')
        elif tuple(expected[ours].shape) != tuple(value.shape):
            report.mismatched.append(
                f'{ours}: {tuple(value.shape)} vs model {tuple(expected[ours].shape)}')


def load_manifest(path: Path = MANIFEST) -> Tuple[Dict[str, List[int]], Dict]:
    """(key -> shape, notes) of the shipped key manifest of the fused checkpoint."""
    data = json.loads(Path(path).read_text())
    notes = data.pop('_notes', {})
    return data, notes
