import pytest
import torch

from osan.nn.encoders import MultimodalEncoder, length_mask, masked_mean_max
from osan.types import Batch


def _batch(dims, b=4, lens=None):
    feats = {m: torch.randn(b, 6, d) for m, d in dims.items()}
    lengths = {m: torch.tensor(lens or [6, 3, 1, 5]) for m in dims}
    return Batch(feats, lengths, None, torch.arange(b))


def test_padding_beyond_true_length_is_ignored():
    x = torch.randn(2, 5, 3)
    mask = length_mask(torch.tensor([2, 5]), 5)
    y = x.clone()
    y[0, 2:] = 1e6  # garbage in the padding of sample 0
    assert torch.allclose(masked_mean_max(x, mask), masked_mean_max(y, mask))


@pytest.mark.parametrize("kind", ["conv", "gru", "mean"])
def test_domains_with_different_dims_share_one_embedding_space(kind):
    dims = {
        "source": {"text": 8, "audio": 74, "vision": 35},
        "target": {"text": 8, "audio": 5, "vision": 20},
    }
    enc = MultimodalEncoder(dims, {"text": 16, "audio": 4, "vision": 4}, hidden=12, kind=kind)
    enc.eval()
    hs = enc(_batch(dims["source"]), "source")
    ht = enc(_batch(dims["target"]), "target")
    for m, d in {"text": 16, "audio": 4, "vision": 4}.items():
        assert hs[m].shape == ht[m].shape == (4, d)
    # padding does not change the output
    b = _batch(dims["source"])
    b2 = Batch({m: x.clone() for m, x in b.features.items()}, b.lengths, None, b.index)
    for x in b2.features.values():
        x[2, 1:] = 99.0  # sample 2 has length 1
    out1, out2 = enc(b, "source"), enc(b2, "source")
    for m in out1:
        assert torch.allclose(out1[m], out2[m], atol=1e-5)


def test_mismatched_modalities_are_refused():
    with pytest.raises(ValueError, match="modalities"):
        MultimodalEncoder({"source": {"text": 3}, "target": {"audio": 3}}, {"text": 2})


def test_conv_encoder_equals_its_formula_with_gradients():
    """pooled(GELU(conv(x)) + x) -> Linear -> GELU, whatever the memory layout used inside
    (the encoder copies the convolution's output to a contiguous tensor for a fast GELU
    backward); values and input gradients equal the plain composition up to float rounding."""
    from osan.nn.encoders import SequenceEncoder

    torch.manual_seed(0)
    enc = SequenceEncoder(hidden=12, out_dim=5, kind="conv", dropout=0.0).eval()
    x = torch.randn(4, 7, 12, requires_grad=True)
    lengths = torch.tensor([7, 3, 5, 1])
    out = enc(x, lengths)
    (g_enc,) = torch.autograd.grad((out * torch.arange(5.0)).sum(), x)

    mask = length_mask(lengths, 7)
    xm = x * mask.unsqueeze(-1)
    y = enc.seq(xm.transpose(1, 2)).transpose(1, 2)  # (B, L, C), a transposed view
    ref = enc.out(masked_mean_max(torch.nn.functional.gelu(y) + xm, mask))
    (g_ref,) = torch.autograd.grad((ref * torch.arange(5.0)).sum(), x)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(g_enc, g_ref, rtol=1e-5, atol=1e-6)
