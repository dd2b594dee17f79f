"""Chapter 1's exercises: the problem data and the recipes for their reference answers."""

from __future__ import annotations

import torch

from .. import info
from . import register, register_function

# --- chapter 1 -----------------------------------------------------------------------------

#: Exercise 1.1's die: each face half as likely as the one before, the last two tied.
DYADIC_DIE = [1 / 2, 1 / 4, 1 / 8, 1 / 16, 1 / 32, 1 / 32]

#: Exercise 1.2's joint table p(x, y): rows are x in {0, 1}, columns y in {0, 1, 2}.
TABLE_1_2 = [[1 / 4, 1 / 8, 1 / 8], [0.0, 1 / 4, 1 / 4]]


@register("1.1", "entropy of the dyadic die, in bits")
def _ex_1_1() -> tuple[float, ...]:
    return (float(info.entropy(DYADIC_DIE, unit="bits")),)


@register("1.2", "H(Y | X) and I(X; Y) of TABLE_1_2, in bits")
def _ex_1_2() -> tuple[float, ...]:
    h_y_given_x = info.conditional_entropy(TABLE_1_2, of=1, given=0, unit="bits")
    mi = info.mutual_information(TABLE_1_2, unit="bits")
    return (float(h_y_given_x), float(mi))


@register("1.3", "the correlation rho > 0 whose Gaussian pair shares exactly 1 bit")
def _ex_1_3() -> tuple[float, ...]:
    # Invert I(rho) = -1/2 log2(1 - rho^2) by bisection on the package's own formula.
    lo, hi = 0.0, 1.0 - 1e-15
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if float(info.correlated_gaussian_mi(mid, unit="bits")) < 1.0:
            lo = mid
        else:
            hi = mid
    return (0.5 * (lo + hi),)


@register("1.4", "h(3X) - h(X) for a scalar Gaussian X, in nats")
def _ex_1_4() -> tuple[float, ...]:
    return (float(info.gaussian_entropy(9.0) - info.gaussian_entropy(1.0)),)


def _size(g: torch.Generator, low: int, high: int) -> int:
    return int(torch.randint(low, high + 1, (1,), generator=g))


@register_function("1.5", "my_mutual_information(p_xy): I(X; Y) in nats of a joint table, zeros allowed",
                   lambda p: info.mutual_information(p))
def _inputs_1_5(g: torch.Generator) -> tuple:
    # A random joint table of random shape, with some cells exactly 0 (0 log 0 = 0).
    table = torch.rand(_size(g, 2, 5), _size(g, 2, 5), generator=g, dtype=torch.float64) ** 3
    table[torch.rand(table.shape, generator=g) < 0.25] = 0.0
    table[0, 0] += 0.1
    return (table / table.sum(),)
