r"""Bijective encoders: RealNVP-style coupling layers with an exact inverse and log-determinant.

Chapter 5 (``notebooks/05_mi_is_not_enough.ipynb``) trains these encoders to maximize mutual
information, following Tschannen et al. (2020), "On Mutual Information Maximization for
Representation Learning", ICLR. A bijection ``g`` leaves every mutual information unchanged,
:math:`I(g(X); Y) = I(X; Y)`, so whatever training changes, it is not the information.

A coupling layer (Dinh et al. 2015, NICE; Dinh et al. 2017, RealNVP) first permutes the ``D``
coordinates with a fixed permutation, then splits them into a conditioning part :math:`x_a`
(the first ``D // 2``) and the rest :math:`x_b`, and changes only :math:`x_b`:

.. math::
    y_a = x_a, \qquad
    y_b = x_b + t(x_a) \quad\text{(additive, "shift-only")}, \qquad
    y_b = x_b \odot e^{s(x_a)} + t(x_a) \quad\text{(affine)}.

``s`` and ``t`` are any networks (here MLPs), yet the layer is invertible in closed form,
:math:`x_b = (y_b - t(y_a)) \odot e^{-s(y_a)}`, and its Jacobian is triangular with diagonal
:math:`(1, \dots, 1, e^{s(x_a)})`, so :math:`\log|\det J| = \sum_k s_k(x_a)`: exactly 0 for the
additive layer, which therefore preserves volume. Additive is the default (as in the paper's
first experiment); ``affine=True`` adds the scale.

Example::

    >>> g = BijectiveEncoder(6, num_layers=4, hidden_dims=(16,), init_std=0.1, seed=0)
    >>> x = torch.randn(5, 6)
    >>> bool(torch.allclose(g.inverse(g(x)), x, atol=1e-6))
    True
    >>> float(g.log_det_jacobian(x).abs().max())      # additive: volume-preserving
    0.0
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from .validation import check_bool, check_int, check_int_sequence, check_number, check_tensor

__all__ = ["CouplingLayer", "BijectiveEncoder"]


class CouplingLayer(nn.Module):
    r"""One coupling layer: permute, keep the first ``dim // 2`` coordinates, shift (and scale) the rest.

    .. math::
        u = x_{[\pi]}, \quad y = \big(u_a,\; u_b \odot e^{s(u_a)} + t(u_a)\big), \quad
        \log|\det \partial y / \partial x| = \textstyle\sum_k s_k(u_a)

    with :math:`s \equiv 0` unless ``affine``. A permutation has :math:`|\det| = 1`, so it adds
    nothing to the log-determinant.

    Args:
        dim: number of coordinates ``D`` (at least 2).
        hidden_dims: hidden widths of the MLP computing ``t`` (and ``s``) from ``u_a``; ReLU
            between layers; may be empty (then ``t`` is linear in ``u_a``).
        affine: also scale ``u_b``; the log-scale is soft-clamped to ``(-max_log_scale,
            max_log_scale)`` by a ``tanh``, because an unbounded ``exp`` overflows during training
            (Tschannen et al. swapped it for a softplus for the same reason, which loses the
            identity at initialization and the simple log-determinant; the clamp keeps both).
        init_std: std of the truncated-normal initialization of every weight (biases start at
            0). The paper's ``1e-4`` makes the layer the identity up to ~1e-8 at the start.
        permutation: ``(D,)`` permutation applied first; ``None`` keeps the order.
        max_log_scale: bound on ``|s|`` for ``affine`` layers.

    Shapes: ``forward(x: (N, D)) -> (N, D)``; ``inverse(y: (N, D)) -> (N, D)``;
    ``forward_and_log_det(x) -> ((N, D), (N,))``.
    """

    def __init__(
        self,
        dim: int,
        hidden_dims: Sequence[int] = (512, 512),
        *,
        affine: bool = False,
        init_std: float = 1e-4,
        permutation: torch.Tensor | None = None,
        max_log_scale: float = 2.0,
    ) -> None:
        super().__init__()
        dim = check_int(dim, "dim", minimum=2)
        hidden = check_int_sequence(hidden_dims, "hidden_dims", minimum=1)
        check_bool(affine, "affine")
        init_std = check_number(init_std, "init_std", low=0.0)
        max_log_scale = check_number(max_log_scale, "max_log_scale", low=0.0, low_open=True)
        if permutation is None:
            permutation = torch.arange(dim)
        check_tensor(permutation, "permutation", ndim=1, dims=f"({dim},)")
        if permutation.is_floating_point() or permutation.is_complex() or permutation.dtype == torch.bool:
            # A float permutation would be truncated by .long(): [0, 1.5, 2, 3] would pass as [0, 1, 2, 3].
            raise TypeError(f"permutation must be an integer tensor; got dtype {permutation.dtype}")
        if permutation.shape != (dim,):
            raise ValueError(f"permutation must have shape ({dim},); got {tuple(permutation.shape)}")
        permutation = permutation.long().cpu()
        if not torch.equal(permutation.sort().values, torch.arange(dim)):
            raise ValueError("permutation must hold each of 0..dim-1 exactly once")
        self.dim, self.affine, self.max_log_scale = dim, affine, float(max_log_scale)
        self.split = dim // 2
        self.register_buffer("permutation", permutation)
        self.register_buffer("inverse_permutation", permutation.argsort())
        out = (dim - self.split) * (2 if affine else 1)
        layers: list[nn.Module] = []
        width = self.split
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU()]
            width = h
        layers.append(nn.Linear(width, out))
        self.net = nn.Sequential(*layers)
        for module in self.net:
            if isinstance(module, nn.Linear):
                if init_std > 0:
                    nn.init.trunc_normal_(module.weight, std=init_std, a=-2 * init_std, b=2 * init_std)
                else:
                    nn.init.zeros_(module.weight)
                nn.init.zeros_(module.bias)

    def _shift_and_log_scale(self, u_a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        out = self.net(u_a)
        if not self.affine:
            return out, None
        shift, raw = out.chunk(2, dim=-1)
        return shift, self.max_log_scale * torch.tanh(raw / self.max_log_scale)

    def forward_and_log_det(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(y, log|det J|)`` for a batch ``x: (N, D)``."""
        _check_batch(x, self.dim, "x", self.permutation.device)
        u = x[:, self.permutation]
        u_a, u_b = u[:, : self.split], u[:, self.split :]
        shift, log_scale = self._shift_and_log_scale(u_a)
        if log_scale is None:
            # Exactly zero, not a sum of float zeros: an additive layer preserves volume.
            return torch.cat([u_a, u_b + shift], dim=1), x.new_zeros(x.shape[0])
        y_b = u_b * torch.exp(log_scale) + shift
        return torch.cat([u_a, y_b], dim=1), log_scale.sum(dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_and_log_det(x)[0]

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        """The ``x`` with ``forward(x) == y``, in closed form."""
        _check_batch(y, self.dim, "y", self.permutation.device)
        y_a, y_b = y[:, : self.split], y[:, self.split :]
        shift, log_scale = self._shift_and_log_scale(y_a)
        u_b = y_b - shift if log_scale is None else (y_b - shift) * torch.exp(-log_scale)
        return torch.cat([y_a, u_b], dim=1)[:, self.inverse_permutation]


class BijectiveEncoder(nn.Module):
    r"""A stack of coupling layers with fixed random permutations: a bijection of :math:`\mathbb R^D`.

    .. math:: g = \pi^{-1} \circ c_L \circ \dots \circ c_1, \qquad
        \log|\det J_g(x)| = \sum_{l=1}^L \log|\det J_{c_l}(x_{l-1})|

    with :math:`\pi` the composition of the layers' permutations (see ``seed``).

    Tschannen et al. (2020) encode each 392-pixel half of an MNIST digit with 30 additive
    coupling layers whose MLPs have two hidden layers of 512 units, initialized with std
    ``1e-4`` (near the identity), and train with Adam at ``1e-4``, batch 128.

    Args:
        dim: ``D``, the input and output width.
        num_layers: number of :class:`CouplingLayer` s (at least 1).
        hidden_dims, affine, init_std, max_log_scale: passed to every layer.
        seed: seeds the layers' permutations (a CPU generator, so the same on every device).
            The first layer keeps the input order; each later one draws a random permutation.
            The composed permutation is undone after the last layer, so output coordinate ``k``
            sits where input coordinate ``k`` was: at the paper's initialization ``g(x) = x`` up
            to ~1e-8, and an encoding of an image can be shown as an image.

    Shapes: ``forward(x: (N, D)) -> (N, D)`` and the same for ``inverse``.

    Example::

        >>> g = BijectiveEncoder(392, num_layers=30)            # the paper's encoder
        >>> sum(p.numel() for p in g.parameters())
        13922040
    """

    def __init__(
        self,
        dim: int,
        num_layers: int = 30,
        hidden_dims: Sequence[int] = (512, 512),
        *,
        affine: bool = False,
        init_std: float = 1e-4,
        max_log_scale: float = 2.0,
        seed: int = 0,
    ) -> None:
        super().__init__()
        dim = check_int(dim, "dim", minimum=2)
        num_layers = check_int(num_layers, "num_layers", minimum=1)
        seed = check_int(seed, "seed", minimum=0)
        generator = torch.Generator().manual_seed(seed)
        layers = []
        for index in range(num_layers):
            perm = torch.arange(dim) if index == 0 else torch.randperm(dim, generator=generator)
            layers.append(
                CouplingLayer(
                    dim, hidden_dims, affine=affine, init_std=init_std, permutation=perm, max_log_scale=max_log_scale
                )
            )
        self.layers = nn.ModuleList(layers)
        self.dim, self.affine = dim, affine
        order = torch.arange(dim)
        for layer in layers:
            order = order[layer.permutation]
        # After the layers, output position j holds (a function of) input coordinate order[j].
        self.register_buffer("order", order)
        self.register_buffer("output_order", order.argsort())

    def forward_and_log_det(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(g(x), log|det J_g(x)|)`` for ``x: (N, D)``; the log-determinant is ``(N,)``."""
        _check_batch(x, self.dim, "x", self.order.device)
        total = x.new_zeros(x.shape[0])
        for layer in self.layers:
            x, log_det = layer.forward_and_log_det(x)
            total = total + log_det
        return x[:, self.output_order], total

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_batch(x, self.dim, "x", self.order.device)
        for layer in self.layers:
            x = layer(x)
        return x[:, self.output_order]

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        """:math:`g^{-1}(y)`, layer by layer in reverse order."""
        _check_batch(y, self.dim, "y", self.order.device)
        y = y[:, self.order]
        for layer in reversed(self.layers):
            y = layer.inverse(y)
        return y

    def log_det_jacobian(self, x: torch.Tensor) -> torch.Tensor:
        r""":math:`\log|\det \partial g(x)/\partial x|` per sample, ``(N,)``; 0 for additive layers."""
        return self.forward_and_log_det(x)[1]


# --- input checks ----------------------------------------------------------------------------


def _check_batch(x, dim: int, name: str, device: torch.device) -> None:
    # Metadata only: called on every forward pass, so it must not synchronise with the GPU.
    check_tensor(x, name, dims=f"(N, {dim})", floating=True)
    if x.ndim != 2 or x.shape[1] != dim:
        raise ValueError(f"{name} must have shape (N, {dim}); got {tuple(x.shape)} (flatten images first)")
    if x.device != device:
        raise ValueError(f"{name} is on {x.device} but the encoder is on {device}; move one of them with .to(...)")
