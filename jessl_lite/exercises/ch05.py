"""Chapter 5's exercises: the problem data and the recipes for their reference answers."""

from __future__ import annotations

import torch

from .. import bounds, info
from ..flows import CouplingLayer
from . import register, register_function

# --- chapter 5 -----------------------------------------------------------------------------

#: Exercise 5.1's joint table p(x, y): rows are x in {0, 1, 2}, columns y in {0, 1}.
TABLE_5_1 = [[0.30, 0.05], [0.05, 0.10], [0.10, 0.40]]

#: Exercise 5.1's bijection of x's values: x -> RELABEL_5_1[x].
RELABEL_5_1 = [2, 0, 1]

#: Exercise 5.2's affine coupling layer on R^2: y1 = x1, y2 = x2 * exp(s(x1)) + t(x1) with
#: s(x1) = S_SLOPE_5_2 * x1 and t(x1) = T_SLOPE_5_2 * x1 + T_OFFSET_5_2; the point x and output y.
S_SLOPE_5_2, T_SLOPE_5_2, T_OFFSET_5_2 = 0.5, 2.0, 1.0
X_5_2, Y_5_2 = (1.0, 2.0), (1.0, 5.0)

#: Exercise 5.3: batch size, measured InfoNCE (nats) between the halves, number of equally likely classes.
BATCH_5_3, INFONCE_5_3, CLASSES_5_3 = 128, 4.0, 10


def coupling_layer_5_2() -> CouplingLayer:
    """Exercise 5.2's layer as a :class:`~jessl_lite.flows.CouplingLayer` with linear ``s`` and ``t``."""
    # A huge clamp makes the tanh soft-clamp the identity to ~1e-13 on these values.
    layer = CouplingLayer(2, (), affine=True, init_std=0.0, max_log_scale=1e6).double()
    with torch.no_grad():
        linear = layer.net[0]
        linear.weight.copy_(torch.tensor([[T_SLOPE_5_2], [S_SLOPE_5_2]], dtype=torch.float64))
        linear.bias.copy_(torch.tensor([T_OFFSET_5_2, 0.0], dtype=torch.float64))
    return layer


@register("5.1", "I(X; Y) in bits after relabelling x, and after merging x = 0 with x = 1")
def _ex_5_1() -> tuple[float, ...]:
    table = torch.tensor(TABLE_5_1, dtype=torch.float64)
    relabelled = torch.zeros_like(table).index_add_(0, torch.tensor(RELABEL_5_1), table)
    merged = torch.stack([table[0] + table[1], table[2]])
    return (
        float(info.mutual_information(relabelled, unit="bits")),
        float(info.mutual_information(merged, unit="bits")),
    )


@register("5.2", "log|det J| of the coupling layer at X_5_2, and the x2 that it maps to Y_5_2")
def _ex_5_2() -> tuple[float, ...]:
    layer = coupling_layer_5_2().requires_grad_(False)
    _, log_det = layer.forward_and_log_det(torch.tensor([X_5_2], dtype=torch.float64))
    x = layer.inverse(torch.tensor([Y_5_2], dtype=torch.float64))
    return (float(log_det[0]), float(x[0, 1]))


@register("5.3", "InfoNCE's ceiling at batch 128, and the least I(X1; X2 | Y) that 4 nats of InfoNCE certify")
def _ex_5_3() -> tuple[float, ...]:
    # A critic that is sure of every positive: the diagonal 50 nats above the rest.
    ceiling = bounds.infonce_bound(50.0 * torch.eye(BATCH_5_3, dtype=torch.float64))
    label_entropy = info.entropy([1.0 / CLASSES_5_3] * CLASSES_5_3)
    return (float(ceiling), INFONCE_5_3 - float(label_entropy))


def _size(g: torch.Generator, low: int, high: int) -> int:
    return int(torch.randint(low, high + 1, (1,), generator=g))


def _coupling_log_det(layer: CouplingLayer, x: torch.Tensor) -> torch.Tensor:
    return layer.forward_and_log_det(x)[1]


@register_function("5.5", "my_log_det(layer, x): log|det J| of a coupling layer at each row of x, by autograd",
                   _coupling_log_det)
def _inputs_5_5(g: torch.Generator) -> tuple:
    dim = 2 * _size(g, 1, 3)
    seed = int(torch.randint(0, 2**31 - 1, (1,), generator=g))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)  # the layer's weights, reproducibly, without touching the global stream
        layer = CouplingLayer(dim, (8,), affine=True, init_std=0.5, permutation=torch.randperm(dim)).double()
    return layer, torch.randn(_size(g, 1, 4), dim, generator=g, dtype=torch.float64)
