"""Chapter 7's experiment code: the ER repository's vMF constant, and what it does to an entropy estimate.

Rodriguez-Galvez et al.'s reference implementation (apple/ml-entropy-reconstruction,
``entropy_reconstruction.py``) writes the vMF log normalizer's Bessel term as
``math.log(iv(d / 2 - 1, kappa) + 1e-7)`` with SciPy's ``iv``. Whenever
:math:`I_{d/2-1}(\\kappa) \\ll 10^{-7}` the ``1e-7`` dominates and the term becomes
:math:`\\log 10^{-7} = -16.12` instead of :math:`\\log I_{d/2-1}(\\kappa)` (and for large ``d``
``iv`` underflows to 0, so only the ``1e-7`` is left). Gradients do not see the constant; every
absolute entropy and reconstruction value does. :func:`repository_vmf_log_normalizer` computes
the constant as that code does, :func:`repository_vmf_kde_entropy` the entropy estimate it
reports (its ``reduction="average"``, the resubstitution estimate), so that chapter 7 can set
them beside :func:`jessl_lite.entropy.vmf_log_normalizer` and
:func:`jessl_lite.entropy.vmf_kde_entropy`.
"""

from __future__ import annotations

import math

import torch

from ..entropy import vmf_kde_entropy, vmf_log_normalizer
from ..validation import check_int, check_number

__all__ = ["REPOSITORY_EPS", "repository_vmf_log_normalizer", "repository_vmf_kde_entropy"]

#: What the repository adds to the Bessel function inside the logarithm.
REPOSITORY_EPS = 1e-7


def repository_vmf_log_normalizer(kappa: float, dim: int) -> float:
    r"""The vMF log normalizer :math:`\log C_d(\kappa)` as the ER repository computes it.

    .. math:: (d/2 - 1)\log\kappa - \tfrac d2 \log 2\pi - \log\big(I_{d/2-1}(\kappa) + 10^{-7}\big)

    with SciPy's ``scipy.special.iv`` in float64 (exactly the repository's expression, with the
    sign of :func:`jessl_lite.entropy.vmf_log_normalizer`). Compare with that function: the two
    agree while :math:`I_{d/2-1}(\kappa) \gg 10^{-7}`.

    Example::

        >>> round(repository_vmf_log_normalizer(10.0, 128) - float(vmf_log_normalizer(10.0, 128)), 1)
        -83.1
    """
    from scipy.special import iv

    k = check_number(kappa, "kappa", low=0.0, low_open=True)
    check_int(dim, "dim", minimum=2)
    return (0.5 * dim - 1) * math.log(k) - 0.5 * dim * math.log(2 * math.pi) - math.log(
        float(iv(0.5 * dim - 1, k)) + REPOSITORY_EPS)


def repository_vmf_kde_entropy(z: torch.Tensor, kappa: float) -> torch.Tensor:
    """The resubstitution vMF-KDE entropy that the repository reports (``reduction="average"``).

    The same estimate as :func:`jessl_lite.entropy.vmf_kde_entropy` except for the constant:
    ``vmf_kde_entropy(z, kappa) + log C_d(kappa) - repository_vmf_log_normalizer(kappa, d)``.

    Args:
        z: ``(N, d)`` unit-norm embeddings. kappa: concentration ``> 0``.
    """
    k = check_number(kappa, "kappa", low=0.0, low_open=True)
    estimate = vmf_kde_entropy(z, k)
    d = z.shape[-1]
    shift = float(vmf_log_normalizer(k, d)) - repository_vmf_log_normalizer(k, d)
    return estimate + shift
