r"""Finite worlds of inputs, transformations and encoders, computed exactly.

Taught in chapter 6 (``notebooks/06_information_bottleneck.ipynb``), which checks the claim that
latent bootstrapping (BYOL, SimSiam) minimizes :math:`(1-\beta)H(V) + \beta H(V \mid \hat V) - H(T)`.

A world has a finite set of inputs :math:`x` with probabilities :math:`p(x)`, a finite set of
transformations :math:`t` drawn with probabilities :math:`d(t)` independently of :math:`x`, and a
table ``transform[t, x]`` that says which of ``n_y`` observations :math:`y = t(x)` the
transformation produces. An encoder is a lookup table ``encoder[y]`` of non-negative integer
codes, so the online view is :math:`V = f(t(x))`; the target view is :math:`\hat V = g(t'(x))` with
an independent :math:`t' \sim d` and the target encoder :math:`g` (by default :math:`g = f`, the
SimSiam case). :func:`joint_table` returns the exact joint distribution of
:math:`(X, T, T', V, \hat V)`, from which :mod:`jessl_lite.info` computes every entropy and MI of
the chapter; nothing is sampled.

Example::

    >>> world = shifted_world([0.5, 0.5], n_poses=3, d_t=[0.5, 0.5])
    >>> terms = information_terms(world, identity_encoder(world))
    >>> round(float(terms.h_v_given_x), 6) == round(float(terms.h_t), 6)   # injective: H(V|X) = H(T)
    True
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields

import torch

from .. import info
from ..validation import (
    as_float64,
    check_choice,
    check_finite_tensor,
    check_generator,
    check_int,
    check_number,
    check_probability_table,
)

__all__ = [
    "AXIS_X",
    "AXIS_T",
    "AXIS_T_PRIME",
    "AXIS_V",
    "AXIS_V_HAT",
    "World",
    "make_world",
    "shifted_world",
    "random_world",
    "identity_encoder",
    "constant_encoder",
    "class_encoder",
    "encoder_outputs",
    "is_injective_in_t",
    "joint_table",
    "InformationTerms",
    "information_terms",
    "all_encoders",
    "SearchResult",
    "ib_search",
]

#: Axes of the table returned by :func:`joint_table`: p[x, t, t', v, v_hat].
AXIS_X, AXIS_T, AXIS_T_PRIME, AXIS_V, AXIS_V_HAT = 0, 1, 2, 3, 4


@dataclass(frozen=True)
class World:
    """A finite world; build it with :func:`make_world` (which checks its arguments).

    Attributes:
        p_x: (n_x,) float64, the input distribution p(x).
        d_t: (n_t,) float64, the transformation distribution d(t).
        transform: (n_t, n_x) int64, ``transform[t, x]`` is the index of the observation t(x).
        n_y: number of distinct observations.
        y_labels: a name per observation (for printing).
    """

    p_x: torch.Tensor
    d_t: torch.Tensor
    transform: torch.Tensor
    n_y: int
    y_labels: tuple[str, ...]

    def __post_init__(self) -> None:
        # Built directly (not by make_world), a World is checked too: the exact answers read its tables.
        for name in ("p_x", "d_t"):
            value = getattr(self, name)
            if not isinstance(value, torch.Tensor) or value.ndim != 1:
                raise TypeError(f"{name} must be a 1-D float64 tensor (make_world builds one from any "
                                f"probabilities); got {type(value).__name__}")
            check_probability_table(value, name, atol=1e-9)
        check_int(self.n_y, "n_y", minimum=1, maximum=_MAX_SIZE)
        if not isinstance(self.transform, torch.Tensor) or self.transform.dtype != torch.int64:
            raise TypeError(f"transform must be an int64 tensor (make_world builds one); got {self.transform!r}")
        if tuple(self.transform.shape) != (self.d_t.numel(), self.p_x.numel()):
            raise ValueError(f"transform must have shape (n_t, n_x) = ({self.d_t.numel()}, {self.p_x.numel()}); "
                             f"got {tuple(self.transform.shape)}")
        if bool((self.transform < 0).any()) or int(self.transform.max()) >= self.n_y:
            raise ValueError(f"transform must hold observation indices in 0..{self.n_y - 1}")
        if not isinstance(self.y_labels, tuple) or len(self.y_labels) != self.n_y or not all(
            isinstance(label, str) for label in self.y_labels
        ):
            raise TypeError(f"y_labels must be a tuple of n_y = {self.n_y} names; got {self.y_labels!r}")

    @property
    def n_x(self) -> int:
        return int(self.p_x.numel())

    @property
    def n_t(self) -> int:
        return int(self.d_t.numel())


def make_world(p_x, d_t, transform, *, n_y: int | None = None, y_labels: Sequence[str] | None = None) -> World:
    """A world from its input distribution, transformation distribution and transformation table.

    Args:
        p_x: probabilities of the inputs, shape (n_x,), summing to 1.
        d_t: probabilities of the transformations, shape (n_t,), summing to 1.
        transform: (n_t, n_x) integers, ``transform[t][x]`` = index of the observation t(x).
        n_y: number of observations (default: ``max(transform) + 1``).
        y_labels: a name per observation (default ``"y0", "y1", ...``).
    """
    p = _probabilities(p_x, "p_x")
    d = _probabilities(d_t, "d_t")
    table = _int_table(transform, "transform", ndim=2)
    if tuple(table.shape) != (d.numel(), p.numel()):
        raise ValueError(f"transform must have shape (n_t, n_x) = ({d.numel()}, {p.numel()}); got {tuple(table.shape)}")
    needed = int(table.max()) + 1
    n_y = needed if n_y is None else check_int(n_y, "n_y")
    if not needed <= n_y <= _MAX_SIZE:
        raise ValueError(f"n_y must be an int from max(transform) + 1 = {needed} to {_MAX_SIZE}; got {n_y!r}")
    if y_labels is not None and (isinstance(y_labels, str | bytes) or not isinstance(y_labels, Sequence)):
        raise TypeError(f"y_labels must be a sequence of names, one per observation; got {y_labels!r}")
    labels = tuple(f"y{i}" for i in range(n_y)) if y_labels is None else tuple(str(s) for s in y_labels)
    if len(labels) != n_y:
        raise ValueError(f"y_labels must name all n_y = {n_y} observations; got {len(labels)} names")
    return World(p_x=p, d_t=d, transform=table, n_y=n_y, y_labels=labels)


def shifted_world(p_class, n_poses: int, d_t) -> World:
    r"""Objects of several classes at several poses; transformation t turns the pose by t steps.

    Inputs are pairs (class c, pose s) with :math:`p(c, s) = p(c)/\text{n\_poses}`; the
    observation is :math:`t(c, s) = (c, (s + t) \bmod \text{n\_poses})`, so the class is what every
    view shares and the pose is the nuisance. With one class this is a ring of positions and
    shifts. Input and observation index ``c * n_poses + s``.

    Args:
        p_class: class probabilities, shape (n_classes,).
        n_poses: number of poses (>= 1).
        d_t: probabilities of turning by 0, 1, ..., len(d_t) - 1 steps.
    """
    p_c = _probabilities(p_class, "p_class")
    n_poses = check_int(n_poses, "n_poses", minimum=1)
    d = _probabilities(d_t, "d_t")
    n_c = p_c.numel()
    p_x = (p_c[:, None] / n_poses).expand(n_c, n_poses).reshape(-1)
    classes = torch.arange(n_c).repeat_interleave(n_poses)
    poses = torch.arange(n_poses).repeat(n_c)
    shifts = torch.arange(d.numel())[:, None]
    transform = classes[None, :] * n_poses + (poses[None, :] + shifts) % n_poses
    labels = [f"c{c}s{s}" for c in range(n_c) for s in range(n_poses)]
    return make_world(p_x, d, transform, n_y=n_c * n_poses, y_labels=labels)


def random_world(n_x: int, n_t: int, n_y: int, *, generator: torch.Generator | None = None) -> World:
    """A world with random p(x), d(t) (all positive) and a random transformation table.

    Args:
        n_x, n_t, n_y: numbers of inputs, transformations and observations (each >= 1).
        generator: torch random generator, for reproducible worlds.
    """
    for name, value in (("n_x", n_x), ("n_t", n_t), ("n_y", n_y)):
        check_int(value, name, minimum=1, maximum=_MAX_SIZE)
    check_generator(generator, "generator", optional=True)
    p_x = torch.rand(n_x, generator=generator, dtype=torch.float64) + 0.05
    d_t = torch.rand(n_t, generator=generator, dtype=torch.float64) + 0.05
    transform = torch.randint(0, n_y, (n_t, n_x), generator=generator)
    return make_world(p_x / p_x.sum(), d_t / d_t.sum(), transform, n_y=n_y)


# --- encoders ------------------------------------------------------------------------------


def identity_encoder(world: World) -> torch.Tensor:
    """The encoder that keeps the observation: ``f(y) = y`` (injective in t whenever t(x) is)."""
    _check_world(world)
    return torch.arange(world.n_y)


def constant_encoder(world: World) -> torch.Tensor:
    """The collapsed encoder ``f(y) = 0``: :math:`H(V) = 0`."""
    _check_world(world)
    return torch.zeros(world.n_y, dtype=torch.int64)


def class_encoder(world: World, n_poses: int) -> torch.Tensor:
    """For a :func:`shifted_world`: ``f(c, s) = c``, invariant to every transformation."""
    _check_world(world)
    n_poses = check_int(n_poses, "n_poses", minimum=1)
    if world.n_y % n_poses:
        raise ValueError(f"n_poses must be a positive int dividing n_y = {world.n_y}; got {n_poses!r}")
    return torch.arange(world.n_y) // n_poses


def encoder_outputs(world: World, encoder) -> torch.Tensor:
    """The table of codes ``v[t, x] = f(t(x))``, shape (n_t, n_x)."""
    _check_world(world)
    return _encoder(encoder, world, "encoder")[world.transform]


def is_injective_in_t(world: World, encoder) -> bool:
    r"""Whether :math:`t \mapsto f(t(x))` is one-to-one on the likely t's, for every likely x.

    This is exactly the condition for :math:`H(V \mid X) = H(T)` (equivalently
    :math:`H(T \mid V, X) = 0`).
    """
    codes = encoder_outputs(world, encoder)
    likely_t = world.d_t > 0
    for x in range(world.n_x):
        if world.p_x[x] > 0:
            seen = codes[likely_t, x]
            if seen.unique().numel() < seen.numel():
                return False
    return True


# --- the exact joint table -----------------------------------------------------------------


def joint_table(world: World, encoder, target=None) -> torch.Tensor:
    r"""The exact joint distribution of :math:`(X, T, T', V, \hat V)`.

    .. math::
        p(x, t, t', v, \hat v) = p(x)\, d(t)\, d(t')\,
        [v = f(t(x))]\, [\hat v = g(t'(x))]

    Args:
        world: the world.
        encoder: the online encoder f, ``n_y`` non-negative integer codes.
        target: the target encoder g (default: f itself, as in SimSiam).

    Returns:
        float64 table of shape (n_x, n_t, n_t, n_v, n_v), axes ``AXIS_X, AXIS_T, AXIS_T_PRIME,
        AXIS_V, AXIS_V_HAT``, with ``n_v`` one more than the largest code of f and g.
    """
    _check_world(world)
    f = _encoder(encoder, world, "encoder")
    g = f if target is None else _encoder(target, world, "target")
    n_v = int(max(f.max(), g.max())) + 1
    cells = world.n_x * world.n_t**2 * n_v**2
    if cells > _MAX_TABLE_CELLS:
        raise ValueError(
            f"the joint table of this world and encoder would hold {cells} cells (n_x * n_t^2 * n_v^2, with n_v = "
            f"{n_v} codes), more than {_MAX_TABLE_CELLS}; use fewer or smaller codes (rename them 0, 1, 2, ...)"
        )
    v = f[world.transform].T  # (n_x, n_t): the online code of input x under transformation t
    v_hat = g[world.transform].T
    x, t, t_prime = torch.meshgrid(
        torch.arange(world.n_x), torch.arange(world.n_t), torch.arange(world.n_t), indexing="ij"
    )
    mass = world.p_x[x] * world.d_t[t] * world.d_t[t_prime]
    table = torch.zeros(world.n_x, world.n_t, world.n_t, n_v, n_v, dtype=torch.float64)
    table[x, t, t_prime, v[x, t], v_hat[x, t_prime]] = mass
    return table


@dataclass(frozen=True)
class InformationTerms:
    r"""Every quantity of chapter 6's derivation for one encoder (0-dim tensors) or many ((E,)).

    Fields (all in the unit asked for): ``h_x`` H(X), ``h_t`` H(T), ``h_v`` H(V), ``h_xv``
    H(X, V), ``h_v_given_x`` H(V|X), ``h_t_given_vx`` H(T|V,X), ``h_v_given_v_hat``
    :math:`H(V \mid \hat V)`, ``i_xv`` I(X; V), ``i_v_v_hat`` :math:`I(V; \hat V)`.
    """

    h_x: torch.Tensor
    h_t: torch.Tensor
    h_v: torch.Tensor
    h_xv: torch.Tensor
    h_v_given_x: torch.Tensor
    h_t_given_vx: torch.Tensor
    h_v_given_v_hat: torch.Tensor
    i_xv: torch.Tensor
    i_v_v_hat: torch.Tensor

    def ib_lagrangian(self, beta: float) -> torch.Tensor:
        r"""The IB Lagrangian of latent bootstrapping, :math:`I(X; V) - \beta\, I(V; \hat V)`."""
        return self.i_xv - _beta(beta) * self.i_v_v_hat

    def blog_lagrangian(self, beta: float) -> torch.Tensor:
        r"""The blog post's closed form, :math:`(1-\beta) H(V) + \beta H(V \mid \hat V) - H(T)`.

        It equals :meth:`ib_lagrangian` minus :math:`H(T \mid V, X)`, so the two agree exactly
        when :math:`t \mapsto f(t(x))` is injective for every x.
        """
        b = _beta(beta)
        return (1 - b) * self.h_v + b * self.h_v_given_v_hat - self.h_t

    def as_dict(self) -> dict[str, torch.Tensor]:
        """The fields by name, in declaration order."""
        return {field.name: getattr(self, field.name) for field in fields(self)}


def information_terms(world: World, encoder, target=None, *, unit: str = "nats") -> InformationTerms:
    r"""All entropies and MIs of the chapter, computed exactly from :func:`joint_table`.

    Uses :mod:`jessl_lite.info` on the joint table of :math:`(X, T, T', V, \hat V)`; see
    :class:`InformationTerms` for the fields.
    """
    p = joint_table(world, encoder, target)
    return InformationTerms(
        h_x=info.entropy(info.marginal(p, AXIS_X), unit=unit),
        h_t=info.entropy(info.marginal(p, AXIS_T), unit=unit),
        h_v=info.entropy(info.marginal(p, AXIS_V), unit=unit),
        h_xv=info.joint_entropy(info.marginal(p, (AXIS_X, AXIS_V)), unit=unit),
        h_v_given_x=info.conditional_entropy(p, of=AXIS_V, given=AXIS_X, unit=unit),
        h_t_given_vx=info.conditional_entropy(p, of=AXIS_T, given=(AXIS_V, AXIS_X), unit=unit),
        h_v_given_v_hat=info.conditional_entropy(p, of=AXIS_V, given=AXIS_V_HAT, unit=unit),
        i_xv=info.mutual_information(p, a=AXIS_X, b=AXIS_V, unit=unit),
        i_v_v_hat=info.mutual_information(p, a=AXIS_V, b=AXIS_V_HAT, unit=unit),
    )


# --- exhaustive search over encoders -------------------------------------------------------


def all_encoders(n_y: int) -> torch.Tensor:
    """Every encoder of ``n_y`` observations, up to renaming its codes.

    Entropies and MIs do not change when codes are renamed, so an encoder is fixed by the
    partition of the observations it induces. Each partition appears once, as its restricted
    growth string (the first observation gets code 0, each later one an old code or the next
    new one); the first row is the constant encoder, the last the identity. There are Bell(n_y)
    of them: 1, 2, 5, 15, 52, 203, 877, 4140, 21147 for n_y = 1, ..., 9.

    Returns:
        int64 tensor of shape (Bell(n_y), n_y).
    """
    # At most 10: Bell(10) = 115975 encoders, Bell(11) = 678570.
    n_y = check_int(n_y, "n_y", minimum=1, maximum=10)
    rows: list[list[int]] = [[0]]
    for _ in range(n_y - 1):
        rows = [row + [code] for row in rows for code in range(max(row) + 2)]
    return torch.tensor(rows, dtype=torch.int64)


@dataclass(frozen=True)
class SearchResult:
    r"""The outcome of :func:`ib_search`.

    Attributes:
        betas: (B,) the trade-off values searched.
        encoders: (E, n_y) every encoder considered.
        terms: :class:`InformationTerms` with (E,) tensors, one entry per encoder.
        values: (B, E) the objective of every encoder at every beta.
        best: (B,) index into ``encoders`` of the chosen minimizer at each beta.
    """

    betas: torch.Tensor
    encoders: torch.Tensor
    terms: InformationTerms
    values: torch.Tensor
    best: torch.Tensor

    def best_terms(self) -> InformationTerms:
        """The terms of the minimizer at each beta, (B,) tensors."""
        return InformationTerms(**{name: value[self.best] for name, value in self.terms.as_dict().items()})

    def best_values(self) -> torch.Tensor:
        """(B,) the minimal objective at each beta."""
        return self.values.gather(1, self.best[:, None])[:, 0]


def ib_search(
    world: World,
    betas,
    *,
    target=None,
    objective: str = "ib",
    encoders: torch.Tensor | None = None,
    tol: float = 1e-10,
    unit: str = "nats",
) -> SearchResult:
    r"""Minimize the Lagrangian over every encoder of a world, exhaustively, for each beta.

    ``objective="ib"`` minimizes :math:`I(X;V) - \beta I(V;\hat V)`; ``"blog"`` minimizes the blog
    post's :math:`(1-\beta)H(V) + \beta H(V\mid\hat V) - H(T)`. Encoders whose value is within
    ``tol`` of the minimum tie; the tie goes to the smallest H(V) (the simplest encoder), then to
    the first in enumeration order, so that at beta < 1 the search reports the constant encoder
    rather than another encoder with the same value.

    Args:
        world: the world; its ``n_y`` must be at most 10 unless ``encoders`` is given.
        betas: trade-off values, a number or a 1-D sequence.
        target: a fixed target encoder g; ``None`` ties it to each candidate (g = f, SimSiam).
        objective: ``"ib"`` or ``"blog"``.
        encoders: (E, n_y) candidates (default: :func:`all_encoders`).
        tol: tolerance for ties, in the chosen unit, a finite number >= 0 (a NaN or negative
            tolerance would leave no encoder near the minimum).
        unit: ``"nats"`` or ``"bits"``.
    """
    _check_world(world)
    check_choice(objective, "objective", ("ib", "blog"))
    tol = check_number(tol, "tol", low=0.0)
    beta_grid = check_finite_tensor(as_float64(betas, "betas"), "betas").cpu()
    if beta_grid.ndim > 1:
        raise ValueError(f"betas must be a number or a 1-D sequence; got shape {tuple(beta_grid.shape)}")
    beta_grid = beta_grid.reshape(-1)
    if beta_grid.numel() == 0 or bool((beta_grid < 0).any()):
        raise ValueError(f"betas must be one or more finite numbers >= 0; got {beta_grid.tolist()}")
    if encoders is None and world.n_y > 10:
        raise ValueError(
            f"world has n_y = {world.n_y} observations, too many to enumerate every encoder (at most 10); "
            "pass the candidates as encoders=..."
        )
    candidates = all_encoders(world.n_y) if encoders is None else _int_table(encoders, "encoders", ndim=2)
    if candidates.shape[1] != world.n_y:
        raise ValueError(f"encoders must have n_y = {world.n_y} columns; got {candidates.shape[1]}")
    per_encoder = [information_terms(world, f, target, unit=unit).as_dict() for f in candidates]
    terms = InformationTerms(**{name: torch.stack([row[name] for row in per_encoder]) for name in per_encoder[0]})
    b = beta_grid[:, None]
    if objective == "ib":
        values = terms.i_xv[None, :] - b * terms.i_v_v_hat[None, :]
    else:
        values = (1 - b) * terms.h_v[None, :] + b * terms.h_v_given_v_hat[None, :] - terms.h_t[None, :]
    near_best = values <= values.min(dim=1, keepdim=True).values + tol
    # Among the near-minimal encoders, the smallest H(V); argmin returns the first on ties.
    h_v_masked = torch.where(near_best, terms.h_v[None, :].expand_as(values), torch.inf)
    best = h_v_masked.argmin(dim=1)
    return SearchResult(betas=beta_grid, encoders=candidates, terms=terms, values=values, best=best)


# --- helpers -------------------------------------------------------------------------------


_MAX_SIZE = 100_000
_MAX_TABLE_CELLS = 50_000_000


def _check_world(world) -> None:
    if not isinstance(world, World):
        raise TypeError(f"world must be a World (from make_world, shifted_world or random_world); "
                        f"got {type(world).__name__}")


def _beta(beta) -> float:
    return check_number(beta, "beta", low=0.0)


def _probabilities(p, name: str) -> torch.Tensor:
    table = check_probability_table(p, name, atol=1e-9)
    if table.ndim != 1:
        raise ValueError(f"{name} must be a 1-D probability vector; got shape {tuple(table.shape)}")
    return table


def _int_table(values, name: str, *, ndim: int) -> torch.Tensor:
    if isinstance(values, str | bytes):
        raise TypeError(f"{name} must be integers (tensor, array or nested list); got a string")
    try:
        table = torch.as_tensor(values)
    except (TypeError, ValueError, RuntimeError) as err:
        raise TypeError(f"{name} must be integers (tensor, array or nested list); got {type(values).__name__}") from err
    # Whole floats (2.0) are accepted as integers; inf == inf.round(), so finiteness is checked too.
    whole_floats = (
        table.dtype.is_floating_point and bool(torch.isfinite(table).all()) and bool((table == table.round()).all())
    )
    if table.dtype == torch.bool or table.dtype.is_complex or (table.dtype.is_floating_point and not whole_floats):
        raise TypeError(f"{name} must hold integers; got dtype {table.dtype}")
    table = table.to(torch.int64)
    if table.ndim != ndim or table.numel() == 0:
        raise ValueError(f"{name} must be a non-empty {ndim}-D table; got shape {tuple(table.shape)}")
    if bool((table < 0).any()):
        raise ValueError(f"{name} must hold non-negative integers; min is {int(table.min())}")
    return table


def _encoder(encoder, world: World, name: str) -> torch.Tensor:
    codes = _int_table(encoder, name, ndim=1)
    if codes.numel() != world.n_y:
        raise ValueError(f"{name} must give one code per observation (n_y = {world.n_y}); got {codes.numel()}")
    return codes
