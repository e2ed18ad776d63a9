"""EVA-02 ViT image encoder (as used by ORION): rotary position embedding, SwiGLU MLP with
an inner LayerNorm, q/v biases, window attention with interleaved global blocks, no final
norm. Parameter names follow the official `img_backbone.*` keys."""
import math
from typing import Tuple

import torch
from torch import nn
import torch.nn.functional as F

from orion_lite_ros.model.config import EncoderConfig


def rope_tables(head_dim: int, grid: Tuple[int, int], pt_seq_len: int,
                theta: float = 10000.0) -> Tuple[torch.Tensor, torch.Tensor]:
    """2-D rotary tables (cos, sin), each (gh * gw, head_dim); half the channels per axis,
    positions rescaled to the pre-training grid (VisionRotaryEmbeddingFast)."""
    dim = head_dim // 2
    inv = 1.0 / (theta ** (torch.arange(0, dim, 2)[: dim // 2].float() / dim))   # (dim/2,)

    def axis(n: int) -> torch.Tensor:
        t = torch.arange(n).float() / n * pt_seq_len
        return torch.outer(t, inv).repeat_interleave(2, dim=-1)                 # (n, dim)

    fh, fw = axis(grid[0]), axis(grid[1])
    freqs = torch.cat([fh[:, None, :].expand(-1, grid[1], -1),
                       fw[None, :, :].expand(grid[0], -1, -1)], dim=-1)          # (gh, gw, 2d)
    freqs = freqs.reshape(grid[0] * grid[1], head_dim)
    return freqs.cos(), freqs.sin()


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    x = x.unflatten(-1, (-1, 2))
    return torch.stack([-x[..., 1], x[..., 0]], dim=-1).flatten(-2)


class RotaryTable(nn.Module):
    """Rope cos/sin buffers; derived from the config, so not saved in checkpoints."""

    def __init__(self, head_dim: int, grid: Tuple[int, int], pt_seq_len: int):
        super().__init__()
        cos, sin = rope_tables(head_dim, grid, pt_seq_len)
        self.register_buffer('freqs_cos', cos, persistent=False)
        self.register_buffer('freqs_sin', sin, persistent=False)

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        """t (B, H, L, head_dim) with L = gh * gw."""
        return t * self.freqs_cos.to(t.dtype) + rotate_half(t) * self.freqs_sin.to(t.dtype)


class PatchEmbed(nn.Module):
    def __init__(self, patch: int, dim: int):
        super().__init__()
        self.proj = nn.Conv2d(3, dim, kernel_size=patch, stride=patch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).permute(0, 2, 3, 1)                   # (B, gh, gw, C)


def _padded(n: int, multiple: int = 8) -> int:
    return -(-n // multiple) * multiple


class _FusedWeights:
    """Inference-time concatenations of a module's weights (one GEMM where the checkpoint has
    several, odd widths zero-padded to a multiple of 8, which the CPU's GEMM runs much faster:
    a (3072, 128) x (128, 682) product takes 10.9 ms on the 2-core machine, padded to 688 7.2
    ms). Rebuilt when a parameter changes (load_state_dict, .to()); under autograd the fused
    tensors are built afresh every call, so training sees the module's own parameters."""

    def __init__(self, build):
        self._build, self._key, self._value = build, None, None

    def __call__(self, *params: torch.Tensor):
        if torch.is_grad_enabled():
            return self._build(*params)
        key = tuple((p.data_ptr(), p._version, p.dtype, p.device) for p in params)
        if key != self._key:
            with torch.no_grad():
                self._value = self._build(*params)
            self._key = key
        return self._value


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.q_proj = nn.Linear(dim, dim, bias=False)
        self.k_proj = nn.Linear(dim, dim, bias=False)
        self.v_proj = nn.Linear(dim, dim, bias=False)
        self.q_bias = nn.Parameter(torch.zeros(dim))
        self.v_bias = nn.Parameter(torch.zeros(dim))
        self.proj = nn.Linear(dim, dim)
        # q, k and v in one product; k has no bias (EVA-02's q/v-only biases)
        self._qkv = _FusedWeights(lambda wq, wk, wv, bq, bv: (
            torch.cat([wq, wk, wv]), torch.cat([bq, torch.zeros_like(bq), bv])))

    def forward(self, x: torch.Tensor, rope: RotaryTable) -> torch.Tensor:
        """x (B, L, C) -> (B, L, C)."""
        w, b = self._qkv(self.q_proj.weight, self.k_proj.weight, self.v_proj.weight,
                         self.q_bias, self.v_bias)
        qkv = F.linear(x, w, b).unflatten(-1, (3, self.heads, -1)).permute(2, 0, 3, 1, 4)
        q, k, v = rope(qkv[0]), rope(qkv[1]), qkv[2]                   # (B, H, L, d)
        out = F.scaled_dot_product_attention(q, k, v.to(q.dtype))
        return self.proj(out.transpose(1, 2).flatten(2))


class SwiGLU(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.w1 = nn.Linear(dim, hidden)
        self.w2 = nn.Linear(dim, hidden)
        self.ffn_ln = nn.LayerNorm(hidden, eps=1e-6)
        self.w3 = nn.Linear(hidden, dim)
        # w1 and w2 in one product, each half zero-padded to a multiple of 8 rows (the padded
        # units are silu(0) * 0 = 0 and are cut off before the inner LayerNorm); w3 zero-padded
        # to a multiple of 8 input columns, fed the normalised hidden padded with zeros
        self.hidden, self._pad = hidden, _padded(hidden) - hidden
        self._w12 = _FusedWeights(self._build_w12)
        self._w3 = _FusedWeights(lambda w: F.pad(w, (0, self._pad)))

    def _build_w12(self, w1, b1, w2, b2):
        pad = self._pad
        return (torch.cat([F.pad(w1, (0, 0, 0, pad)), F.pad(w2, (0, 0, 0, pad))]),
                torch.cat([F.pad(b1, (0, pad)), F.pad(b2, (0, pad))]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w12, b12 = self._w12(self.w1.weight, self.w1.bias, self.w2.weight, self.w2.bias)
        a, g = F.linear(x, w12, b12).chunk(2, dim=-1)
        h = self.ffn_ln((F.silu(a) * g)[..., :self.hidden])
        if self._pad:
            h = F.pad(h, (0, self._pad))
        return F.linear(h, self._w3(self.w3.weight), self.w3.bias)


def window_partition(x: torch.Tensor, win: int) -> Tuple[torch.Tensor, Tuple[int, int]]:
    """(B, H, W, C) -> (B * nW, win * win, C), zero-padding H and W up to multiples of win."""
    B, H, W, C = x.shape
    ph, pw = (win - H % win) % win, (win - W % win) % win
    x = F.pad(x, (0, 0, 0, pw, 0, ph))
    Hp, Wp = H + ph, W + pw
    x = x.view(B, Hp // win, win, Wp // win, win, C).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(-1, win * win, C), (Hp, Wp)


def window_unpartition(x: torch.Tensor, win: int, padded: Tuple[int, int],
                       size: Tuple[int, int], batch: int) -> torch.Tensor:
    Hp, Wp = padded
    x = x.view(batch, Hp // win, Wp // win, win, win, -1).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(batch, Hp, Wp, -1)[:, : size[0], : size[1]]


class Block(nn.Module):
    def __init__(self, cfg: EncoderConfig, window: bool):
        super().__init__()
        self.window = window
        self.norm1 = nn.LayerNorm(cfg.embed_dim, eps=1e-6)
        self.attn = Attention(cfg.embed_dim, cfg.num_heads)
        self.norm2 = nn.LayerNorm(cfg.embed_dim, eps=1e-6)
        self.mlp = SwiGLU(cfg.embed_dim, cfg.mlp_hidden)
        self.win = cfg.window_size

    def forward(self, x: torch.Tensor, rope: RotaryTable) -> torch.Tensor:
        """x (B, gh, gw, C)."""
        B, H, W, C = x.shape
        h = self.norm1(x)
        if self.window:
            h, padded = window_partition(h, self.win)
            h = window_unpartition(self.attn(h, rope), self.win, padded, (H, W), B)
        else:
            h = self.attn(h.reshape(B, H * W, C), rope).view(B, H, W, C)
        x = x + h
        return x + self.mlp(self.norm2(x))


class EVAViT(nn.Module):
    """images (B*N_cam, 3, H, W) -> features (B*N_cam, gh, gw, C), gh = H / patch."""

    def __init__(self, cfg: EncoderConfig):
        super().__init__()
        self.cfg = cfg
        self.grid = (cfg.img_h // cfg.patch_size, cfg.img_w // cfg.patch_size)
        pt_grid = cfg.pretrain_img_size // cfg.patch_size
        self.patch_embed = PatchEmbed(cfg.patch_size, cfg.embed_dim)
        self.pos_embed = nn.Parameter(torch.zeros(1, 1 + pt_grid * pt_grid, cfg.embed_dim))
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        head_dim = cfg.embed_dim // cfg.num_heads
        win = (cfg.window_size, cfg.window_size)
        self.rope_win = RotaryTable(head_dim, win, cfg.rope_pt_seq_len)
        self.rope_glb = RotaryTable(head_dim, self.grid, cfg.rope_pt_seq_len)
        self.blocks = nn.ModuleList(
            Block(cfg, window=i not in cfg.global_blocks) for i in range(cfg.depth))

    def _abs_pos(self) -> torch.Tensor:
        """pos_embed without the cls slot, bicubic-resized to the token grid: (1, gh, gw, C)."""
        pos = self.pos_embed[:, 1:]
        side = int(math.isqrt(pos.shape[1]))
        pos = pos.reshape(1, side, side, -1).permute(0, 3, 1, 2)
        if (side, side) != self.grid:
            pos = F.interpolate(pos.float(), size=self.grid, mode='bicubic',
                                align_corners=False).to(pos.dtype)
        return pos.permute(0, 2, 3, 1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(images) + self._abs_pos()
        for blk in self.blocks:
            x = blk(x, self.rope_win if blk.window else self.rope_glb)
        return x
