"""Chapter 1's exercises: the problem data and the recipes for their reference answers."""

from __future__ import annotations

from .. import info
from . import register

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


