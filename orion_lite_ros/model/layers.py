"""Small building blocks of the QT-Former heads: prediction branches and the motion-aware
layer norm (StreamPETR's MLN)."""
import torch
from torch import nn


def branch(in_dim: int, out_dim: int, hidden: int, with_norm: bool) -> nn.Sequential:
    """Prediction branch: 2 hidden layers (with LayerNorm as ORION's cls branches)."""
    layers = []
    for i in range(2):
        layers.append(nn.Linear(in_dim if i == 0 else hidden, hidden))
        if with_norm:
            layers.append(nn.LayerNorm(hidden))
        layers.append(nn.ReLU())
    layers.append(nn.Linear(hidden, out_dim))
    return nn.Sequential(*layers)


class MLN(nn.Module):
    """Motion-aware layer norm (StreamPETR): LN(x) * gamma(c) + beta(c), c = reduce(cond)."""

    def __init__(self, cond_dim: int, dim: int):
        super().__init__()
        self.reduce = nn.Sequential(nn.Linear(cond_dim, dim), nn.ReLU())
        self.gamma = nn.Linear(dim, dim)
        self.beta = nn.Linear(dim, dim)
        self.ln = nn.LayerNorm(dim, elementwise_affine=False)
        nn.init.zeros_(self.gamma.weight)
        nn.init.ones_(self.gamma.bias)
        nn.init.zeros_(self.beta.weight)
        nn.init.zeros_(self.beta.bias)

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        c = self.reduce(cond)
        return self.ln(x) * self.gamma(c) + self.beta(c)
