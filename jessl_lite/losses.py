"""The loss functions of joint-embedding methods, as plain functions of tensors.

Each takes the embeddings of a batch (rows are samples) and returns a 0-dim tensor; the
methods in :mod:`jessl_lite.methods` decide which branch is detached. Chapter 3 sets them side
by side; chapter 4 studies the negative cosine of SimSiam and BYOL.

Example::

    >>> p, z = torch.randn(8, 16), torch.randn(8, 16)
    >>> bool(negative_cosine_similarity(p, p) == -1)
    True
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["negative_cosine_similarity"]


def negative_cosine_similarity(p: torch.Tensor, z: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    r"""The mean negative cosine similarity of paired rows (SimSiam's :math:`\mathcal{D}`, Chen & He 2021).

    .. math:: \mathcal{D}(p, z) = -\frac{1}{N} \sum_{i=1}^N
              \frac{p_i}{\lVert p_i \rVert_2} \cdot \frac{z_i}{\lVert z_i \rVert_2}

    It lies in [-1, 1] and equals -1 exactly when every ``p_i`` points along ``z_i``. BYOL's
    normalised mean squared error is ``2 + 2 D(p, z)``. Stop-gradient is the caller's choice:
    pass ``z.detach()`` for SimSiam's :math:`\mathcal{D}(p, \mathrm{stopgrad}(z))`.

    Args:
        p: ``(N, D)`` predictions. z: ``(N, D)`` targets.
        eps: guards the division for zero vectors.
    """
    if not isinstance(p, torch.Tensor) or not isinstance(z, torch.Tensor):
        raise TypeError("p and z must be tensors")
    if p.dim() != 2 or p.shape != z.shape:
        raise ValueError(f"p and z must both have shape (N, D); got {tuple(p.shape)} and {tuple(z.shape)}")
    # Cosine in float32 even under autocast: bf16 norms of 2048-wide vectors lose digits.
    p, z = p.float(), z.float()
    return -(F.normalize(p, dim=1, eps=eps) * F.normalize(z, dim=1, eps=eps)).sum(dim=1).mean()
