"""`PrivilegedTeacher`: a PlanT-style transformer over object tokens with a [PLAN] token.

Its [PLAN] hidden state, projected to the student's token width (Linear + LayerNorm, as the
student's output projection), is the `planning_token` that the student mimics (standing in
for ORION's LLM planning token). The waypoint head reads only that token, so everything the
teacher plans with is in it. Output waypoints are step offsets summed cumulatively:
all_modes (B, NUM_COMMANDS, NUM_WAYPOINTS, 2), ego frame, 0.5 s apart.
"""
import hashlib
import json
from pathlib import Path
from typing import Dict, Mapping, Union

import numpy as np
from safetensors.torch import load_file, save_file
import torch
from torch import nn

from orion_lite_ros.layout import NUM_COMMANDS, NUM_WAYPOINTS
from orion_lite_ros.teacher.config import TeacherConfig
from orion_lite_ros.teacher.tokens import AGENT_DIM, EGO_DIM, SIGNAL_DIM, TOKEN_KEYS

FORMAT = 'orion_lite_ros/teacher/1'
NUM_AGENT_CLASSES = 3
NUM_TYPES = 6     # plan, ego, agent, route, lane, signal


def _mlp(in_dim: int, out_dim: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(in_dim, out_dim), nn.GELU(), nn.Linear(out_dim, out_dim))


class PrivilegedTeacher(nn.Module):
    def __init__(self, cfg: TeacherConfig = TeacherConfig()):
        super().__init__()
        self.cfg = cfg
        d, tok = cfg.d_model, cfg.tokens
        self.plan_query = nn.Parameter(torch.randn(1, 1, d) * 0.02)
        self.type_embed = nn.Embedding(NUM_TYPES, d)
        self.ego_embed = _mlp(EGO_DIM, d)
        self.agent_embed = _mlp(AGENT_DIM + 1 + NUM_AGENT_CLASSES - 1, d)
        self.route_embed = _mlp(2, d)
        self.route_index = nn.Embedding(tok.num_route_points, d)
        self.lane_embed = _mlp(tok.lane_points * 2, d)
        self.signal_embed = _mlp(SIGNAL_DIM, d)
        layer = nn.TransformerEncoderLayer(d, cfg.num_heads, cfg.ffn_dim, cfg.dropout,
                                           activation='gelu', batch_first=True,
                                           norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, cfg.num_layers, enable_nested_tensor=False)
        self.final_norm = nn.LayerNorm(d)
        self.token_proj = nn.Sequential(nn.Linear(d, cfg.token_dim), nn.LayerNorm(cfg.token_dim))
        self.waypoint_head = nn.Sequential(
            nn.Linear(cfg.token_dim, cfg.head_hidden), nn.GELU(),
            nn.Linear(cfg.head_hidden, NUM_COMMANDS * NUM_WAYPOINTS * 2))

    def _agent_features(self, agents: torch.Tensor) -> torch.Tensor:
        """(B, A, 7) -> (B, A, 10): scaled position, cos/sin yaw, size, speed, class one-hot."""
        p, v = self.cfg.position_scale_m, self.cfg.speed_scale_mps
        cls = nn.functional.one_hot(agents[..., 6].long().clamp(0, NUM_AGENT_CLASSES - 1),
                                    NUM_AGENT_CLASSES).to(agents.dtype)
        return torch.cat([agents[..., :2] / p, agents[..., 2:3].cos(), agents[..., 2:3].sin(),
                          agents[..., 3:5] / 5.0, agents[..., 5:6] / v, cls], dim=-1)

    def _embed(self, t: Mapping[str, torch.Tensor]):
        """Token sequence (B, 2 + A + R + L + S, d) and its padding mask (True = padded)."""
        p, v = self.cfg.position_scale_m, self.cfg.speed_scale_mps
        ego = t['ego'].clone()
        ego[:, :4] = ego[:, :4] / v
        ego[:, -2:] = ego[:, -2:] / p
        b = ego.shape[0]
        sig = t['signals'].clone()
        sig[..., :3] = sig[..., :3] / p
        parts = [self.plan_query.expand(b, -1, -1), self.ego_embed(ego)[:, None],
                 self.agent_embed(self._agent_features(t['agents'])),
                 self.route_embed(t['route'] / p) + self.route_index.weight[None],
                 self.lane_embed(t['lanes'].flatten(2) / p), self.signal_embed(sig)]
        types = torch.cat([torch.full((x.shape[1],), i, dtype=torch.long, device=ego.device)
                           for i, x in enumerate(parts)])
        x = torch.cat(parts, dim=1) + self.type_embed(types)[None]
        valid = torch.cat([torch.ones(b, 2, dtype=torch.bool, device=ego.device),
                           t['agents_mask'].bool(), t['route_mask'].bool(),
                           t['lanes_mask'].bool(), t['signals_mask'].bool()], dim=1)
        return x, ~valid

    def forward(self, tokens: Mapping[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        """tokens: the `teacher.tokens` arrays batched (B, ...). Returns planning_token
        (B, token_dim), all_modes (B, 6, 6, 2), waypoints (B, 6, 2) of the ego's command."""
        x, padded = self._embed(tokens)
        h = self.final_norm(self.encoder(x, src_key_padding_mask=padded))
        planning_token = self.token_proj(h[:, 0])
        steps = self.waypoint_head(planning_token).view(-1, NUM_COMMANDS, NUM_WAYPOINTS, 2)
        all_modes = steps.cumsum(dim=2)
        command = tokens['ego'][:, 4:4 + NUM_COMMANDS].argmax(dim=-1)
        waypoints = all_modes[torch.arange(len(command)), command]
        return {'planning_token': planning_token, 'all_modes': all_modes,
                'waypoints': waypoints}


def to_torch(tokens: Mapping[str, np.ndarray], device='cpu') -> Dict[str, torch.Tensor]:
    """Numpy token dict (batched or single) -> float/bool tensors with a batch dimension."""
    out = {}
    for k in TOKEN_KEYS:
        a = np.asarray(tokens[k])
        if a.ndim == {'ego': 1, 'lanes': 3}.get(k, 1 if k.endswith('mask') else 2):
            a = a[None]
        out[k] = torch.as_tensor(a, dtype=torch.bool if k.endswith('mask') else torch.float32,
                                 device=device)
    return out


def bc_loss(out: Mapping[str, torch.Tensor], gt_future: torch.Tensor, gt_mask: torch.Tensor
            ) -> torch.Tensor:
    """Behaviour cloning: L1 on the command's waypoints over valid future steps."""
    err = (out['waypoints'] - gt_future).abs().sum(-1)             # (B, 6)
    mask = gt_mask.float()
    return (err * mask).sum() / mask.sum().clamp(min=1.0)


# ------------------------------------------------------------------------------ checkpoints
def checkpoint_files(path: Union[str, Path]):
    path = Path(path)
    return path / 'model.safetensors', path / 'config.json'


def save_teacher(path: Union[str, Path], model: PrivilegedTeacher, **info) -> Path:
    """Directory with model.safetensors + config.json (format, config, free-form info)."""
    weights, config = checkpoint_files(path)
    weights.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(weights), metadata={'format': FORMAT})
    meta = {'format': FORMAT, 'config': model.cfg.to_dict(), **info}
    config.write_text(json.dumps(meta, indent=2) + '\n')
    return weights


def load_teacher(path: Union[str, Path]) -> PrivilegedTeacher:
    """Strict load: missing / unexpected / mis-shaped keys are named in the error."""
    weights, config = checkpoint_files(path)
    meta = json.loads(config.read_text())
    if meta.get('format') != FORMAT:
        raise ValueError(f'{config}: format {meta.get("format")!r}, expected {FORMAT!r}')
    model = PrivilegedTeacher(TeacherConfig.from_dict(meta['config']))
    state = load_file(str(weights))
    expected = model.state_dict()
    missing, extra = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
    shapes = [k for k in expected if k in state and state[k].shape != expected[k].shape]
    if missing or extra or shapes:
        raise ValueError(f'{weights}: missing {missing}, unexpected {extra}, '
                         f'mis-shaped {shapes}')
    model.load_state_dict(state, strict=True)
    return model.eval()


def teacher_id(path: Union[str, Path]) -> str:
    """Id for the feature cache: changes whenever the weights change."""
    digest = hashlib.sha1(checkpoint_files(path)[0].read_bytes()).hexdigest()[:10]
    return f'privileged_teacher-{digest}'
