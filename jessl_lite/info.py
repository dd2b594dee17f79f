"""Exact information quantities: discrete tables and Gaussian closed forms.

Taught in chapter 1 (``notebooks/01_entropy.ipynb``) and used by every later chapter as the
ground truth that estimators are checked against.

Discrete distributions are probability tables: a tensor (or anything ``torch.as_tensor``
accepts: lists, numpy arrays) of non-negative numbers that sum to one. A table with ``n`` axes
is the joint distribution of ``n`` random variables, axis ``i`` indexing the values of the
``i``-th variable. All computation happens in float64, results are 0-dimensional tensors (so
they stay differentiable when the table requires a gradient), and ``0 log 0 = 0``.

Every function takes ``unit="nats"`` (natural logarithm, the default) or ``unit="bits"``
(base-2 logarithm).

Example::

    >>> from jessl_lite.info import entropy, mutual_information
    >>> float(entropy([0.5, 0.5], unit="bits"))
    1.0
    >>> p_xy = [[0.5, 0.0], [0.0, 0.5]]          # Y is a copy of X
    >>> float(mutual_information(p_xy, unit="bits"))
    1.0
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from .validation import (
    as_float64,
    check_choice,
    check_covariance,
    check_int,
    check_number,
    check_probability_table,
    check_same_device,
)

__all__ = [
    "entropy",
    "joint_entropy",
    "conditional_entropy",
    "mutual_information",
    "kl_divergence",
    "marginal",
    "gaussian_entropy",
    "gaussian_mutual_information",
    "correlated_gaussian_mi",
    "quantized_normal",
    "quantized_bivariate_normal",
]

Axes = int | Sequence[int]

_UNITS = {"nats": 1.0, "bits": 1.0 / math.log(2.0)}


def entropy(p, *, unit: str = "nats", atol: float = 1e-6) -> torch.Tensor:
    r"""Shannon entropy of a discrete distribution.

    .. math:: H(X) = -\sum_x p(x) \log p(x)

    For a table with several axes this is the joint entropy of all its variables.

    Args:
        p: probability table of any shape, entries >= 0 summing to 1 (within ``atol``).
        unit: ``"nats"`` or ``"bits"``.
        atol: tolerance on the total probability, in ``[0, 0.01]`` (NaN is refused: it would
            switch the check off).

    Returns:
        0-dim float64 tensor.

    Example::

        >>> float(entropy([0.25] * 4, unit="bits"))
        2.0
    """
    scale = _unit_scale(unit)
    table = check_probability_table(p, "p", atol=atol)
    return _entropy_of(table) * scale


def joint_entropy(p_xy, *, unit: str = "nats", atol: float = 1e-6) -> torch.Tensor:
    r"""Joint entropy :math:`H(X, Y) = -\sum_{x,y} p(x,y)\log p(x,y)` of a joint table.

    Identical to :func:`entropy` of the whole table; named separately so code reads like the
    formulas in the book.

    Args:
        p_xy: joint table with at least two axes.
        unit: ``"nats"`` or ``"bits"``.
        atol: tolerance on the total probability.
    """
    scale = _unit_scale(unit)
    table = check_probability_table(p_xy, "p_xy", atol=atol, min_ndim=2)
    return _entropy_of(table) * scale


def marginal(p, axes: Axes, *, atol: float = 1e-6) -> torch.Tensor:
    r"""Marginal table of the variables on ``axes`` (the others summed out).

    .. math:: p(x) = \sum_y p(x, y)

    Args:
        p: joint probability table.
        axes: the axis (int) or axes (sequence of ints) to keep, in the order given.

    Returns:
        float64 table with ``len(axes)`` dimensions.
    """
    table = check_probability_table(p, "p", atol=atol)
    keep = _normalize_axes(axes, table.ndim, "axes")
    return _marginal_of(table, keep)


def conditional_entropy(
    p,
    of: Axes = 1,
    given: Axes = 0,
    *,
    unit: str = "nats",
    atol: float = 1e-6,
) -> torch.Tensor:
    r"""Conditional entropy of the variables ``of`` given the variables ``given``.

    .. math:: H(Y \mid X) = -\sum_{x,y} p(x,y) \log \frac{p(x,y)}{p(x)} = H(X, Y) - H(X)

    Axes in neither ``of`` nor ``given`` are summed out first. With the defaults and a 2-D
    table ``p[x, y]`` this is :math:`H(Y \mid X)`.

    Args:
        p: joint probability table.
        of: axis or axes whose uncertainty is measured.
        given: axis or axes conditioned on (may be empty: then this is a marginal entropy).
        unit: ``"nats"`` or ``"bits"``.
        atol: tolerance on the total probability.

    Example::

        >>> p_xy = [[0.25, 0.25], [0.5, 0.0]]
        >>> round(float(conditional_entropy(p_xy, of=1, given=0, unit="bits")), 3)
        0.5
    """
    scale = _unit_scale(unit)
    table = check_probability_table(p, "p", atol=atol)
    of_axes = _normalize_axes(of, table.ndim, "of")
    given_axes = _normalize_axes(given, table.ndim, "given", allow_empty=True)
    _check_disjoint(of_axes, given_axes, "of", "given")
    h_joint = _entropy_of(_marginal_of(table, of_axes + given_axes))
    h_given = _entropy_of(_marginal_of(table, given_axes)) if given_axes else table.new_zeros(())
    # Direct summation of p log p(y|x) and the chain-rule difference agree exactly in exact
    # arithmetic; the difference is clamped because rounding can leave a -1e-17.
    return torch.clamp(h_joint - h_given, min=0.0) * scale


def mutual_information(
    p,
    a: Axes = 0,
    b: Axes = 1,
    given: Axes = (),
    *,
    unit: str = "nats",
    atol: float = 1e-6,
) -> torch.Tensor:
    r"""(Conditional) mutual information between the variables on axes ``a`` and ``b``.

    .. math::
        I(A; B \mid C) = H(A, C) + H(B, C) - H(A, B, C) - H(C)

    With ``given=()`` this is :math:`I(A;B) = H(A) + H(B) - H(A,B) = H(A) - H(A \mid B)`,
    equal to :math:`D_{\mathrm{KL}}(p(a,b) \,\|\, p(a)p(b))`. Axes in none of ``a``, ``b``,
    ``given`` are summed out first.

    Args:
        p: joint probability table.
        a: axis or axes of the first variable.
        b: axis or axes of the second variable.
        given: axis or axes conditioned on; empty for the plain MI.
        unit: ``"nats"`` or ``"bits"``.
        atol: tolerance on the total probability.

    Example::

        >>> import torch
        >>> float(mutual_information(torch.full((2, 2), 0.25)))   # independent bits
        0.0
    """
    scale = _unit_scale(unit)
    table = check_probability_table(p, "p", atol=atol)
    a_axes = _normalize_axes(a, table.ndim, "a")
    b_axes = _normalize_axes(b, table.ndim, "b")
    c_axes = _normalize_axes(given, table.ndim, "given", allow_empty=True)
    _check_disjoint(a_axes, b_axes, "a", "b")
    _check_disjoint(a_axes, c_axes, "a", "given")
    _check_disjoint(b_axes, c_axes, "b", "given")

    def h(axes: tuple[int, ...]) -> torch.Tensor:
        return _entropy_of(_marginal_of(table, axes)) if axes else table.new_zeros(())

    value = h(a_axes + c_axes) + h(b_axes + c_axes) - h(a_axes + b_axes + c_axes) - h(c_axes)
    return torch.clamp(value, min=0.0) * scale


def kl_divergence(p, q, *, unit: str = "nats", atol: float = 1e-6) -> torch.Tensor:
    r"""Kullback-Leibler divergence between two distributions on the same outcomes.

    .. math:: D_{\mathrm{KL}}(p \,\|\, q) = \sum_x p(x) \log \frac{p(x)}{q(x)}

    Returns ``inf`` when ``p`` puts mass where ``q`` has none; terms with ``p(x) = 0``
    contribute 0.

    Args:
        p: probability table.
        q: probability table of the same shape.
        unit: ``"nats"`` or ``"bits"``.
        atol: tolerance on each total probability.
    """
    scale = _unit_scale(unit)
    p_t = check_probability_table(p, "p", atol=atol)
    q_t = check_probability_table(q, "q", atol=atol)
    check_same_device(p_t, "p", q_t, "q")
    if p_t.shape != q_t.shape:
        raise ValueError(
            f"q must have the same shape as p; got p {tuple(p_t.shape)} and q {tuple(q_t.shape)}"
        )
    support = p_t > 0
    if bool((q_t[support] == 0).any()):
        return torch.tensor(math.inf, dtype=torch.float64, device=p_t.device)
    terms = torch.where(support, p_t * (torch.log(p_t) - torch.log(q_t)), p_t.new_zeros(()))
    return torch.clamp(terms.sum(), min=0.0) * scale


def gaussian_entropy(cov, *, unit: str = "nats") -> torch.Tensor:
    r"""Differential entropy of a multivariate Gaussian :math:`\mathcal N(\mu, \Sigma)`.

    .. math:: h(X) = \tfrac12 \log\det(2\pi e\,\Sigma) = \tfrac d2 \log(2\pi e) + \tfrac12\log\det\Sigma

    Unlike discrete entropy it can be negative (small variances) and it shifts by
    :math:`\log|\det A|` under an invertible linear map :math:`X \mapsto AX`.

    Args:
        cov: covariance, a positive number (variance of a scalar) or a symmetric
            positive-definite ``(d, d)`` matrix.
        unit: ``"nats"`` or ``"bits"``.
    """
    scale = _unit_scale(unit)
    sigma = check_covariance(cov, "cov")
    d = sigma.shape[0]
    return (0.5 * d * math.log(2 * math.pi * math.e) + 0.5 * torch.logdet(sigma)) * scale


def gaussian_mutual_information(cov, dim_x: int, *, unit: str = "nats") -> torch.Tensor:
    r"""Mutual information between the two blocks of a jointly Gaussian vector.

    For :math:`(X, Y) \sim \mathcal N(\mu, \Sigma)` with :math:`X` the first ``dim_x``
    coordinates,

    .. math:: I(X; Y) = \tfrac12 \log \frac{\det \Sigma_{XX} \det \Sigma_{YY}}{\det \Sigma}.

    Args:
        cov: symmetric positive-definite joint covariance, shape ``(d_x + d_y, d_x + d_y)``.
        dim_x: number of coordinates of X (``1 <= dim_x < d``).
        unit: ``"nats"`` or ``"bits"``.
    """
    scale = _unit_scale(unit)
    sigma = check_covariance(cov, "cov")
    d = sigma.shape[0]
    if d < 2:
        raise ValueError(f"cov must be at least 2 x 2 to hold an X block and a Y block; got shape {tuple(sigma.shape)}")
    dim_x = check_int(dim_x, "dim_x", minimum=1, maximum=d - 1)
    value = 0.5 * (
        torch.logdet(sigma[:dim_x, :dim_x]) + torch.logdet(sigma[dim_x:, dim_x:]) - torch.logdet(sigma)
    )
    return torch.clamp(value, min=0.0) * scale


def correlated_gaussian_mi(rho, dim: int = 1, *, unit: str = "nats") -> torch.Tensor:
    r"""MI of Gaussian vectors whose coordinates are correlated pairwise with coefficient rho.

    For :math:`X, Y \in \mathbb R^d` with standard-normal coordinates, :math:`\mathrm{corr}(X_i,
    Y_i) = \rho_i` and all other pairs independent,

    .. math:: I(X; Y) = -\tfrac12 \sum_{i=1}^{d} \log(1 - \rho_i^2),

    which for one shared :math:`\rho` is :math:`-\tfrac d2 \log(1-\rho^2)`. This is the
    benchmark of Poole et al. (2019) used in chapter 2.

    Args:
        rho: a correlation in (-1, 1), or a sequence of them (one per coordinate; then
            ``dim`` must be 1 or equal to its length).
        dim: number of coordinate pairs sharing a scalar ``rho``.
        unit: ``"nats"`` or ``"bits"``.
    """
    scale = _unit_scale(unit)
    dim = check_int(dim, "dim", minimum=1)
    r = as_float64(rho, "rho")
    if r.ndim > 1:
        raise ValueError(f"rho must be a scalar or a 1-D sequence; got shape {tuple(r.shape)}")
    if not bool(torch.isfinite(r).all()) or bool((r.abs() >= 1).any()):
        raise ValueError(f"rho must lie strictly inside (-1, 1); got {r.tolist()}")
    if r.ndim == 1:
        if dim not in (1, r.numel()):
            raise ValueError(f"dim must be 1 or len(rho) = {r.numel()} when rho is a sequence; got {dim}")
        return -0.5 * torch.log1p(-(r**2)).sum() * scale
    return -0.5 * dim * torch.log1p(-(r**2)) * scale


def quantized_normal(delta: float, *, var: float = 1.0, half_width: float = 8.0) -> torch.Tensor:
    r"""Probabilities of :math:`X \sim \mathcal N(0, \sigma^2)` quantized into bins of width ``delta``.

    Bin :math:`i` is :math:`[-L + i\Delta, -L + (i+1)\Delta)`; its probability is a difference of
    normal CDFs, so the table is exact up to the mass beyond :math:`\pm L` (renormalized away).
    Chapter 1 uses it to show :math:`H(X_\Delta) \approx h(X) - \log\Delta`.

    Args:
        delta: bin width, > 0, with ``2 * half_width / delta`` a whole number.
        var: variance of X, > 0.
        half_width: L, the grid covers [-L, L].

    Returns:
        float64 vector of ``2L / delta`` bin probabilities.
    """
    edges = _grid_edges(delta, half_width, max_bins=_MAX_BINS)
    var = check_number(var, "var", low=0.0, low_open=True)
    probs = torch.diff(torch.special.ndtr(edges / math.sqrt(var)))
    return probs / probs.sum()


def quantized_bivariate_normal(
    rho: float, delta: float, *, half_width: float = 6.0, nodes: int = 16
) -> torch.Tensor:
    r"""Joint cell probabilities of a standard bivariate normal with correlation ``rho``, on a grid.

    Both coordinates are quantized into bins of width :math:`\Delta` on :math:`[-L, L]`. Each
    cell's probability is

    .. math:: P(X \in A_i, Y \in B_j) = \int_{A_i} \varphi(x)\,
        \Big[\Phi\big(\tfrac{b_j^+ - \rho x}{\sqrt{1-\rho^2}}\big)
        - \Phi\big(\tfrac{b_j^- - \rho x}{\sqrt{1-\rho^2}}\big)\Big]\,dx,

    the inner probability exact (normal CDF of :math:`Y \mid X = x`) and the outer integral by
    Gauss-Legendre quadrature with ``nodes`` points per bin. Since the quantized pair is a
    function of (X, Y), the data-processing inequality gives
    :math:`I(X_\Delta; Y_\Delta) \le -\tfrac12\log(1-\rho^2)`, with equality in the limit
    :math:`\Delta \to 0` (chapter 1).

    Args:
        rho: correlation in (-1, 1).
        delta: bin width, > 0, with ``2 * half_width / delta`` a whole number.
        half_width: L.
        nodes: quadrature points per bin (16 is exact to ~1e-12 for bins up to width 1), at most 64.

    Returns:
        float64 table of shape ``(n, n)`` with ``n = 2L / delta``, summing to 1.
    """
    rho = check_number(rho, "rho", low=-1.0, high=1.0, low_open=True, high_open=True)
    nodes = check_int(nodes, "nodes", minimum=1, maximum=64)
    # The quadrature holds (n, nodes, n + 1) numbers: cap n so that this stays under ~0.5 GB.
    edges = _grid_edges(delta, half_width, max_bins=int(math.sqrt(_MAX_QUADRATURE_POINTS / nodes)))
    gl_x, gl_w = _gauss_legendre(nodes)
    centers = 0.5 * (edges[:-1] + edges[1:])
    x = centers[:, None] + 0.5 * delta * gl_x[None, :]  # (n, nodes) quadrature points per x-bin
    scale = math.sqrt(1.0 - rho**2)
    cdf = torch.special.ndtr((edges[None, None, :] - rho * x[..., None]) / scale)  # (n, nodes, n + 1)
    density = torch.exp(-0.5 * x**2) / math.sqrt(2 * math.pi)
    table = (0.5 * delta * gl_w[None, :, None] * density[..., None] * torch.diff(cdf, dim=-1)).sum(1)
    return table / table.sum()


# --- helpers -------------------------------------------------------------------------------


_MAX_BINS = 10_000_000
_MAX_QUADRATURE_POINTS = 64_000_000


def _unit_scale(unit: str) -> float:
    return _UNITS[check_choice(unit, "unit", tuple(_UNITS))]


def _grid_edges(delta: float, half_width: float, *, max_bins: int) -> torch.Tensor:
    delta = check_number(delta, "delta", low=0.0, low_open=True)
    half_width = check_number(half_width, "half_width", low=0.0, low_open=True)
    n_bins = 2 * half_width / delta
    if abs(n_bins - round(n_bins)) > 1e-9 * max(1.0, n_bins):
        raise ValueError(f"delta must divide 2 * half_width = {2 * half_width} into whole bins; got {delta}")
    n_bins = round(n_bins)
    if n_bins > max_bins:
        raise ValueError(
            f"delta = {delta:g} makes {n_bins} bins on [-{half_width:g}, {half_width:g}], more than the {max_bins} "
            "this grid allows; use a larger delta or a smaller half_width"
        )
    return -half_width + delta * torch.arange(n_bins + 1, dtype=torch.float64)


def _gauss_legendre(nodes: int) -> tuple[torch.Tensor, torch.Tensor]:
    # Golub-Welsch: the nodes are the eigenvalues of the Jacobi matrix of the Legendre
    # polynomials, the weights twice the squared first components of its eigenvectors.
    k = torch.arange(1, nodes, dtype=torch.float64)
    off = k / torch.sqrt(4 * k**2 - 1)
    jacobi = torch.diag(off, 1) + torch.diag(off, -1)
    points, vectors = torch.linalg.eigh(jacobi)
    return points, 2 * vectors[0] ** 2


def _normalize_axes(axes: Axes, ndim: int, name: str, *, allow_empty: bool = False) -> tuple[int, ...]:
    if isinstance(axes, Sequence) and not isinstance(axes, str | bytes):
        raw = tuple(axes)
    else:
        try:
            raw = (check_int(axes, name),)
        except TypeError:
            given = f"{axes!r} ({type(axes).__name__})"
            raise TypeError(f"{name} must be an int or a sequence of ints; got {given}") from None
    if not raw and not allow_empty:
        raise ValueError(f"{name} must name at least one axis")
    out = []
    for axis in raw:
        axis = check_int(axis, name)
        if not -ndim <= axis < ndim:
            raise ValueError(f"{name} has axis {axis}, but the table p has only {ndim} axis(es)")
        out.append(axis % ndim)
    if len(set(out)) != len(out):
        raise ValueError(f"{name} repeats an axis: {raw}")
    return tuple(out)


def _check_disjoint(first: tuple[int, ...], second: tuple[int, ...], n1: str, n2: str) -> None:
    common = set(first) & set(second)
    if common:
        raise ValueError(f"{n1} and {n2} must not share axes; both contain {sorted(common)}")


def _marginal_of(table: torch.Tensor, keep: tuple[int, ...]) -> torch.Tensor:
    drop = [axis for axis in range(table.ndim) if axis not in keep]
    summed = table.sum(dim=drop) if drop else table
    remaining = [axis for axis in range(table.ndim) if axis in keep]
    return summed.permute([remaining.index(axis) for axis in keep])


def _entropy_of(table: torch.Tensor) -> torch.Tensor:
    # 0 log 0 = 0: mask before the log so that the gradient at zero cells stays finite.
    positive = table > 0
    safe = torch.where(positive, table, torch.ones_like(table))
    return -(table * torch.log(safe)).sum()
