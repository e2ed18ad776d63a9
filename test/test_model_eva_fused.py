"""The EVA-02 encoder's fused inference GEMMs (q/k/v in one product, w1/w2 in one product,
odd hidden widths zero-padded) compute what the checkpoint's separate layers compute."""
import pytest
import torch
import torch.nn.functional as F

from orion_lite_ros.model.config import EncoderConfig
from orion_lite_ros.model.eva_vit import Attention, EVAViT, RotaryTable, SwiGLU


def _randomise(module: torch.nn.Module, seed: int = 0) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.2)


def _attention_reference(m: Attention, x: torch.Tensor, rope: RotaryTable) -> torch.Tensor:
    """The layer as the checkpoint lays it out: three projections, k without bias."""
    def heads(t):
        return t.unflatten(-1, (m.heads, -1)).transpose(1, 2)
    q = heads(F.linear(x, m.q_proj.weight, m.q_bias))
    k = heads(m.k_proj(x))
    v = heads(F.linear(x, m.v_proj.weight, m.v_bias))
    out = F.scaled_dot_product_attention(rope(q), rope(k), v)
    return m.proj(out.transpose(1, 2).flatten(2))


def _swiglu_reference(m: SwiGLU, x: torch.Tensor) -> torch.Tensor:
    return m.w3(m.ffn_ln(F.silu(m.w1(x)) * m.w2(x)))


@pytest.mark.parametrize('hidden', [341, 344, 5])
def test_swiglu_matches_separate_layers(hidden):
    m = SwiGLU(16, hidden).eval()
    _randomise(m)
    x = torch.randn(3, 7, 16)
    with torch.inference_mode():
        fused = m(x)
    torch.testing.assert_close(fused, _swiglu_reference(m, x), rtol=1e-5, atol=1e-5)


def test_attention_matches_separate_layers():
    m = Attention(32, 4).eval()
    _randomise(m, 1)
    rope = RotaryTable(8, (2, 4), 4)
    x = torch.randn(2, 8, 32)
    with torch.inference_mode():
        fused = m(x, rope)
    torch.testing.assert_close(fused, _attention_reference(m, x, rope), rtol=1e-5, atol=1e-5)


def test_fused_weights_follow_parameter_changes():
    """A cached fusion is rebuilt after load_state_dict / in-place updates."""
    m = SwiGLU(8, 13).eval()
    _randomise(m, 2)
    x = torch.randn(4, 8)
    with torch.inference_mode():
        before = m(x)
    other = SwiGLU(8, 13)
    _randomise(other, 3)
    m.load_state_dict(other.state_dict())
    with torch.inference_mode():
        after = m(x)
    assert not torch.allclose(before, after)
    torch.testing.assert_close(after, _swiglu_reference(other, x), rtol=1e-5, atol=1e-5)


def test_training_gradients_reach_the_checkpoint_parameters():
    """Under autograd the fused tensors are built from the parameters every call: the
    gradients equal those of the separate layers."""
    m = SwiGLU(8, 13)
    _randomise(m, 4)
    x = torch.randn(5, 8)
    m(x).square().sum().backward()
    fused = {n: p.grad.clone() for n, p in m.named_parameters()}
    m.zero_grad()
    _swiglu_reference(m, x).square().sum().backward()
    for n, p in m.named_parameters():
        torch.testing.assert_close(fused[n], p.grad, rtol=1e-5, atol=1e-6, msg=n)


def test_no_new_state_dict_keys():
    cfg = EncoderConfig(img_h=32, img_w=64, embed_dim=32, depth=2, num_heads=4,
                        mlp_hidden=85, global_blocks=(1,), rope_pt_seq_len=2,
                        pretrain_img_size=32, window_size=2)
    keys = set(EVAViT(cfg).state_dict())
    assert not [k for k in keys if '_w12' in k or '_qkv' in k or '_w3' in k]
    assert any(k.endswith('mlp.w1.weight') for k in keys)
