"""jessl_lite.heads: each head's layer layout against its paper's description, its default widths
(built on the meta device: no memory for the 8192-wide ones), its shapes, and its weights against a
hand-built ``nn.Sequential`` of the same layers drawn from the same seed."""

from __future__ import annotations

import doctest

import pytest
import torch
from torch import nn

from jessl_lite import heads
from jessl_lite.heads import (
    BarlowTwinsProjectionHead,
    BYOLPredictionHead,
    BYOLProjectionHead,
    SimCLRProjectionHead,
    SimSiamPredictionHead,
    SimSiamProjectionHead,
    SwAVProjectionHead,
    SwAVPrototypes,
    VICRegProjectionHead,
)

pytestmark = pytest.mark.usefixtures("one_thread")


def linear(i: int, o: int, bias: bool = True) -> tuple:
    return ("Linear", i, o, bias)


def bn(d: int, affine: bool = True) -> tuple:
    return ("BatchNorm1d", d, affine)


RELU = ("ReLU",)


def _layout(module: nn.Module) -> list[tuple]:
    """The layers a reader sees in the paper, in order (Flatten and containers left out)."""
    layers = []
    for m in module.modules():
        if isinstance(m, nn.Linear):
            layers.append(linear(m.in_features, m.out_features, m.bias is not None))
        elif isinstance(m, nn.BatchNorm1d):
            layers.append(bn(m.num_features, m.affine))
        elif isinstance(m, nn.ReLU):
            layers.append(RELU)
    return layers


# The papers' ImageNet heads on a ResNet-50's 2048 features, written out from their text:
PAPER_LAYOUTS = {
    # SimCLR: g(h) = W2 ReLU(W1 h), 128-d output (BatchNorm on the hidden layer, as its code).
    SimCLRProjectionHead: [linear(2048, 2048), bn(2048), RELU, linear(2048, 128)],
    # SwAV: 2048 -> 2048 -> 128.
    SwAVProjectionHead: [linear(2048, 2048), bn(2048), RELU, linear(2048, 128)],
    # BYOL, Section 3.3: linear 4096, BatchNorm, ReLU, linear 256; the predictor the same from 256.
    BYOLProjectionHead: [linear(2048, 4096), bn(4096), RELU, linear(4096, 256)],
    BYOLPredictionHead: [linear(256, 4096), bn(4096), RELU, linear(4096, 256)],
    # SimSiam: BN on every fc layer including the output (no ReLU there), 3 layers of 2048;
    # predictor 2048 -> 512 -> 2048 with BN on the hidden layer only.
    SimSiamProjectionHead: [linear(2048, 2048, False), bn(2048), RELU, linear(2048, 2048, False), bn(2048), RELU,
                            linear(2048, 2048, False), bn(2048, affine=False)],
    SimSiamPredictionHead: [linear(2048, 512), bn(512), RELU, linear(512, 2048)],
    # Barlow Twins and VICReg: three linear layers of 8192, the first two with BatchNorm and ReLU.
    BarlowTwinsProjectionHead: [linear(2048, 8192), bn(8192), RELU, linear(8192, 8192), bn(8192), RELU,
                                linear(8192, 8192)],
    VICRegProjectionHead: [linear(2048, 8192), bn(8192), RELU, linear(8192, 8192), bn(8192), RELU,
                           linear(8192, 8192)],
}


@pytest.mark.parametrize("head", list(PAPER_LAYOUTS), ids=lambda h: h.__name__)
def test_default_heads_have_the_papers_layout_and_widths(head):
    with torch.device("meta"):  # shapes without memory: Barlow Twins' head has 150M parameters
        module = head()
    assert _layout(module) == PAPER_LAYOUTS[head]
    assert module.out_dim == PAPER_LAYOUTS[head][-2 if head is SimSiamProjectionHead else -1][2]


def test_swav_prototypes_default_to_3000_of_width_128_without_bias():
    with torch.device("meta"):
        prototypes = SwAVPrototypes()
    assert _layout(prototypes) == [linear(128, 3000, False)]
    assert prototypes.weight.shape == (3000, 128)


@pytest.mark.parametrize(
    ("head", "num_layers", "expected"),
    [
        (SimCLRProjectionHead, 1, [linear(6, 4)]),
        (SimCLRProjectionHead, 3, [linear(6, 5), bn(5), RELU, linear(5, 5), bn(5), RELU, linear(5, 4)]),
        (SimSiamProjectionHead, 1, [linear(6, 4, False), bn(4, affine=False)]),
        (SimSiamProjectionHead, 2, [linear(6, 5, False), bn(5), RELU, linear(5, 4, False), bn(4, affine=False)]),
        (VICRegProjectionHead, 2, [linear(6, 5), bn(5), RELU, linear(5, 4)]),
    ],
)
def test_num_layers_counts_the_linear_layers(head, num_layers, expected):
    assert _layout(head(6, 5, 4, num_layers=num_layers)) == expected


HEADS = [SimCLRProjectionHead, SwAVProjectionHead, BYOLProjectionHead, BYOLPredictionHead, SimSiamProjectionHead,
         SimSiamPredictionHead, BarlowTwinsProjectionHead, VICRegProjectionHead]


def _hand_built(layout: list[tuple]) -> nn.Sequential:
    layers = []
    for kind, *args in layout:
        if kind == "Linear":
            layers.append(nn.Linear(args[0], args[1], bias=args[2]))
        elif kind == "BatchNorm1d":
            layers.append(nn.BatchNorm1d(args[0], affine=args[1]))
        else:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


@pytest.mark.parametrize("head", HEADS, ids=lambda h: h.__name__)
def test_each_head_maps_shapes_and_draws_the_weights_of_its_hand_built_stack(head):
    torch.manual_seed(0)
    module = head(6, 5, 4)
    torch.manual_seed(0)
    reference = _hand_built(_layout(module))
    assert [tuple(t.shape) for t in module.state_dict().values()] == [
        tuple(t.shape) for t in reference.state_dict().values()]
    for a, b in zip(module.state_dict().values(), reference.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    x = torch.randn(7, 6)
    assert module(x).shape == (7, 4) and module.in_dim == 6 and module.out_dim == 4
    torch.testing.assert_close(module(x), reference(x), rtol=0, atol=0)


def test_swav_prototypes_score_against_unit_rows():
    torch.manual_seed(0)
    prototypes = SwAVPrototypes(4, 5)
    with torch.no_grad():
        prototypes.weight.mul_(3.0)
    prototypes.normalize_()
    torch.testing.assert_close(prototypes.weight.norm(dim=1), torch.ones(5))
    assert prototypes.weight.requires_grad and prototypes.weight.grad_fn is None  # a leaf, no graph recorded
    z = torch.nn.functional.normalize(torch.randn(3, 4), dim=1)
    scores = prototypes(z)
    torch.testing.assert_close(scores, z @ prototypes.weight.T)
    assert scores.abs().max() <= 1 + 1e-6  # cosines
    before = prototypes.weight.clone()
    prototypes.normalize_()
    torch.testing.assert_close(prototypes.weight, before)  # idempotent


def test_bad_arguments_name_themselves():
    with pytest.raises(ValueError, match="num_layers"):
        SimSiamProjectionHead(4, 4, 4, num_layers=0)
    for bad in (True, 2.0):  # True is an int in Python: it would mean one layer
        with pytest.raises(TypeError, match="num_layers"):
            SimSiamProjectionHead(4, 4, 4, num_layers=bad)
    with pytest.raises(ValueError, match="num_prototypes"):
        SwAVPrototypes(4, 0)
    # The head's own names, not those of the MLP it builds (hidden_dims[0], out_dim of a layer).
    with pytest.raises(ValueError, match="^hidden_dim must be an int >= 1; got 0$"):
        BYOLPredictionHead(4, 0, 4)
    with pytest.raises(ValueError, match="^hidden_dim must be an int >= 1; got 0$"):
        SimCLRProjectionHead(4, 0, 4)
    with pytest.raises(TypeError, match="^out_dim must be an int"):
        SimSiamPredictionHead(4, 4, 4.0)


def test_the_docstring_examples_run():
    failures, tried = doctest.testmod(heads, optionflags=doctest.ELLIPSIS)
    assert tried >= len(heads.__all__) * 2 and failures == 0
