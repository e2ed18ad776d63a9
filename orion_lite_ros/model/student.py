"""Student planning decoder + ORION's VAE planner (`StudentPlanner`).

Parameter names equal the official `student_model.*` keys (OrionMimicModel), so the fused
checkpoint loads without renaming.

VAE noise (`noise` argument of `forward`):
  None          sample with torch's global RNG (what the official model does at inference)
  'mean'        zero noise: the mean of the latent distribution (deterministic)
  torch.Generator  sample with this generator (reproducible)
  Tensor (B, 1, latent)  this noise

Frames: inputs (`gt_future`) and outputs (`all_modes`, `waypoints`) are REP-103 ego frame
(x forward, y left); `head_steps` (B, M, T, 2) are the head's raw per-step offsets in its
own frame (the official `ego_fut_preds`). The VAE head itself works in
`cfg.planner.output_frame`; for official weights that is 'right_forward' (x right, y forward)
and `plan()` converts at its boundary.
"""
from typing import Dict, Optional, Union

import torch
from torch import nn

from orion_lite_ros.model.config import OrionLiteConfig

Noise = Union[None, str, torch.Generator, torch.Tensor]


def head_to_rep103(xy: torch.Tensor, frame: str) -> torch.Tensor:
    """(..., 2) xy in the head's `frame` -> REP-103: right_forward (x_r, y_f) -> (y_f, -x_r)."""
    if frame == 'rep103':
        return xy
    return torch.stack([xy[..., 1], -xy[..., 0]], dim=-1)


def rep103_to_head(xy: torch.Tensor, frame: str) -> torch.Tensor:
    """Inverse of `head_to_rep103`: REP-103 (x_fwd, y_left) -> right_forward (-y_left, x_fwd)."""
    if frame == 'rep103':
        return xy
    return torch.stack([-xy[..., 1], xy[..., 0]], dim=-1)


class DistributionEncoder(nn.Module):
    """1x1 convolutions C -> 2C -> 2C -> C/2."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.conv1 = nn.Conv1d(in_channels, in_channels * 2, kernel_size=1)
        self.conv2 = nn.Conv1d(in_channels * 2, in_channels * 2, kernel_size=1)
        self.conv3 = nn.Conv1d(in_channels * 2, out_channels, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.conv1(x))
        return self.conv3(torch.relu(self.conv2(x)))


class DistributionModule(nn.Module):
    """Diagonal Gaussian over the latent: (B, T, C) -> mu, log_sigma (B, T, latent)."""

    def __init__(self, in_channels: int, latent_dim: int, min_log_sigma: float,
                 max_log_sigma: float):
        super().__init__()
        self.latent_dim = latent_dim
        self.log_sigma_range = (min_log_sigma, max_log_sigma)
        self.encoder = DistributionEncoder(in_channels, in_channels // 2)
        self.last_conv = nn.Sequential(nn.AdaptiveAvgPool1d(1),
                                       nn.Conv1d(in_channels // 2, 2 * latent_dim, 1))

    def forward(self, x: torch.Tensor):
        out = self.last_conv(self.encoder(x.transpose(1, 2))).transpose(1, 2)   # (B, 1, 2L)
        mu, log_sigma = out.split(self.latent_dim, dim=-1)
        return mu, log_sigma.clamp(*self.log_sigma_range)


class PredictModel(nn.Module):
    """GRU over the future steps from the planning token, then an MLP back to token width."""

    def __init__(self, latent_dim: int, out_dim: int, hidden: int, num_layers: int):
        super().__init__()
        self.gru = nn.GRU(input_size=latent_dim, hidden_size=hidden, num_layers=num_layers)
        self.linear1 = nn.Linear(hidden, hidden * 2)
        self.linear2 = nn.Linear(hidden * 2, hidden * 4)
        self.linear3 = nn.Linear(hidden * 4, out_dim)

    def forward(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """x (T, B, latent), h (layers, B, hidden) -> (T, B, out_dim)."""
        x, _ = self.gru(x, h)
        x = torch.relu(self.linear1(x))
        return self.linear3(torch.relu(self.linear2(x)))


def _make_noise(noise: Noise, like: torch.Tensor) -> torch.Tensor:
    if noise is None:
        return torch.randn_like(like)
    if isinstance(noise, str):
        if noise != 'mean':
            raise ValueError(f"noise must be None, 'mean', a Generator or a tensor; got {noise!r}")
        return torch.zeros_like(like)
    if isinstance(noise, torch.Generator):
        return torch.randn(like.shape, generator=noise, device=noise.device,
                           dtype=like.dtype).to(like.device)
    return noise.to(like.device, like.dtype).expand_as(like)


TRAFFIC_LIGHT_CLASS = 6     # ORION's (Bench2Drive) detection class of traffic lights
LIGHT_FEATURES = 5          # class logit + red, yellow, green, affects-ego logits


def light_features(cls_scores: torch.Tensor, traffic_states: torch.Tensor) -> torch.Tensor:
    """QT-Former outputs cls_scores (B, A, C), traffic_states (B, A, 4) logits -> (B, 5): the
    traffic-light class logit and the state logits of the most confident light query."""
    light = cls_scores[..., TRAFFIC_LIGHT_CLASS]
    best = light.argmax(-1)
    pick = torch.arange(light.shape[0], device=light.device)
    return torch.cat([light[pick, best, None], traffic_states[pick, best]], -1)


class StudentPlanner(nn.Module):
    """tokens (B, N_tok, D_tok) + command (B,) -> planning token and 6 x 6 waypoints."""

    def __init__(self, cfg: OrionLiteConfig):
        super().__init__()
        s, p, d = cfg.student, cfg.planner, cfg.token_dim
        self.cfg = cfg
        self.input_proj = nn.Linear(d, s.hidden_dim)
        self.norm_input = nn.LayerNorm(s.hidden_dim)
        self.planning_query = nn.Parameter(torch.randn(1, 1, s.hidden_dim))
        layer = nn.TransformerDecoderLayer(
            d_model=s.hidden_dim, nhead=s.num_heads, dim_feedforward=s.ffn_dim,
            dropout=s.dropout, activation='gelu', batch_first=True, norm_first=True)
        self.transformer_decoder = nn.TransformerDecoder(layer, num_layers=s.num_layers)
        self.output_proj = nn.Linear(s.hidden_dim, d)
        self.norm_output = nn.LayerNorm(d)
        for param in self.parameters():
            if param.dim() > 1:
                nn.init.xavier_uniform_(param)
        fut = p.num_waypoints * 2
        self.present_distribution = DistributionModule(d, p.latent_dim, p.min_log_sigma,
                                                       p.max_log_sigma)
        self.future_distribution = DistributionModule(d + fut, p.latent_dim, p.min_log_sigma,
                                                      p.max_log_sigma)
        self.predict_model = PredictModel(p.latent_dim, d, d // p.gru_layers, p.gru_layers)
        self.gates = 2 if p.wait_gate else 1
        self.ego_fut_decoder = nn.Sequential(
            nn.Linear(2 * d, 2 * d), nn.ReLU(), nn.Linear(2 * d, 2 * d), nn.ReLU(),
            nn.Linear(2 * d, self.gates * p.num_modes * 2))
        gate_in = d + (LIGHT_FEATURES if p.wait_gate_lights else 0)
        self.wait_head = nn.Linear(gate_in, 1) if p.wait_gate else None

    def decode(self, tokens: torch.Tensor, query_bias: Optional[torch.Tensor] = None
               ) -> torch.Tensor:
        """tokens (B, N_tok, D_tok) -> planning token (B, D_tok). query_bias (B, 1, hidden):
        added to the planning query (our students' route/ego conditioning; None in the
        authors' model)."""
        memory = self.norm_input(self.input_proj(tokens))
        query = self.planning_query.expand(tokens.shape[0], -1, -1)
        if query_bias is not None:
            query = query + query_bias.to(query.dtype)
        return self.norm_output(self.output_proj(self.transformer_decoder(query, memory)))[:, 0]

    def forward(self, tokens: torch.Tensor, command: torch.Tensor, noise: Noise = None,
                gt_future: Optional[torch.Tensor] = None, detach_plan: bool = False,
                query_bias: Optional[torch.Tensor] = None,
                gate_lights: Optional[torch.Tensor] = None) -> Dict[str, torch.Tensor]:
        """gt_future (B, T, 2) cumulative REP-103 positions (training: future latent).
        detach_plan: the trajectory head reads the planning token through a stop-gradient,
        so trajectory losses train the head only and the decoder learns from the mimic loss
        alone (the mimic-only ablation). query_bias: see `decode`. gate_lights (B, 5): see
        `light_features` (needed with planner.wait_gate_lights)."""
        planning_token = self.decode(tokens, query_bias)                 # (B, D_tok)
        out = self.plan(planning_token.detach() if detach_plan else planning_token, noise,
                        gt_future, gate_lights)
        out['planning_token'] = planning_token
        idx = command.long().clamp(0, self.cfg.planner.num_modes - 1)
        out['waypoints'] = out['all_modes'][torch.arange(idx.shape[0]), idx]   # (B, T, 2)
        return out

    def plan(self, planning_token: torch.Tensor, noise: Noise = None,
             gt_future: Optional[torch.Tensor] = None,
             gate_lights: Optional[torch.Tensor] = None) -> Dict[str, torch.Tensor]:
        """VAE planner: planning token (B, D) -> all_modes (B, M, T, 2) cumulative, REP-103.

        With `planner.wait_gate` also `gated_modes` (B, 2, M, T, 2): the go [:, 0] and wait
        [:, 1] plans, `wait_logit`, `wait_prob` and the decision `wait` (B,); `all_modes` is the
        set the gate picks (wait where wait_prob >= planner.wait_threshold)."""
        frame = self.cfg.planner.output_frame
        present = planning_token[:, None].float()                         # (B, 1, D)
        out = {}
        mu, log_sigma = self.present_distribution(present.to(self._dtype()))
        out['present_mu'], out['present_log_sigma'] = mu, log_sigma
        if gt_future is not None:
            native = rep103_to_head(gt_future.float(), frame)              # head's own frame
            steps = torch.diff(native, dim=1, prepend=native[:, :1] * 0)
            fut_in = torch.cat([present, steps.flatten(1)[:, None]], dim=-1)  # (B, 1, D + 2T)
            f_mu, f_log_sigma = self.future_distribution(fut_in.to(self._dtype()))
            out['future_mu'], out['future_log_sigma'] = f_mu, f_log_sigma
            if self.training:
                mu, log_sigma = f_mu, f_log_sigma
        latent = mu + log_sigma.exp() * _make_noise(noise, mu)           # (B, 1, latent)
        steps = self._decode_steps(planning_token, latent)                # head frame
        modes = head_to_rep103(torch.cumsum(steps, dim=2), frame)         # (B, G*M, T, 2)
        if self.wait_head is None:
            out['head_steps'], out['all_modes'] = steps, modes
            return out
        B, M = steps.shape[0], self.cfg.planner.num_modes
        gated = modes.unflatten(1, (2, M))                                # (B, 2, M, T, 2)
        gate_in = planning_token
        if self.cfg.planner.wait_gate_lights:
            if gate_lights is None:
                raise ValueError("planner.wait_gate_lights: the gate needs the QT-Former's "
                                 'traffic-light reading (plan the full model, not tokens)')
            gate_in = torch.cat([planning_token, gate_lights.to(planning_token.dtype)], -1)
        logit = self.wait_head(gate_in.to(self._dtype())).float()[:, 0]
        prob = torch.sigmoid(logit)
        wait = (prob >= self.cfg.planner.wait_threshold).long()
        pick = torch.arange(B, device=steps.device)
        out['gated_modes'], out['wait_logit'], out['wait_prob'] = gated, logit, prob
        out['wait'] = wait
        out['head_steps'] = steps.unflatten(1, (2, M))[pick, wait]
        out['all_modes'] = gated[pick, wait]
        return out

    def _decode_steps(self, planning_token: torch.Tensor, latent: torch.Tensor):
        """GRU future states + MLP -> step offsets (B, G*M, T, 2) in the head's frame (G = 2
        go/wait sets with `planner.wait_gate`, else 1)."""
        p = self.cfg.planner
        B, D = planning_token.shape
        x = latent.transpose(0, 1).expand(p.num_waypoints, B, -1)            # (T, B, latent)
        if p.gru_state_layout == 'official':     # (1, B, D) -> (layers, B, D / layers)
            h = planning_token.reshape(p.gru_layers, B, D // p.gru_layers)
        else:                                     # each item's token split into chunks
            h = planning_token.reshape(B, p.gru_layers, D // p.gru_layers).transpose(0, 1)
        future = self.predict_model(x.to(h.dtype), h.contiguous())           # (T, B, D)
        states = torch.cat([planning_token.expand(p.num_waypoints, B, D), future], dim=-1)
        steps = self.ego_fut_decoder(states).view(p.num_waypoints, B, self.gates * p.num_modes,
                                                  2)
        return steps.permute(1, 2, 0, 3)

    def _dtype(self) -> torch.dtype:
        return self.input_proj.weight.dtype
