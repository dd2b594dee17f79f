"""The catalogue behind ``tests/test_bad_inputs.py`` and ``bench/bad_inputs_probe.py``.

For every public callable of ``jessl_lite`` (the names in each module's ``__all__``, walking the
package and its sub-packages, and the public methods of the public classes) it holds one valid
example call. Each argument of the example has a *kind*, inferred from its value (an ``int`` is a
size >= 1, a ``float`` a finite number > 0, a tensor keeps its rank and dtype, ...) or given by a
wrapper (``nonneg(0.0)``, ``count(0)``, ``choice("nats")``, ...); a kind knows the bad values of its
sort: wrong types, lists for tensors, wrong ranks, empty tensors, integer dtypes, NaN and
infinities, values out of range, bools for ints, and tensors whose batch does not match their
partners'. A bad value must end in a ``ValueError``/``TypeError`` whose message names the
argument, or be one of the few :data:`ALLOWED` cases where it is legitimately accepted.

A public callable without an example here makes ``test_every_public_callable_has_an_example``
fail, naming it: a new function is covered the day it is exported.
"""

from __future__ import annotations

import fnmatch
import importlib
import inspect
import math
import os
import pkgutil
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from hypothesis import strategies as st
from torch import nn

import jessl_lite

# --- the public callables ------------------------------------------------------------------------

#: Sub-packages not walked yet, each with the reason. Keep it short and dated.
NOT_WALKED: dict[str, str] = {}


def public_callables() -> dict[str, Callable]:
    """``{"module.Name": obj, "module.Class.method": function}`` for every public callable.

    Re-exports (``jessl_lite.train.Run``) are listed once, under the module that defines them.
    Exception classes are left out: constructing an exception takes any message.
    """
    found: dict[str, Callable] = {}
    for info in pkgutil.walk_packages(jessl_lite.__path__, "jessl_lite."):
        name = info.name
        if name.endswith("__main__") or any(name == p or name.startswith(p + ".") for p in NOT_WALKED):
            continue
        module = importlib.import_module(name)
        for attr in getattr(module, "__all__", ()):
            obj = getattr(module, attr)
            if not callable(obj) or (inspect.isclass(obj) and issubclass(obj, BaseException)):
                continue
            key = f"{obj.__module__}.{obj.__qualname__}"
            if not key.startswith("jessl_lite."):
                continue
            found.setdefault(key, obj)
            if inspect.isclass(obj):
                for method, value in vars(obj).items():
                    function = value.__func__ if isinstance(value, classmethod | staticmethod) else value
                    if not method.startswith("_") and inspect.isfunction(function):
                        found.setdefault(f"{key}.{method}", function)
    return dict(sorted(found.items()))


# --- kinds of argument and their bad values ---------------------------------------------------------

NO_CUDA = not torch.cuda.is_available()


class Kind:
    """The sort of an argument; :meth:`bad` lists ``(label, value)`` pairs that must be refused."""

    def bad(self, value: Any, optional: bool) -> list[tuple[str, Any]]:
        raise NotImplementedError

    def strategy(self, value: Any, optional: bool) -> st.SearchStrategy:
        """Bad values for hypothesis: the representative ones, and more drawn where a range allows it."""
        return st.sampled_from(self.bad(value, optional))


def _none(optional: bool) -> list[tuple[str, Any]]:
    return [] if optional else [("None", None)]


@dataclass
class Anything(Kind):
    """No bad value: any object is a legitimate value (a student's answer, a value to show)."""

    def bad(self, value, optional):
        return []


@dataclass
class Int(Kind):
    minimum: int | None = 1
    maximum: int | None = None

    def bad(self, value, optional):
        out = [("bool", True), ("float", float(value) + 0.5), ("str", str(value))] + _none(optional)
        if self.minimum is not None:
            out.insert(0, ("below minimum", self.minimum - 1))
        if self.maximum is not None:
            out.insert(0, ("above maximum", self.maximum + 1))
        return out

    def strategy(self, value, optional):
        drawn = [st.sampled_from(self.bad(value, optional)), st.floats().map(lambda v: ("drawn float", v)),
                 st.booleans().map(lambda v: ("drawn bool", v))]
        if self.minimum is not None:
            drawn.append(st.integers(max_value=self.minimum - 1).map(lambda v: ("drawn int below", v)))
        if self.maximum is not None:
            drawn.append(st.integers(min_value=self.maximum + 1).map(lambda v: ("drawn int above", v)))
        return st.one_of(drawn)


@dataclass
class Num(Kind):
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def bad(self, value, optional):
        out = [("nan", math.nan), ("inf", math.inf), ("-inf", -math.inf), ("bool", True), ("str", "0.5")]
        if self.low is not None:
            out.append(("below range", self.low if self.low_open else self.low - 1.0))
        if self.high is not None:
            out.append(("above range", self.high if self.high_open else self.high + 1.0))
        return out + _none(optional)

    def strategy(self, value, optional):
        drawn = [st.sampled_from(self.bad(value, optional))]
        if self.low is not None:
            below = st.floats(max_value=self.low, exclude_max=not self.low_open, allow_nan=False, allow_infinity=False)
            drawn.append(below.map(lambda v: ("drawn below", v)))
        if self.high is not None:
            above = st.floats(min_value=self.high, exclude_min=not self.high_open, allow_nan=False,
                              allow_infinity=False)
            drawn.append(above.map(lambda v: ("drawn above", v)))
        return st.one_of(drawn)


@dataclass
class Bool(Kind):
    def bad(self, value, optional):
        return [("int", 1), ("str", "yes")] + _none(optional)

    def strategy(self, value, optional):
        return st.one_of(st.sampled_from(self.bad(value, optional)), st.integers().map(lambda v: ("drawn int", v)))


@dataclass
class Choice(Kind):
    def bad(self, value, optional):
        return [("unknown choice", "no-such-choice"), ("int", 3)] + _none(optional)

    def strategy(self, value, optional):
        unknown = st.text(max_size=8).map(lambda t: ("drawn unknown choice", "no such " + t))
        return st.one_of(st.sampled_from(self.bad(value, optional)), unknown)


@dataclass
class Text(Kind):
    def bad(self, value, optional):
        return [("int", 3)] + _none(optional)


@dataclass
class Instance(Kind):
    """An object of a class (a module, a data set, a config, a generator): the wrong sort is refused."""

    extra: tuple[tuple[str, Callable[[Any], Any]], ...] = ()

    def bad(self, value, optional):
        return [("str", "mlp"), ("int", 3)] + [(label, make(value)) for label, make in self.extra] + _none(optional)


@dataclass
class Function(Kind):
    def bad(self, value, optional):
        return [("str", "fn"), ("int", 3)] + _none(optional)


@dataclass
class Device(Kind):
    def bad(self, value, optional):
        out = [("not a device", "gpu"), ("int", 3)] + _none(optional)
        return out + ([("a GPU this machine lacks", "cuda")] if NO_CUDA else [])


@dataclass
class PathKind(Kind):
    def bad(self, value, optional):
        return [("int", 3)] + _none(optional)


@dataclass
class MappingKind(Kind):
    def bad(self, value, optional):
        return [("list", ["a"]), ("str", "x")] + _none(optional)


@dataclass
class IntSequence(Kind):
    minimum: int = 1

    def bad(self, value, optional):
        return [("str", "64"), ("bare int", 64), ("entry below minimum", (self.minimum - 1,)),
                ("bool entry", (True,))] + _none(optional)


@dataclass
class Numbers(Kind):
    """A tuple of finite numbers, each ``>= low`` (jitter strengths, means, levels)."""

    low: float | None = None
    pair: bool = False  # (low, high) with low <= high

    def bad(self, value, optional):
        first = value[0]
        out = [("str", "ab"), ("nan entry", (math.nan, *value[1:])), ("bool entry", (True, *value[1:]))]
        if self.low is not None:
            out.append(("entry below range", (self.low - 1.0, *value[1:])))
        if self.pair:
            out += [("one number", (first,)), ("reversed", (value[1] + 1.0, value[1]))]
        return out + _none(optional)


@dataclass
class Dtype(Kind):
    def bad(self, value, optional):
        return [("integer dtype", torch.int64), ("str", "float32")] + _none(optional)


@dataclass
class Tensor(Kind):
    """A tensor: the list of its values, a string, a 0-d tensor, one more or one fewer dimension, an
    empty batch, an integer dtype (for floats), floats (for integers and uint8 images) are refused."""

    rank: str = "fixed"  # "fixed": exactly this rank; "min": this rank or more; "any": every rank is fine
    min_rank: int | None = None  # with rank="min": the smallest rank allowed (default: the example's)
    arraylike: bool = False  # lists and arrays are accepted as well (exact tables)
    empty_ok: bool = False
    int_ok: bool = False  # an integer tensor is fine (converted exactly)
    pixels: bool = False  # float images in [0, 1]: the same pixels in 0..255 are refused

    def bad(self, value, optional):
        out = [("str", "tensor")] + _none(optional)
        if not self.arraylike:
            out.append(("list", value.tolist()))
        smallest = value.ndim if self.min_rank is None else self.min_rank
        if value.ndim >= 1 and self.rank != "any" and smallest > 0:
            out.append(("0-d tensor", torch.tensor(0.5, dtype=value.dtype)))
        if self.rank == "fixed":
            out.append(("extra dimension", value.unsqueeze(0)))
        if value.ndim >= 2 and self.rank != "any" and value.ndim - 1 < smallest:
            out.append(("one dimension fewer", value.reshape(value.shape[0] * value.shape[1], *value.shape[2:])))
        if value.ndim >= 1 and not self.empty_ok:
            out.append(("empty", value[:0]))
        if value.is_floating_point() and not self.int_ok:
            out.append(("integer dtype", value.round().long()))
        if value.dtype == torch.uint8 and value.ndim == 4:
            out.append(("float pixels in 0..255", value.float()))
        elif not value.is_floating_point() and value.dtype != torch.bool and not self.arraylike:
            out.append(("float dtype", value.float() + 0.5))
        if self.pixels:
            out.append(("float pixels in 0..255", value * 255))
        return out


@dataclass
class Val:
    """A valid value with its kind (the kind is inferred when this wrapper is not used)."""

    value: Any
    kind: Kind
    optional: bool | None = None  # None is valid too (default: read from the signature)


def size(v, minimum=1, maximum=None):
    return Val(v, Int(minimum, maximum))


def count(v):
    return Val(v, Int(0))


def integer(v):
    return Val(v, Int(None))


def pos(v):
    return Val(v, Num(0.0, low_open=True))


def nonneg(v, high=None):
    return Val(v, Num(0.0, high))


def real(v):
    return Val(v, Num())


def prob(v):
    return Val(v, Num(0.0, 1.0))


def between(v, low, high, *, low_open=False, high_open=False):
    return Val(v, Num(low, high, low_open, high_open))


def choice(v):
    return Val(v, Choice())


def text(v):
    return Val(v, Text())


def anything(v):
    return Val(v, Anything())


def tensor(v, **options):
    return Val(v, Tensor(**options))


def numbers(v, low=None, pair=False):
    return Val(v, Numbers(low, pair))


def device(v):
    return Val(v, Device())


def path(v):
    return Val(v, PathKind())


def instance(v, *extra):
    return Val(v, Instance(tuple(extra)))


def infer_kind(value: Any) -> Kind:
    from jessl_lite.data import ImageData

    if value is None:  # an optional argument left out: any other sort of value is bad
        return Instance()
    if isinstance(value, bool):
        return Bool()
    if isinstance(value, int):
        return Int(1)
    if isinstance(value, float):
        return Num(0.0, low_open=True)
    if isinstance(value, str):
        return Choice()
    if isinstance(value, torch.Tensor):
        return Tensor()
    if isinstance(value, torch.dtype):
        return Dtype()
    if isinstance(value, ImageData):
        return Instance((("its images tensor", lambda d: d.images),))
    if isinstance(value, nn.Module | torch.Generator):
        return Instance()
    if isinstance(value, dict):
        return MappingKind()
    if isinstance(value, os.PathLike):
        return PathKind()
    if isinstance(value, tuple | list) and value and all(isinstance(v, int) and not isinstance(v, bool)
                                                         for v in value):
        return IntSequence()
    if callable(value):
        return Function()
    raise TypeError(f"annotate the kind of {value!r} ({type(value).__name__}) in the catalogue")


# --- the cases --------------------------------------------------------------------------------------


@dataclass
class Case:
    """A valid example call of one public callable."""

    target: str
    make: Callable[[], tuple[Callable, dict[str, Any]]]  # fresh objects at every call
    batch: tuple[str, ...] = ()  # tensors whose first dimension must agree (the later ones get a row fewer)
    shape: tuple[str, ...] = ()  # tensors of one shape (the later ones get a column fewer)
    names: dict[str, str] = field(default_factory=dict)  # the name a message must show, when not the argument's

    def build(self) -> tuple[Callable, dict[str, Any], dict[str, Kind]]:
        fn, arguments = self.make()
        values, kinds = {}, {}
        for name, given in arguments.items():
            values[name] = given.value if isinstance(given, Val) else given
            kinds[name] = given.kind if isinstance(given, Val) else infer_kind(given)
        return fn, values, kinds

    def bad_values(self) -> list[tuple[str, str, Any]]:
        """Every ``(argument, label, bad value)`` of this case (fresh objects)."""
        fn, arguments = self.make()
        _, values, kinds = self.build()
        out = []
        for name, value in values.items():
            given = arguments[name]
            optional = given.optional if isinstance(given, Val) and given.optional is not None else _optional(fn, name)
            for label, bad in kinds[name].bad(value, optional):
                out.append((name, label, bad))
        for group, label, cut in ((self.batch, "mismatched batch", lambda t: t[:-1]),
                                  (self.shape, "mismatched shape", lambda t: t[..., :-1])):
            for name in group[1:]:
                out.append((name, label, cut(values[name])))
        return out

    def arguments(self) -> list[str]:
        return [name for name, _, _ in self.bad_values()]

    def expected_name(self, argument: str) -> str:
        return self.names.get(argument, argument)

    def accepted_names(self, argument: str, label: str) -> list[str]:
        """The names a clear message may show: the argument's, or for a wrong shape of a tensor that
        must agree with others, the partner it was compared with (``labels must have shape (0,)``)."""
        names = [self.expected_name(argument)]
        if label in SHAPE_LABELS:
            for group in (self.batch, self.shape):
                if argument in group:
                    names += [self.expected_name(other) for other in group if other != argument]
        return names


SHAPE_LABELS = ("empty", "extra dimension", "one dimension fewer", "0-d tensor", "mismatched batch",
                "mismatched shape")


def _optional(fn: Callable, name: str) -> bool:
    """Whether ``None`` is a valid value of ``name`` (its default, or ``None`` in its annotation)."""
    try:
        parameter = inspect.signature(fn).parameters.get(name)
    except (TypeError, ValueError):
        return False
    if parameter is None:
        return False
    return parameter.default is None or "None" in str(parameter.annotation)


CASES: dict[str, Case] = {}


def case(target: str, make, **options) -> None:
    if target in CASES:
        raise ValueError(f"two examples for {target}")
    CASES[target] = Case(target, make, **options)


# --- small valid objects ------------------------------------------------------------------------------


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def randn(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=gen(seed))


def unit(*shape: int, seed: int = 0) -> torch.Tensor:
    return torch.nn.functional.normalize(randn(*shape, seed=seed), dim=-1)


def images(n: int = 32, seed: int = 0):
    """``n`` random uint8 MNIST-sized images with labels 0..9 (no file read)."""
    from jessl_lite.data import ImageData

    pixels = torch.randint(0, 256, (n, 1, 28, 28), generator=gen(seed), dtype=torch.uint8)
    return ImageData(pixels, torch.arange(n) % 10, tuple(str(i) for i in range(10)), f"random-{seed}")


def float_images(n: int = 4) -> torch.Tensor:
    return torch.rand(n, 1, 28, 28, generator=gen(1))


def simsiam():
    from jessl_lite.methods import SimSiam
    from jessl_lite.nets import MLP

    torch.manual_seed(0)
    return SimSiam(MLP(784, [16], 8), dim=8, pred_dim=4, proj_layers=2)


def small_run():
    from jessl_lite.runs import Run

    run = Run(method="SimSiam")
    for step in range(6):
        run.log_step(step, {"loss": 1.0 / (step + 1)})
    run.log_eval(6, {"knn": 0.5})
    return run


def tiny_config(**changes):
    from jessl_lite.train import FitConfig

    return FitConfig(steps=2, batch_size=8, log_every=1, progress=False).replace(**changes)


def infomax():
    from jessl_lite.experiments.infomax import HALF_DIM, InfoMax, make_critic

    torch.manual_seed(0)
    return InfoMax(nn.Flatten(), nn.Flatten(), make_critic("bilinear", HALF_DIM))


def halves(n: int = 8) -> torch.Tensor:
    return torch.rand(n, 1, 14, 28, generator=gen(2))


def world():
    from jessl_lite.experiments.worlds import shifted_world

    return shifted_world([0.5, 0.5], 2, [0.5, 0.5])


def terms():
    from jessl_lite.experiments.worlds import identity_encoder, information_terms

    w = world()
    return information_terms(w, identity_encoder(w))


def gaussian_views():
    from jessl_lite.experiments.gaussian_ib import linear_gaussian_views

    return linear_gaussian_views(torch.eye(2, dtype=torch.float64), torch.eye(2, dtype=torch.float64),
                                 0.5 * torch.eye(2, dtype=torch.float64))


def augmentation():
    from jessl_lite.views import Augmentation

    return Augmentation(28, blur_p=0.5, solarize_p=0.5)


def notebook() -> dict:
    return {"cells": [{"cell_type": "code", "source": "1", "metadata": {"tags": ["solution"]}},
                      {"cell_type": "markdown", "source": "text", "metadata": {}}], "metadata": {}, "nbformat": 4}


def draw(fig, slope):
    fig.subplots().plot([0, 1], [0, slope])


def figure():
    from jessl_lite.plots import InteractiveFigure

    return InteractiveFigure(draw, {"slope": [0.0, 1.0]}, figsize=(2.0, 1.5), dpi=20)


#: The catalogue's own reference experiment ("test/" names are not the book's: no records needed).
TINY_REFERENCE = "test/catalogue"


def tiny_reference_setup(variant: str, seed: int):
    from jessl_lite import bounds
    from jessl_lite.reference import Setup

    torch.manual_seed(seed)
    method = bounds.BoundObjective(bounds.BilinearCritic(2, 2), bounds.infonce_bound)
    return Setup(method, bounds.GaussianStaircase(2, 8, (1.0,), 6).sample, None,
                 tiny_config(steps=6, seed=seed, eval_at_start=False), info={"protocol": "tiny"})


def tiny_experiment():
    from jessl_lite.reference import Experiment

    return Experiment(TINY_REFERENCE, "the catalogue's tiny experiment", "none", ("only",), tiny_reference_setup)


def tiny_reference(records: Path):
    """Register the tiny experiment (once) and return its seed-0 record, made in ``records``."""
    from jessl_lite import reference

    reference._load_definitions()
    if TINY_REFERENCE not in reference.EXPERIMENTS:
        reference.register(tiny_experiment())
    return reference.run(TINY_REFERENCE, ["only"], [0], progress=False, records_root=records,
                         checkpoint_root=records / "checkpoints")[0]


def _data_root() -> str:
    return os.environ.get("JESSL_DATA", str(Path(__file__).resolve().parents[2] / "shared" / "data"))


# --- the examples, module by module -------------------------------------------------------------------


def _register() -> None:  # noqa: PLR0915 (one long table, read top to bottom)
    from jessl_lite import (
        bounds,
        checkpoints,
        data,
        distributed,
        entropy,
        evaluate,
        exercises,
        flows,
        heads,
        info,
        losses,
        methods,
        monitors,
        nets,
        plots,
        profiles,
        reference,
        reproductions,
        runs,
        train,
        validation,
        views,
    )
    from jessl_lite.experiments import collapse, dynamics, gaussian_ib, worlds
    from jessl_lite.experiments import er as er_experiments
    from jessl_lite.experiments import infomax as im

    B = "jessl_lite.bounds."
    case(B + "mlp", lambda: (bounds.mlp, {"in_dim": 4, "hidden_dim": 8, "out_dim": 2, "layers": count(2)}))
    case(B + "SeparableCritic", lambda: (bounds.SeparableCritic, {
        "dim_x": 3, "dim_y": 2, "hidden_dim": 8, "layers": count(1), "embed_dim": 4}))
    case(B + "ConcatCritic", lambda: (bounds.ConcatCritic, {"dim_x": 3, "dim_y": 2, "hidden_dim": 8,
                                                            "layers": count(1)}))
    for cls in (bounds.SeparableCritic, bounds.ConcatCritic):
        case(f"{B}{cls.__name__}.forward", lambda cls=cls: (cls(3, 2, hidden_dim=8).forward,
                                                            {"x": randn(5, 3), "y": randn(5, 2)}), batch=("x", "y"))
    case(B + "BilinearCritic", lambda: (bounds.BilinearCritic, {"dim_x": 3, "dim_y": 2}))
    case(B + "BilinearCritic.forward", lambda: (bounds.BilinearCritic(3, 2).forward,
                                                {"x": randn(5, 3), "y": randn(5, 2)}), batch=("x", "y"))
    for name in ("infonce_bound", "nwj_bound", "dv_bound"):
        # (..., K, K): a batch of score matrices is fine, so an extra dimension is not bad.
        case(B + name, lambda name=name: (getattr(bounds, name), {"scores": tensor(randn(4, 4), rank="min")}))
    case(B + "rho_for_mi", lambda: (bounds.rho_for_mi, {"mi": nonneg(1.0), "dim": 2}))
    case(B + "sample_correlated_gaussian", lambda: (bounds.sample_correlated_gaussian, {
        "batch_size": 4, "dim": 2, "rho": between(0.5, -1.0, 1.0, low_open=True, high_open=True),
        "generator": gen(), "device": device("cpu"), "dtype": torch.float32}))
    case(B + "GaussianStaircase", lambda: (bounds.GaussianStaircase, {
        "dim": 2, "batch_size": size(4, minimum=2), "levels": numbers((1.0, 2.0), low=0.0), "steps_per_level": 2}))
    case(B + "GaussianStaircase.mi_at", lambda: (bounds.GaussianStaircase(2, 4, (1.0,), 2).mi_at,
                                                 {"step": size(1, minimum=0, maximum=1)}))
    case(B + "GaussianStaircase.true_mi", lambda: (bounds.GaussianStaircase(2, 4, (1.0,), 2).true_mi, {}))
    case(B + "GaussianStaircase.sample", lambda: (bounds.GaussianStaircase(2, 4, (1.0,), 2).sample, {
        "step": size(0, minimum=0, maximum=1), "generator": gen(), "device": device("cpu"),
        "dtype": torch.float64}))
    for name in ("gaussian_log_conditional", "gaussian_log_density_ratio", "optimal_infonce_critic",
                 "optimal_nwj_critic"):
        # x: (K, d), y: (M, d): K and M may differ, the widths must agree.
        case(B + name, lambda name=name: (getattr(bounds, name), {
            "x": tensor(randn(4, 2), empty_ok=True), "y": tensor(randn(5, 2, seed=1), empty_ok=True),
            "rho": between(0.5, -1.0, 1.0, low_open=True, high_open=True)}), shape=("x", "y"))
    case(B + "BoundObjective", lambda: (bounds.BoundObjective, {
        "critic": bounds.BilinearCritic(2, 2), "bound": bounds.infonce_bound}))
    for method in ("loss", "forward"):
        case(B + "BoundObjective." + method, lambda method=method: (
            getattr(bounds.BoundObjective(bounds.BilinearCritic(2, 2), bounds.infonce_bound), method),
            {"x": randn(4, 2), "y": randn(4, 2, seed=1)}), batch=("x", "y"))
    case(B + "exponential_moving_average", lambda: (bounds.exponential_moving_average, {
        "values": tensor(randn(10), arraylike=True, int_ok=True, empty_ok=True), "span": 3}))

    C = "jessl_lite.checkpoints."
    ckpt = Path(os.environ.get("TMPDIR", "/tmp")) / f"jessl-bad-inputs-{os.getpid()}" / "checkpoint.pt"
    case(C + "save_checkpoint", lambda: (checkpoints.save_checkpoint, {
        "path": ckpt, "contents": {k: 0 for k in ("step", "model", "optimizer", "scaler", "rng", "data_order",
                                                   "run", "identity")}}))
    case(C + "load_checkpoint", lambda: (checkpoints.save_checkpoint(ckpt, {k: 0 for k in (
        "step", "model", "optimizer", "scaler", "rng", "data_order", "run", "identity")})
        or checkpoints.load_checkpoint, {"path": ckpt}))
    case(C + "rng_state", lambda: (checkpoints.rng_state, {"generator": gen()}))
    case(C + "restore_rng_state", lambda: (checkpoints.restore_rng_state, {
        "state": checkpoints.rng_state(gen()), "generator": gen()}))
    case(C + "remove_stale_temporaries", lambda: (checkpoints.remove_stale_temporaries, {"path": ckpt}))

    D = "jessl_lite.data."
    case(D + "ImageData", lambda: (data.ImageData, {
        "images": images().images, "labels": images().labels,
        "classes": Val(tuple("0123456789"), Instance()), "name": text("random")}), batch=("images", "labels"))
    case(D + "ImageData.to", lambda: (images().to, {"device": device("cpu")}))
    case(D + "ImageData.subset", lambda: (images().subset, {
        "index": tensor(torch.tensor([0, 2, 3]), arraylike=True, empty_ok=True), "name": text("some")}))
    case(D + "ImageData.split", lambda: (images().split, {"parts": numbers((0.5, 0.5), low=0.0), "seed": count(0)}))
    case(D + "data_root", lambda: (data.data_root, {"root": path(_data_root())}))
    case(D + "cache_dir", lambda: (data.cache_dir, {}))
    for name, split in (("load_mnist", "test"), ("load_cifar10", "test")):
        case(D + name, lambda name=name, split=split: (getattr(data, name), {
            "split": choice(split), "root": path(_data_root()), "device": device("cpu"), "download": False}))
    case(D + "load_dataset", lambda: (data.load_dataset, {"name": choice("mnist"), "split": choice("test"),
                                                          "root": Val(_data_root(), PathKind(), optional=True)}))
    case(D + "internet_available", lambda: (data.internet_available, {
        "host": text("127.0.0.1"), "port": size(9, maximum=65535), "timeout": pos(0.05)}))

    T = "jessl_lite.distributed."
    for name in ("is_distributed", "rank", "world_size", "setup_from_env"):
        case(T + name, lambda name=name: (getattr(distributed, name), {}))
    case(T + "gather_with_grad", lambda: (distributed.gather_with_grad, {
        "x": tensor(randn(4, 2), rank="min", min_rank=1, int_ok=True, empty_ok=True)}))

    E = "jessl_lite.entropy."
    for name in ("scott_bandwidth", "silverman_bandwidth"):
        case(E + name, lambda name=name: (getattr(entropy, name), {"z": tensor(randn(16, 2), rank="min",
                                                                              arraylike=True, int_ok=True)}))
    case(E + "gaussian_kde_log_density", lambda: (entropy.gaussian_kde_log_density, {
        "points": tensor(randn(5, 2), rank="min", arraylike=True, int_ok=True),
        "samples": tensor(randn(16, 2, seed=1), rank="min", arraylike=True, int_ok=True),
        "bandwidth": pos(0.5)}), shape=("points", "samples"))
    case(E + "kde_entropy", lambda: (entropy.kde_entropy, {
        "z": tensor(randn(16, 2), rank="min", arraylike=True, int_ok=True), "bandwidth": pos(0.5),
        "leave_one_out": True}))
    case(E + "sphere_log_area", lambda: (entropy.sphere_log_area, {"dim": 3}))
    case(E + "log_bessel_iv", lambda: (entropy.log_bessel_iv, {
        "order": nonneg(1.5), "x": tensor(torch.rand(5, generator=gen()) + 0.1, rank="any", arraylike=True,
                                          int_ok=True, empty_ok=True)}))
    case(E + "vmf_log_normalizer", lambda: (entropy.vmf_log_normalizer, {"kappa": pos(2.0), "dim": size(3, 2)}))
    case(E + "vmf_kde_log_density", lambda: (entropy.vmf_kde_log_density, {
        "points": tensor(unit(5, 3), rank="min", arraylike=True, int_ok=True),
        "samples": tensor(unit(16, 3, seed=1), rank="min", arraylike=True, int_ok=True),
        "kappa": pos(2.0), "atol": nonneg(1e-4, high=0.1)}), shape=("points", "samples"))
    case(E + "vmf_kde_entropy", lambda: (entropy.vmf_kde_entropy, {
        "z": tensor(unit(16, 3), rank="min", arraylike=True, int_ok=True), "kappa": pos(2.0),
        "leave_one_out": True, "atol": nonneg(1e-4, high=0.1)}))
    case(E + "vmf_reconstruction_loss", lambda: (entropy.vmf_reconstruction_loss, {
        "z1": tensor(unit(16, 3), rank="min", arraylike=True, int_ok=True),
        "z2": tensor(unit(16, 3, seed=1), rank="min", arraylike=True, int_ok=True),
        "kappa": pos(2.0), "atol": nonneg(1e-4, high=0.1)}), batch=("z1", "z2"), shape=("z1", "z2"))
    case(E + "vmf_kde_entropy_ceiling", lambda: (entropy.vmf_kde_entropy_ceiling, {
        "n": size(16), "kappa": pos(2.0), "dim": size(3, 2)}))
    case(E + "vmf_entropy", lambda: (entropy.vmf_entropy, {"kappa": pos(2.0), "dim": size(3, 2)}))
    case(E + "sample_uniform_sphere", lambda: (entropy.sample_uniform_sphere, {
        "n": size(8), "dim": size(3, 2), "generator": gen()}))
    case(E + "sample_vmf", lambda: (entropy.sample_vmf, {
        "mu": tensor(unit(1, 3)[0], rank="any", arraylike=True), "kappa": pos(2.0), "n": size(8),
        "generator": gen()}))
    case(E + "er_bound", lambda: (entropy.er_bound, {
        "z1": tensor(unit(16, 3), rank="min", arraylike=True, int_ok=True),
        "z2": tensor(unit(16, 3, seed=1), rank="min", arraylike=True, int_ok=True),
        "kappa": pos(2.0), "leave_one_out": True, "atol": nonneg(1e-4, high=0.1)}),
        batch=("z1", "z2"), shape=("z1", "z2"))
    case(E + "er_loss", lambda: (entropy.er_loss, {
        "z1": tensor(randn(16, 3), rank="min", arraylike=True, int_ok=True),
        "z2": tensor(randn(16, 3, seed=1), rank="min", arraylike=True, int_ok=True),
        "kappa": pos(2.0), "entropy_weight": nonneg(1.0), "leave_one_out": True, "return_terms": False,
        "atol": nonneg(1e-4, high=0.1)}), batch=("z1", "z2"), shape=("z1", "z2"))
    case(E + "categorical_entropy_of_mean", lambda: (entropy.categorical_entropy_of_mean, {
        "p": tensor(torch.softmax(randn(8, 4), 1), rank="min", arraylike=True)}))
    case(E + "categorical_reconstruction_loss", lambda: (entropy.categorical_reconstruction_loss, {
        "p1": tensor(torch.softmax(randn(8, 4), 1), rank="min", arraylike=True),
        "p2": tensor(torch.softmax(randn(8, 4, seed=1), 1), rank="min", arraylike=True)}),
        batch=("p1", "p2"), shape=("p1", "p2"))

    ER_ = "jessl_lite.experiments.er."
    case(ER_ + "repository_vmf_log_normalizer", lambda: (er_experiments.repository_vmf_log_normalizer, {
        "kappa": pos(10.0), "dim": size(8, 2)}))
    case(ER_ + "repository_vmf_kde_entropy", lambda: (er_experiments.repository_vmf_kde_entropy, {
        "z": tensor(unit(16, 3), rank="min", arraylike=True, int_ok=True), "kappa": pos(10.0)}))

    V = "jessl_lite.evaluate."
    case(V + "embeddings", lambda: (evaluate.embeddings, {
        "encoder": nn.Flatten(), "images": tensor(float_images(), rank="min", min_rank=1, pixels=True),
        "prepare": None, "batch_size": 2}))
    case(V + "knn_predict", lambda: (evaluate.knn_predict, {
        "train_features": randn(20, 4), "train_labels": torch.arange(20) % 3, "test_features": randn(6, 4, seed=1),
        "k": 5, "temperature": 0.1, "num_classes": 3, "chunk_size": 4}),
        batch=("train_features", "train_labels"), shape=("train_features", "test_features"))
    case(V + "knn_accuracy", lambda: (evaluate.knn_accuracy, {
        "train_features": randn(20, 4), "train_labels": torch.arange(20) % 3, "test_features": randn(6, 4, seed=1),
        "test_labels": torch.arange(6) % 3, "k": 5, "temperature": 0.1, "num_classes": 3}),
        batch=("test_features", "test_labels"), shape=("train_features", "test_features"))
    case(V + "linear_probe", lambda: (evaluate.linear_probe, {
        "train_features": randn(20, 4), "train_labels": torch.arange(20) % 3, "test_features": randn(6, 4, seed=1),
        "test_labels": torch.arange(6) % 3, "C": 1.0, "max_iter": 50}),
        batch=("train_features", "train_labels"), shape=("train_features", "test_features"))
    case(V + "std_of_normalized", lambda: (evaluate.std_of_normalized, {"z": randn(8, 4)}))
    case(V + "effective_rank", lambda: (evaluate.effective_rank, {"z": randn(8, 4), "eps": 1e-12}))
    case(V + "alignment", lambda: (evaluate.alignment, {"z1": randn(8, 4), "z2": randn(8, 4, seed=1),
                                                        "alpha": 2.0}), batch=("z1", "z2"), shape=("z1", "z2"))
    case(V + "uniformity", lambda: (evaluate.uniformity, {"z": randn(8, 4), "t": 2.0}))

    X = "jessl_lite.exercises."
    # A student's answer may be anything: check prints what is wrong with it and returns False.
    case(X + "check", lambda: (exercises.check, {"key": choice("1.1"), "answer": anything(1.9375)}))
    case(X + "Exercise", lambda: (exercises.Exercise, {
        "key": text("9.9"), "title": text("title"), "reference": lambda: (1.0,), "rtol": nonneg(1e-3),
        "atol": nonneg(1e-3)}))
    case(X + "register", lambda: (exercises.register, {"key": text("test.bad-inputs"), "title": text("title"),
                                                       "rtol": nonneg(1e-3), "atol": nonneg(1e-3)}))
    case(X + "CodingExercise", lambda: (exercises.CodingExercise, {
        "key": text("9.9"), "title": text("title"), "reference": lambda x: x, "inputs": lambda g: (torch.zeros(2),),
        "trials": 2, "rtol": nonneg(1e-5), "atol": nonneg(1e-6), "gradients": False}))
    case(X + "register_function", lambda: (exercises.register_function, {
        "key": text("test.bad-inputs-function"), "title": text("title"), "reference": lambda x: x, "trials": 2,
        "rtol": nonneg(1e-5), "atol": nonneg(1e-6), "gradients": False}))
    # Writes the student version of every chapter into a fresh temporary folder.
    case(X + "strip_folder", lambda: (exercises.strip_folder, {
        "source": path(Path(jessl_lite.__file__).parents[1] / "notebooks"), "target": path(tempfile.mkdtemp()),
        "force": True}))
    case(X + "strip_solutions", lambda: (exercises.strip_solutions, {
        "notebook": Val(notebook(), MappingKind()), "tag": text("solution")}))

    R = "jessl_lite.reproductions."
    row = reproductions.claim("a claim", "a source", "ours", "exact", "holds")
    fix = reproductions.correction("a step", "a source", "what goes wrong", "1.0", "2.0")
    case(R + "verdict", lambda: (reproductions.verdict, {"parts": instance(["holds", True])}))
    case(R + "seeds", lambda: (reproductions.seeds, {"values": numbers((0.5, 0.6, 0.7)), "fmt": text(".3f"),
                                                     "percent": False, "unit": text("")}))
    case(R + "claim", lambda: (reproductions.claim, {
        "text": text("a claim"), "source": text("a source"), "ours": text("ours"), "scale": text("exact"),
        "verdict": choice("holds"), "source_value": text("not given")}))
    case(R + "correction", lambda: (reproductions.correction, {
        "statement": text("a step"), "source": text("a source"), "what_goes_wrong": text("what"),
        "source_value": text("1.0"), "correct_value": text("2.0")}))
    case(R + "scale", lambda: (reproductions.scale, {"experiment": choice("ch05/adversarial"), "what": text("data"),
                                                     "show_batch": True}))
    case(R + "glue_tables", lambda: (reproductions.glue_tables, {"rows": instance([row]),
                                                                 "corrections": instance([fix])}))
    case(R + "claims_table", lambda: (reproductions.claims_table, {"rows": instance([row])}))
    case(R + "corrections_table", lambda: (reproductions.corrections_table, {"rows": instance([fix])}))

    K = "jessl_lite.experiments.collapse."
    case(K + "simsiam_variant", lambda: (collapse.simsiam_variant, {
        "variant": choice("no_predictor"), "backbone": nets.MLP(784, [16], 8), "dim": 8, "pred_dim": 4,
        "proj_layers": 2}))
    for name in ("collapse_diagnostics", "covariance_spectrum"):
        case(K + name, lambda name=name: (getattr(collapse, name), {"z": randn(8, 4)}))
    case(K + "projector_output", lambda: (collapse.projector_output, {
        "method": simsiam(), "images": images(4).images, "views": instance(views.mnist_views())}))
    case(K + "collapse_monitor", lambda: (collapse.collapse_monitor, {
        "images": images(4).images, "views": instance(views.mnist_views())}))
    case(K + "track_collapse", lambda: (collapse.track_collapse, {
        "method": simsiam(), "train": images(16), "views": instance(views.mnist_views()), "memory": images(12, 1),
        "queries": images(8, 2), "config": instance(tiny_config(eval_at_start=False)), "knn_k": 3,
        "info": Val({"test": 1}, MappingKind())}))

    Y = "jessl_lite.experiments.dynamics."

    def W():
        return randn(2, 3, seed=3).double()

    def Wp():
        return (torch.eye(2) + 0.1 * randn(2, 2, seed=4)).double()

    case(Y + "linear_ssl_loss", lambda: (dynamics.linear_ssl_loss, {
        "W": W(), "Wp": Wp(), "Wa": W(), "sigma2": nonneg(0.5)}), shape=("W", "Wa"))
    case(Y + "linear_ssl_gradients", lambda: (dynamics.linear_ssl_gradients, {
        "W": W(), "Wp": Wp(), "Wa": W(), "sigma2": nonneg(0.5), "stop_gradient": False}), shape=("W", "Wa"))
    case(Y + "simulate_linear_ssl", lambda: (dynamics.simulate_linear_ssl, {
        "W": W(), "Wp": Wp(), "sigma2": nonneg(0.5), "steps": count(3), "lr": 0.01, "alpha_p": 1.0,
        "eta": nonneg(0.01), "ema_decay": prob(0.5), "stop_gradient": True, "train_predictor": True}))
    case(Y + "eigenvalue_curves", lambda: (dynamics.eigenvalue_curves, {
        "run": instance(dynamics.simulate_linear_ssl(W(), Wp(), sigma2=0.5, steps=2)), "name": choice("s")}))
    modes = {"rank": "any", "arraylike": True, "int_ok": True, "empty_ok": True}
    case(Y + "eigen_ode", lambda: (dynamics.eigen_ode, {
        # p and s broadcast: a shape of one entry fewer is no error.
        "p": tensor(torch.tensor([0.1, 0.2]), **modes), "s": tensor(torch.tensor([0.01, 0.02]), **modes),
        "sigma2": nonneg(0.5), "alpha_p": 1.0, "eta": nonneg(0.0), "tau": real(1.0)}))
    case(Y + "integrate_eigen_ode", lambda: (dynamics.integrate_eigen_ode, {
        "p0": tensor(torch.tensor([0.1, 0.2]), **modes), "s0": tensor(torch.tensor([0.01, 0.02]), **modes),
        "sigma2": nonneg(0.5), "steps": count(5), "dt": 0.05, "alpha_p": 1.0, "eta": nonneg(0.0),
        "tau": real(1.0)}))
    case(Y + "fixed_points", lambda: (dynamics.fixed_points, {
        "sigma2": nonneg(0.5), "alpha_p": 1.0, "eta": nonneg(0.05), "tau": real(1.0)}))
    case(Y + "balanced_time", lambda: (dynamics.balanced_time, {
        "p": between(0.5, 0.0, 1 / 1.5, low_open=True, high_open=True),
        "p0": between(0.1, 0.0, 1 / 1.5, low_open=True, high_open=True), "sigma2": nonneg(0.5)}))

    G = "jessl_lite.experiments.gaussian_ib."
    exact = {"arraylike": True, "int_ok": True}
    case(G + "GaussianViews", lambda: (gaussian_ib.GaussianViews, {
        k: tensor(v, **exact) for k, v in vars(gaussian_views()).items()}))
    for method in ("entropy_z", "entropy_z_given_x", "mutual_information_zx", "mutual_information_views",
                   "cross_correlation"):
        case(G + "GaussianViews." + method, lambda method=method: (getattr(gaussian_views(), method), {}))
    case(G + "linear_gaussian_views", lambda: (gaussian_ib.linear_gaussian_views, {
        "w": tensor(torch.eye(2, dtype=torch.float64), **exact),
        "cov_x": tensor(torch.eye(2, dtype=torch.float64), **exact),
        "cov_noise": tensor(0.5 * torch.eye(2, dtype=torch.float64), **exact)}))
    case(G + "sample_linear_gaussian_views", lambda: (gaussian_ib.sample_linear_gaussian_views, {
        "views": instance(gaussian_views()), "n": 16, "generator": gen()}))
    case(G + "covariance", lambda: (gaussian_ib.covariance, {"z": tensor(randn(16, 2).double(), **exact)}))
    case(G + "conditional_covariance_from_views", lambda: (gaussian_ib.conditional_covariance_from_views, {
        "z1": tensor(randn(16, 2).double(), **exact), "z2": tensor(randn(16, 2, seed=1).double(), **exact)}),
        batch=("z1", "z2"), shape=("z1", "z2"))
    case(G + "gaussian_ib_objective", lambda: (gaussian_ib.gaussian_ib_objective, {
        "cov_z": tensor(2 * torch.eye(2, dtype=torch.float64), **exact),
        "cov_z_given_x": tensor(torch.eye(2, dtype=torch.float64), **exact), "beta": nonneg(0.5)}),
        shape=("cov_z", "cov_z_given_x"))
    case(G + "cross_correlation", lambda: (gaussian_ib.cross_correlation, {
        "z1": tensor(randn(16, 2).double(), **exact), "z2": tensor(randn(16, 2, seed=1).double(), **exact),
        "eps": nonneg(1e-12)}), batch=("z1", "z2"), shape=("z1", "z2"))
    case(G + "barlow_twins_terms", lambda: (gaussian_ib.barlow_twins_terms, {
        "c": tensor(0.5 * torch.eye(2, dtype=torch.float64), **exact)}))

    IM = "jessl_lite.experiments.infomax."
    case(IM + "ExperimentSizes", lambda: (im.ExperimentSizes, {
        "train_size": size(100, minimum=2, maximum=60000), "test_size": size(50, minimum=2, maximum=10000),
        "batch_size": 16, "probe_C": 0.01, "probe_scaling": choice("global"), "flow_layers": 2, "flow_hidden": (8,),
        "steps": 10, "lr": 1e-3, "evals": 2, "adversarial_steps": 5, "adversarial_warmup": count(2),
        "adversarial_classifier_steps": 2, "adversarial_lr": 1e-3, "adversarial_encoder_lr": 1e-5,
        "critic_batch_size": 16, "critic_hidden": 8, "critic_steps": 10, "conv_channels": 4, "encoder_steps": 10,
        "targets": numbers((2.0,), low=0.0)}))
    case(IM + "ExperimentSizes.fit_config", lambda: (im.SIZES["quick"].fit_config, {
        "steps": 10, "batch_size": 16, "progress": False}))
    case(IM + "ExperimentSizes.data", lambda: (im.ExperimentSizes(train_size=50, test_size=20).data, {
        "device": device("cpu")}))
    case(IM + "InfoMax", lambda: (im.InfoMax, {
        "g1": nn.Flatten(), "g2": nn.Flatten(), "critic": im.make_critic("bilinear", im.HALF_DIM),
        "bound": choice("nwj"), "target": real(2.0)}))
    for method in ("scores", "estimate", "loss"):
        case(IM + "InfoMax." + method, lambda method=method: (getattr(infomax(), method), {
            # Half images (N, 1, 14, 28), (N, 14, 28) or flat halves (N, 392): the encoders flatten them.
            "view1": tensor(halves(), rank="min", min_rank=2), "view2": tensor(halves(), rank="min", min_rank=2)}),
            batch=("view1", "view2"))
    case(IM + "flow_encoder", lambda: (im.flow_encoder, {
        "num_layers": 2, "hidden_dims": (8,), "affine": True, "init_std": nonneg(1e-4), "seed": count(0)}))
    case(IM + "mlp_encoder", lambda: (im.mlp_encoder, {"hidden_dims": (8,), "out_dim": 4}))
    case(IM + "conv_encoder", lambda: (im.conv_encoder, {"channels": 4, "out_dim": 4, "kernel_size": 3}))
    case(IM + "make_critic", lambda: (im.make_critic, {
        "kind": choice("separable"), "dim": 4, "hidden_dim": 8, "embed_dim": 4, "layers": count(1)}))
    case(IM + "probe_accuracy", lambda: (im.probe_accuracy, {
        "encoder": nn.Flatten(), "train": images(30), "test": images(20, 1), "C": 0.01, "scaling": choice("global")}))
    case(IM + "probe_accuracies", lambda: (im.probe_accuracies, {
        "encoder": nn.Flatten(), "train": images(30), "test": images(20, 1),
        "Cs": numbers((0.01, 10.0), low=0.0), "scaling": choice("minmax")}))
    case(IM + "heldout_bound", lambda: (im.heldout_bound, {
        "method": instance(infomax()), "data": images(16), "batch_size": size(8, minimum=2, maximum=16)}))
    case(IM + "infomax_monitor", lambda: (im.infomax_monitor, {
        "probe_train": images(30), "probe_test": images(16, 1), "batch_size": size(8, minimum=2, maximum=16),
        "C": 0.01, "scaling": choice("minmax"), "Cs": numbers((0.1,), low=0.0)}))
    case(IM + "train_adversarial", lambda: (im.train_adversarial, {
        "encoder": im.mlp_encoder((8,), 4), "pretrain": images(32), "probe_train": images(30, 1),
        "probe_test": images(20, 2),
        "steps": 2, "batch_size": size(8, maximum=32), "lr": 1e-3, "encoder_lr": 1e-5, "classifier_steps": 1,
        "warmup_steps": count(1), "evals": 1, "seed": count(0), "probe_C": 0.01,
        "probe_scaling": choice("minmax"), "probe_Cs": numbers((0.1,), low=0.0), "until": size(3),
        "progress": False, "checkpoint_dir": path(str(ckpt.parent / "adversarial")), "checkpoint_every": count(2),
        "resume": False}))

    R = "jessl_lite.experiments.worlds."
    table = {"arraylike": True, "int_ok": True}
    case(R + "World", lambda: (worlds.World, {
        "p_x": tensor(world().p_x, **table), "d_t": tensor(world().d_t, **table),
        "transform": tensor(world().transform, **table), "n_y": 4,
        "y_labels": Val(world().y_labels, Instance())}))
    case(R + "make_world", lambda: (worlds.make_world, {
        "p_x": tensor(torch.tensor([0.5, 0.5], dtype=torch.float64), **table),
        "d_t": tensor(torch.tensor([0.5, 0.5], dtype=torch.float64), **table),
        "transform": tensor(torch.tensor([[0, 1], [1, 0]]), **table), "n_y": 2,
        "y_labels": Val(("a", "b"), Instance())}))
    case(R + "shifted_world", lambda: (worlds.shifted_world, {
        "p_class": tensor(torch.tensor([0.5, 0.5], dtype=torch.float64), **table), "n_poses": 2,
        "d_t": tensor(torch.tensor([0.5, 0.5], dtype=torch.float64), **table)}))
    case(R + "random_world", lambda: (worlds.random_world, {"n_x": 3, "n_t": 2, "n_y": 3, "generator": gen()}))
    for name in ("identity_encoder", "constant_encoder"):
        case(R + name, lambda name=name: (getattr(worlds, name), {"world": instance(world())}))
    case(R + "class_encoder", lambda: (worlds.class_encoder, {"world": instance(world()), "n_poses": 2}))
    for name in ("encoder_outputs", "is_injective_in_t"):
        case(R + name, lambda name=name: (getattr(worlds, name), {
            "world": instance(world()), "encoder": tensor(torch.arange(4), **table)}))
    for name in ("joint_table", "information_terms"):
        case(R + name, lambda name=name: (getattr(worlds, name), {
            "world": instance(world()), "encoder": tensor(torch.arange(4), **table),
            "target": tensor(torch.zeros(4, dtype=torch.long), **table)}))
    CASES[R + "information_terms"].make = lambda: (worlds.information_terms, {
        "world": instance(world()), "encoder": tensor(torch.arange(4), **table),
        "target": tensor(torch.zeros(4, dtype=torch.long), **table), "unit": choice("bits")})
    case(R + "InformationTerms", lambda: (worlds.InformationTerms, {
        k: tensor(v, **table, rank="any") for k, v in terms().as_dict().items()}))
    for method in ("ib_lagrangian", "blog_lagrangian"):
        case(R + "InformationTerms." + method, lambda method=method: (getattr(terms(), method),
                                                                     {"beta": nonneg(0.5)}))
    case(R + "InformationTerms.as_dict", lambda: (terms().as_dict, {}))
    case(R + "all_encoders", lambda: (worlds.all_encoders, {"n_y": size(3, maximum=10)}))

    def search():
        return worlds.ib_search(world(), [0.5, 2.0])

    case(R + "SearchResult", lambda: (worlds.SearchResult, {
        "betas": tensor(search().betas, **table), "encoders": tensor(search().encoders, **table),
        "terms": instance(search().terms), "values": tensor(search().values, **table),
        "best": tensor(search().best, **table)}))
    for method in ("best_terms", "best_values"):
        case(R + "SearchResult." + method, lambda method=method: (getattr(search(), method), {}))
    case(R + "ib_search", lambda: (worlds.ib_search, {
        "world": instance(world()), "betas": tensor(torch.tensor([0.5, 2.0]), **table, rank="any"),
        "target": None, "objective": choice("blog"), "encoders": None, "tol": nonneg(1e-10), "unit": choice("nats")}))

    F = "jessl_lite.flows."
    case(F + "CouplingLayer", lambda: (flows.CouplingLayer, {
        "dim": size(4, minimum=2), "hidden_dims": (8,), "affine": True, "init_std": nonneg(1e-4),
        "permutation": tensor(torch.tensor([1, 0, 3, 2])), "max_log_scale": 2.0}))
    case(F + "BijectiveEncoder", lambda: (flows.BijectiveEncoder, {
        "dim": size(4, minimum=2), "num_layers": 2, "hidden_dims": (8,), "affine": True, "init_std": nonneg(1e-4),
        "max_log_scale": 2.0, "seed": count(0)}))
    for cls, methods_ in ((flows.CouplingLayer, ("forward_and_log_det", "forward", "inverse")),
                          (flows.BijectiveEncoder, ("forward_and_log_det", "forward", "inverse",
                                                    "log_det_jacobian"))):
        for method in methods_:
            argument = "y" if method == "inverse" else "x"
            case(f"{F}{cls.__name__}.{method}", lambda cls=cls, method=method, argument=argument: (
                getattr(cls(4, hidden_dims=(8,), affine=True), method), {argument: tensor(randn(5, 4), empty_ok=True)}))

    H = "jessl_lite.heads."
    for name in ("SimCLRProjectionHead", "SwAVProjectionHead", "BYOLProjectionHead", "SimSiamProjectionHead",
                 "BarlowTwinsProjectionHead", "VICRegProjectionHead"):
        case(H + name, lambda name=name: (getattr(heads, name), {"in_dim": 4, "hidden_dim": 8, "out_dim": 2,
                                                                 "num_layers": 2}))
    for name in ("BYOLPredictionHead", "SimSiamPredictionHead"):
        case(H + name, lambda name=name: (getattr(heads, name), {"in_dim": 4, "hidden_dim": 8, "out_dim": 2}))
    case(H + "SwAVPrototypes", lambda: (heads.SwAVPrototypes, {"in_dim": 4, "num_prototypes": 6}))
    case(H + "SwAVPrototypes.normalize_", lambda: (heads.SwAVPrototypes(4, 6).normalize_, {}))

    N = "jessl_lite.info."
    p2 = {"arraylike": True, "int_ok": True}

    def joint():
        return torch.tensor([[0.3, 0.2], [0.1, 0.4]], dtype=torch.float64)

    case(N + "entropy", lambda: (info.entropy, {
        "p": tensor(torch.tensor([0.25, 0.75], dtype=torch.float64), **p2, rank="min"), "unit": choice("bits"),
        "atol": nonneg(1e-6, high=0.01)}))
    case(N + "joint_entropy", lambda: (info.joint_entropy, {
        "p_xy": tensor(joint(), **p2, rank="min"), "unit": choice("nats"), "atol": nonneg(1e-6, high=0.01)}))
    axes = Val(1, Int(-2, 1))  # axes count from the end too, as in numpy
    case(N + "conditional_entropy", lambda: (info.conditional_entropy, {
        "p": tensor(joint(), **p2, rank="min"), "of": axes, "given": Val(0, Int(-2, 1)), "unit": choice("nats"),
        "atol": nonneg(1e-6, high=0.01)}))
    case(N + "mutual_information", lambda: (info.mutual_information, {
        "p": tensor(joint(), **p2, rank="min"), "a": Val(0, Int(-2, 1)), "b": axes,
        "given": Val((), Instance()), "unit": choice("nats"), "atol": nonneg(1e-6, high=0.01)}))
    case(N + "kl_divergence", lambda: (info.kl_divergence, {
        "p": tensor(torch.tensor([0.25, 0.75], dtype=torch.float64), **p2, rank="min"),
        "q": tensor(torch.tensor([0.5, 0.5], dtype=torch.float64), **p2, rank="min"), "unit": choice("nats"),
        "atol": nonneg(1e-6, high=0.01)}), shape=("p", "q"))
    case(N + "marginal", lambda: (info.marginal, {"p": tensor(joint(), **p2, rank="min"), "axes": axes,
                                                  "atol": nonneg(1e-6, high=0.01)}))
    cov = {"arraylike": True, "int_ok": True, "rank": "any"}
    case(N + "gaussian_entropy", lambda: (info.gaussian_entropy, {
        "cov": tensor(torch.tensor([[1.0, 0.5], [0.5, 1.0]], dtype=torch.float64), **cov), "unit": choice("nats")}))
    case(N + "gaussian_mutual_information", lambda: (info.gaussian_mutual_information, {
        "cov": tensor(torch.tensor([[1.0, 0.5], [0.5, 1.0]], dtype=torch.float64), **cov),
        "dim_x": size(1, maximum=1), "unit": choice("nats")}))
    case(N + "correlated_gaussian_mi", lambda: (info.correlated_gaussian_mi, {
        "rho": between(0.5, -1.0, 1.0, low_open=True, high_open=True), "dim": 2, "unit": choice("nats")}))
    case(N + "quantized_normal", lambda: (info.quantized_normal, {"delta": 0.5, "var": 1.0, "half_width": 4.0}))
    case(N + "quantized_bivariate_normal", lambda: (info.quantized_bivariate_normal, {
        "rho": between(0.5, -1.0, 1.0, low_open=True, high_open=True), "delta": 1.0, "half_width": 3.0,
        "nodes": 4}))

    L = "jessl_lite.losses."

    def z(seed=0):
        return randn(6, 4, seed=seed)

    pair = {"batch": ("z1", "z2"), "shape": ("z1", "z2")}
    case(L + "negative_cosine_similarity", lambda: (losses.negative_cosine_similarity, {
        "p": z(), "z": z(1), "eps": 1e-8}), batch=("p", "z"), shape=("p", "z"))
    case(L + "simsiam_loss", lambda: (losses.simsiam_loss, {
        "p1": z(), "p2": z(1), "z1": z(2), "z2": z(3), "stop_gradient": True}),
        batch=("p1", "p2", "z1", "z2"), shape=("p1", "p2", "z1", "z2"))
    case(L + "normalized_mse", lambda: (losses.normalized_mse, {"p": z(), "z": z(1)}), batch=("p", "z"),
         shape=("p", "z"))
    case(L + "byol_loss", lambda: (losses.byol_loss, {"p1": z(), "p2": z(1), "t1": z(2), "t2": z(3)}),
         batch=("p1", "p2", "t1", "t2"), shape=("p1", "p2", "t1", "t2"))
    case(L + "nt_xent_loss", lambda: (losses.nt_xent_loss, {"z1": z(), "z2": z(1), "temperature": 0.5}), **pair)
    case(L + "sinkhorn_knopp", lambda: (losses.sinkhorn_knopp, {"scores": z(), "epsilon": 0.05, "iterations": 3}))
    case(L + "swav_loss", lambda: (losses.swav_loss, {
        "scores1": z(), "scores2": z(1), "temperature": 0.1, "epsilon": 0.05, "iterations": 3,
        # An empty queue is a queue of length 0: no earlier batch joins the Sinkhorn problem.
        "queue_scores1": tensor(randn(5, 4, seed=4), empty_ok=True),
        "queue_scores2": tensor(randn(5, 4, seed=5), empty_ok=True)}),
        batch=("scores1", "scores2"), shape=("scores1", "scores2", "queue_scores1", "queue_scores2"))
    case(L + "cross_correlation", lambda: (losses.cross_correlation, {"z1": z(), "z2": z(1),
                                                                      "eps": nonneg(1e-5)}), **pair)
    case(L + "barlow_twins_terms", lambda: (losses.barlow_twins_terms, {"c": 0.5 * torch.eye(4)}))
    case(L + "barlow_twins_loss", lambda: (losses.barlow_twins_loss, {
        "z1": z(), "z2": z(1), "lambd": nonneg(5e-3), "eps": nonneg(1e-5), "return_terms": True}), **pair)
    case(L + "vicreg_terms", lambda: (losses.vicreg_terms, {"z1": z(), "z2": z(1), "eps": nonneg(1e-4)}), **pair)
    case(L + "vicreg_loss", lambda: (losses.vicreg_loss, {
        "z1": z(), "z2": z(1), "sim_coeff": nonneg(25.0), "std_coeff": nonneg(25.0), "cov_coeff": nonneg(1.0),
        "eps": nonneg(1e-4), "return_terms": True}), **pair)

    M = "jessl_lite.methods."

    def backbone():
        torch.manual_seed(0)
        return nets.MLP(12, [], 8)

    method_options = {
        "SimCLR": {"dim": 4, "hidden_dim": 8, "proj_layers": 2, "temperature": 0.5},
        "SwAV": {"dim": 4, "hidden_dim": 8, "proj_layers": 2, "num_prototypes": 5, "temperature": 0.1,
                 "epsilon": 0.05, "sinkhorn_iterations": 3, "queue_length": count(4)},
        "BYOL": {"dim": 4, "hidden_dim": 8, "proj_layers": 2, "pred_dim": 8, "ema_decay": prob(0.9)},
        "SimSiam": {"dim": 4, "pred_dim": 2, "proj_layers": 2, "stop_gradient": True, "fixed_predictor_lr": True,
                    "predictor_mode": choice("learned")},
        "BarlowTwins": {"dim": 4, "hidden_dim": 8, "proj_layers": 2, "lambd": nonneg(5e-3)},
        "VICReg": {"dim": 4, "hidden_dim": 8, "proj_layers": 2, "sim_coeff": nonneg(25.0),
                   "std_coeff": nonneg(25.0), "cov_coeff": nonneg(1.0)},
        "ERSimCLR": {"kappa": pos(2.0), "entropy_weight": nonneg(1.0), "dim": 4, "hidden_dim": 8,
                     "proj_layers": 2, "temperature": 0.5},
        "ERBYOL": {"kappa": pos(2.0), "entropy_weight": nonneg(1.0), "dim": 4, "hidden_dim": 8, "proj_layers": 2,
                   "pred_dim": 8, "ema_decay": prob(0.9)},
        "ERSwAV": {"kappa": pos(2.0), "entropy_weight": nonneg(1.0), "dim": 4, "hidden_dim": 8, "proj_layers": 2,
                   "num_prototypes": 5, "temperature": 0.1},
    }

    def built(name):
        options = {k: v.value if isinstance(v, Val) else v for k, v in method_options[name].items()}
        return getattr(methods, name)(backbone(), **options)

    views_pair = {"batch": ("view1", "view2"), "shape": ("view1", "view2")}
    for name, options in method_options.items():
        case(M + name, lambda name=name, options=options: (getattr(methods, name), {
            "backbone": backbone(), "projector": None, **options}))
        case(M + name + ".loss", lambda name=name: (built(name).loss, {
            "view1": tensor(randn(6, 12), rank="min"), "view2": tensor(randn(6, 12, seed=1), rank="min")}),
            **views_pair)
    case(M + "JointEmbeddingMethod", lambda: (methods.JointEmbeddingMethod, {"backbone": backbone()}))
    # The interface's methods, through a concrete method (the base class's loss is abstract).
    case(M + "JointEmbeddingMethod.loss", lambda: (built("SimCLR").loss, {
        "view1": tensor(randn(6, 12), rank="min"), "view2": tensor(randn(6, 12, seed=1), rank="min")}), **views_pair)
    case(M + "JointEmbeddingMethod.forward", lambda: (built("BarlowTwins").forward, {
        "view1": tensor(randn(6, 12), rank="min"), "view2": tensor(randn(6, 12, seed=1), rank="min")}), **views_pair)
    case(M + "JointEmbeddingMethod.embed", lambda: (built("SimSiam").embed, {
        "x": tensor(randn(6, 12), rank="min", empty_ok=True)}))
    for method in ("target_pairs", "param_groups"):
        case(M + "JointEmbeddingMethod." + method, lambda method=method: (
            getattr(methods.JointEmbeddingMethod(backbone()), method), {}))
    case(M + "BYOL.target_pairs", lambda: (built("BYOL").target_pairs, {}))
    for name, method in (("SimCLR", "projections"), ("SwAV", "scores"), ("BYOL", "predictions")):
        case(M + f"{name}.{method}", lambda name=name, method=method: (getattr(built(name), method), {
            "view1": tensor(randn(6, 12), rank="min"), "view2": tensor(randn(6, 12, seed=1), rank="min")}),
            **views_pair)
    case(M + "make_er_method", lambda: (methods.make_er_method, {
        "name": choice("simclr"), "backbone": backbone(), "dim": 4, "hidden_dim": 8, "kappa": pos(2.0)}))
    case(M + "SimSiam.param_groups", lambda: (built("SimSiam").param_groups, {}))
    case(M + "make_method", lambda: (methods.make_method, {
        "name": choice("simsiam"), "backbone": backbone(), "dim": 4, "pred_dim": 2, "proj_layers": 2}))
    case(M + "ema_update", lambda: (methods.ema_update, {
        "target": nets.MLP(4, [], 2), "online": nets.MLP(4, [], 2), "decay": prob(0.99)}))

    MO = "jessl_lite.monitors."
    prepare = views.mnist_views().prepare
    case(MO + "knn_monitor", lambda: (monitors.knn_monitor, {
        "memory": images(16), "queries": images(8, 1), "prepare": prepare, "k": 5, "temperature": 0.1,
        "name": text("knn")}))
    case(MO + "linear_probe_monitor", lambda: (monitors.linear_probe_monitor, {
        "train": images(16), "test": images(8, 1), "prepare": prepare, "C": 1.0, "name": text("probe")}))
    case(MO + "er_monitor", lambda: (monitors.er_monitor, {
        "images": tensor(images(8).images, rank="min"), "views": views.mnist_views(), "kappa": pos(10.0),
        "seed": count(0), "encode": lambda m: m.projector, "prefix": text("z_")}))
    case(MO + "embedding_monitor", lambda: (monitors.embedding_monitor, {
        "images": tensor(images(8).images, rank="min"), "prepare": prepare, "encode": lambda m: m.projector,
        "prefix": text("z_")}))

    T = "jessl_lite.nets."
    case(T + "MLP", lambda: (nets.MLP, {
        "in_dim": 4, "hidden_dims": Val((8,), IntSequence()), "out_dim": 2, "batchnorm": True,
        "last_batchnorm": choice("no_affine"), "bias": False}))
    # Networks and pixel operations map an empty batch to an empty batch, as torch's layers do.
    case(T + "MLP.forward", lambda: (nets.MLP(4, [8], 2).forward, {"x": tensor(randn(5, 4), rank="min",
                                                                               empty_ok=True)}))
    case(T + "ConvNet", lambda: (nets.ConvNet, {"in_channels": 1, "width": 4, "depth": 2}))
    case(T + "ConvNet.forward", lambda: (nets.ConvNet(1, 4, 2).forward, {"x": tensor(float_images(),
                                                                                     empty_ok=True)}))
    case(T + "resnet18_cifar", lambda: (nets.resnet18_cifar, {"in_channels": 3}))
    case(T + "make_backbone", lambda: (nets.make_backbone, {"name": choice("mlp"), "in_channels": 1,
                                                            "image_size": 28}))

    F_ = "jessl_lite.reference."
    records = ckpt.parent / "reference"
    case(F_ + "Setup", lambda: (reference.Setup, {
        "method": nn.Linear(2, 2), "data": anything(None), "views": anything(None), "config": instance(tiny_config()),
        "hooks": Val([lambda method, step: {}], Instance()), "info": Val({"a": 1}, Instance()),
        "finish": lambda method, run: None, "curve": text("loss")}))
    case(F_ + "Experiment", lambda: (reference.Experiment, {
        "name": text("test/x"), "title": text("x"), "protocol": text("x"), "variants": Val(("a",), Instance()),
        "setup": tiny_reference_setup, "seeds": Val((0, 1, 2), Instance()), "threads": 1}))
    case(F_ + "register", lambda: (reference.register, {"experiment": instance(tiny_experiment()),
                                                         "registry": Val({}, MappingKind())}))
    case(F_ + "experiment", lambda: (tiny_reference(records) and reference.experiment,
                                     {"name": choice(TINY_REFERENCE)}))
    case(F_ + "records_dir", lambda: (reference.records_dir, {}))
    case(F_ + "cpu_kind", lambda: (reference.cpu_kind, {}))
    case(F_ + "record_path", lambda: (reference.record_path, {
        "name": text(TINY_REFERENCE), "variant": text("only"), "seed": count(0), "root": path(str(records))}))
    case(F_ + "run", lambda: (tiny_reference(records) and reference.run, {
        "name": choice(TINY_REFERENCE), "variants": Val(["only"], Instance()), "seeds": Val([0], Instance()),
        "checkpoint_root": path(str(records / "checkpoints")), "progress": False, "records_root": path(str(records))}))
    case(F_ + "load", lambda: (tiny_reference(records) and reference.load, {
        "name": choice(TINY_REFERENCE), "variants": Val(["only"], Instance())}))
    case(F_ + "verify", lambda: (reference.verify, {"record": instance(tiny_reference(records)), "steps": 3,
                                                    "atol": nonneg(1e-3)}))
    case(F_ + "compare", lambda: (reference.compare, {"high": numbers((0.9, 0.92)), "low": numbers((0.8, 0.85))}))
    case(F_ + "spread", lambda: (reference.spread, {"runs": Val([tiny_reference(records)], Instance()),
                                                    "metric": choice("loss")}))

    P = "jessl_lite.plots."
    case(P + "set_book_style", lambda: (plots.set_book_style, {}))
    # glue's value is whatever the prose shows: a number, a string, a table.
    case(P + "glue", lambda: (plots.glue, {"name": text("bad_inputs_value"), "value": anything(1.5)}))
    figure_args = {"draw": draw, "sliders": Val({"slope": [0.0, 1.0]}, MappingKind()),
                   "initial": Val({"slope": 1.0}, MappingKind()), "figsize": numbers((2.0, 1.5), low=0.0),
                   "dpi": 20, "caption": text("a line"), "formats": Val({"slope": ".1f"}, MappingKind())}
    case(P + "interactive_figure", lambda: (plots.interactive_figure, dict(figure_args)))
    case(P + "InteractiveFigure", lambda: (plots.InteractiveFigure, dict(figure_args)))
    for method in ("frames", "to_html", "widget"):
        case(P + "InteractiveFigure." + method, lambda method=method: (getattr(figure(), method), {}))

    Q = "jessl_lite.profiles."
    case(Q + "Profile", lambda: (profiles.Profile, {"name": choice("quick"), "device": device(torch.device("cpu")),
                                                    "reason": text("test"), "smoke": False}))
    # pick returns one of the values the chapter chose: any objects.
    case(Q + "Profile.pick", lambda: (profiles.Profile("quick", torch.device("cpu"), "test").pick, {
        "quick": anything(1), "full": anything(2), "smoke": anything(3)}))
    case(Q + "Profile.limit", lambda: (profiles.Profile("full", torch.device("cpu"), "test", smoke=True).limit, {
        "data": Val(images(300), Instance()), "n": size(256)}))
    # claim takes any truth value (a bool, a numpy bool, a 0-dim tensor).
    case(Q + "Profile.claim", lambda: (profiles.Profile("quick", torch.device("cpu"), "test").claim, {
        "condition": anything(True), "claim": text("a claim")}))
    case(Q + "smoke_enabled", lambda: (profiles.smoke_enabled, {}))
    case(Q + "smoke_steps", lambda: (profiles.smoke_steps, {"steps": count(5)}))
    case(Q + "choose_profile", lambda: (profiles.choose_profile, {"profile": choice("quick"), "device": device("cpu"),
                                                                  "verbose": False}))
    case(Q + "choose_device", lambda: (profiles.choose_device, {"prefer": device("cpu")}))

    U = "jessl_lite.runs."
    case(U + "Run", lambda: (runs.Run, {
        "method": text("SimSiam"), "seed": integer(3), "config": {"a": 1}, "info": {"b": 2},
        "device": text("cpu"), "torch_version": text("2"), "git_commit": text("abc"), "seconds": nonneg(1.5),
        "curves": {"step": [0], "loss": [1.0]}, "evals": Val([{"step": 1, "knn": 0.5}], Instance()),
        "summary": {"c": 3}}))
    case(U + "Run.log_step", lambda: (small_run().log_step, {"step": count(6), "values": {"loss": 0.1}}))
    case(U + "Run.log_eval", lambda: (small_run().log_eval, {"step": count(7), "metrics": {"knn": 0.6}}))
    case(U + "Run.curve", lambda: (small_run().curve, {"name": choice("loss")}))
    case(U + "Run.metric", lambda: (small_run().metric, {"name": choice("knn")}))
    case(U + "Run.final", lambda: (small_run().final, {"name": choice("knn")}))
    for method in ("metric_names", "to_dict"):
        case(U + "Run." + method, lambda method=method: (getattr(small_run(), method), {}))
    case(U + "Run.subsampled", lambda: (small_run().subsampled, {"max_points": size(4, minimum=2),
                                                                 "head": size(1, minimum=0, maximum=3)}))
    case(U + "Run.from_dict", lambda: (runs.Run.from_dict, {"state": small_run().to_dict()}))
    case(U + "Run.to_json", lambda: (small_run().to_json, {"path": path(ckpt.with_name("run.json")),
                                                           "max_points": size(4, minimum=2)}))
    case(U + "Run.from_json", lambda: (runs.Run.from_json, {"text": text(small_run().to_json())}))
    case(U + "Run.load", lambda: (small_run().to_json(ckpt.with_name("run.json")) and runs.Run.load,
                                  {"path": path(ckpt.with_name("run.json"))}))

    R_ = "jessl_lite.train."
    sampler = bounds.GaussianStaircase(2, 8, (1.0,), 4).sample
    case(R_ + "fit", lambda: (train.fit, {
        "method": bounds.BoundObjective(bounds.BilinearCritic(2, 2), bounds.infonce_bound),
        "data": Val(sampler, Function()), "views": None, "config": instance(tiny_config()),
        "hooks": Val([lambda method, step: {"one": 1.0}], Instance()), "callback": lambda step, logs: None,
        "info": Val({"x": 1}, MappingKind()), "until": 1}))
    config_fields = {"steps": 5, "epochs": None, "batch_size": 8, "optimizer": choice("adam"), "lr": 0.1,
                     "lr_schedule": choice("constant"), "warmup_steps": count(1), "weight_decay": nonneg(0.0),
                     "momentum": prob(0.9), "tau_base": prob(0.99), "seed": count(1), "on_nonfinite": choice("skip"),
                     "precision": choice("fp32"), "channels_last": False, "compile": False, "sync_batchnorm": False,
                     "log_every": 2, "eval_every": count(2), "eval_at_start": False, "progress": False,
                     "checkpoint_dir": path(str(ckpt.parent)), "checkpoint_every": count(2), "resume": False}
    case(R_ + "FitConfig", lambda: (train.FitConfig, dict(config_fields)))
    case(R_ + "FitConfig.sections", lambda: (train.FitConfig.sections, {}))
    case(R_ + "FitConfig.replace", lambda: (tiny_config().replace, {"lr": 0.2, "seed": count(3)}))
    case(R_ + "FitConfig.to_dict", lambda: (tiny_config().to_dict, {}))
    case(R_ + "FitConfig.from_dict", lambda: (train.FitConfig.from_dict, {"values": tiny_config().to_dict()}))
    case(R_ + "FitConfig.trajectory", lambda: (tiny_config().trajectory, {}))
    case(R_ + "Every", lambda: (train.Every, {"hook": lambda method, step: {}, "every": count(5), "at_start": False}))
    case(R_ + "learning_rate", lambda: (train.learning_rate, {
        "step": size(3, minimum=0, maximum=10), "total_steps": 10, "base_lr": nonneg(0.1),
        "warmup_steps": size(2, minimum=0, maximum=9), "final_lr": nonneg(0.0), "schedule": choice("cosine")}))
    case(R_ + "byol_tau", lambda: (train.byol_tau, {"step": size(3, minimum=0, maximum=10), "total_steps": 10,
                                                    "tau_base": prob(0.996)}))
    case(R_ + "LARS", lambda: (train.LARS, {
        "params": Val(list(nn.Linear(2, 2).parameters()), Anything()), "lr": nonneg(0.1), "momentum": prob(0.9),
        "weight_decay": nonneg(1e-6), "eta": 1e-3}))

    def lars_after_backward():
        layer = nn.Linear(2, 2)
        optimizer = train.LARS(layer.parameters(), lr=0.1)
        layer(torch.ones(1, 2)).sum().backward()
        return optimizer

    case(R_ + "LARS.step", lambda: (lars_after_backward().step, {"closure": lambda: torch.tensor(0.0)}))
    case(R_ + "make_optimizer", lambda: (train.make_optimizer, {
        "name": choice("lars"), "groups": Val([{"params": list(nn.Linear(2, 2).parameters())}], Instance()),
        "lr": 0.1, "weight_decay": nonneg(1e-4), "momentum": prob(0.9)}))

    A = "jessl_lite.validation."
    # The checkers' own settings (name, bounds, words) are written by the package's code, not by
    # a user: only the value they check has bad values. The message names the `name` given.
    setting = Anything()
    named = {"value": "steps"}
    case(A + "check_int", lambda: (validation.check_int, {
        "value": size(3, 1, 5), "name": Val("steps", setting), "minimum": Val(1, setting),
        "maximum": Val(5, setting)}), names=named)
    case(A + "check_number", lambda: (validation.check_number, {
        "value": between(0.5, 0.0, 1.0, low_open=True), "name": Val("steps", setting), "low": Val(0.0, setting),
        "high": Val(1.0, setting), "low_open": Val(True, setting), "high_open": Val(False, setting)}), names=named)
    case(A + "check_probability", lambda: (validation.check_probability, {
        "value": prob(0.5), "name": Val("steps", setting)}), names=named)
    case(A + "check_choice", lambda: (validation.check_choice, {
        "value": choice("bits"), "name": Val("steps", setting), "choices": Val(("nats", "bits"), setting)}),
        names=named)
    case(A + "check_bool", lambda: (validation.check_bool, {"value": True, "name": Val("steps", setting)}),
         names=named)
    case(A + "check_str", lambda: (validation.check_str, {
        "value": text("knn"), "name": Val("steps", setting), "optional": Val(False, setting),
        "nonempty": Val(True, setting)}), names=named)
    case(A + "check_path", lambda: (validation.check_path, {
        "value": path("runs/x.json"), "name": Val("steps", setting), "optional": Val(False, setting)}), names=named)
    # check_sizes(**sizes): the sizes are its keyword arguments, each named in the message.
    case(A + "check_sizes", lambda: (validation.check_sizes, {"dim": 4, "proj_layers": 2}))
    case(A + "check_int_sequence", lambda: (validation.check_int_sequence, {
        "value": Val((4, 2), IntSequence()), "name": Val("steps", setting), "minimum": Val(1, setting),
        "min_length": Val(1, setting)}), names=named)
    case(A + "check_interval", lambda: (validation.check_interval, {
        "value": numbers((0.2, 1.0), low=0.0, pair=True), "name": Val("steps", setting), "low": Val(0.0, setting),
        "high": Val(None, setting), "low_open": Val(False, setting)}), names=named)
    case(A + "check_generator", lambda: (validation.check_generator, {
        "value": gen(), "name": Val("steps", setting), "optional": Val(False, setting)}), names=named)
    case(A + "check_instance", lambda: (validation.check_instance, {
        "value": nn.Linear(1, 1), "name": Val("steps", setting), "kind": Val(nn.Module, setting),
        "words": Val("an nn.Module", setting)}), names=named)
    case(A + "check_callable", lambda: (validation.check_callable, {
        "value": print, "name": Val("steps", setting), "how": Val("f()", setting)}), names=named)
    case(A + "check_device", lambda: (validation.check_device, {"value": device("cpu"),
                                                                "name": Val("steps", setting)}), names=named)
    case(A + "check_tensor", lambda: (validation.check_tensor, {
        "value": randn(3, 2), "name": Val("steps", setting), "ndim": Val(2, setting), "min_ndim": Val(None, setting),
        "dims": Val("(N, D)", setting), "floating": Val(True, setting), "dtype": Val(None, setting),
        "nonempty": Val(True, setting)}), names=named)
    for name in ("check_same_shape", "check_same_device"):
        case(A + name, lambda name=name: (getattr(validation, name), {
            "first": Val(randn(3, 2), setting), "first_name": Val("z1", setting),
            "second": (tensor(randn(3, 2, seed=1), int_ok=True) if name == "check_same_shape"
                       else Val(randn(3, 2), setting)),
            "second_name": Val("z2", setting)}), names={"second": "z2"})
    case(A + "check_matching_tensors", lambda: (validation.check_matching_tensors, {
        "tensors": Val({"z1": randn(3, 2), "z2": randn(3, 2)}, MappingKind()), "ndim": Val(2, setting),
        "min_ndim": Val(None, setting), "dims": Val(None, setting), "floating": Val(True, setting),
        "nonempty": Val(True, setting)}))
    case(A + "check_finite_tensor", lambda: (validation.check_finite_tensor, {
        "value": tensor(randn(3, 2), rank="any", empty_ok=True, int_ok=True), "name": Val("steps", setting),
        "cpu_only": Val(False, setting), "hint": Val("", setting)}), names=named)
    case(A + "check_tensor_range", lambda: (validation.check_tensor_range, {
        "value": tensor(torch.rand(3, 2), rank="any", empty_ok=True, int_ok=True), "name": Val("steps", setting),
        "low": Val(0.0, setting), "high": Val(1.0, setting), "cpu_only": Val(False, setting),
        "hint": Val("", setting)}), names=named)
    case(A + "as_float64", lambda: (validation.as_float64, {
        "value": tensor(randn(3), rank="any", arraylike=True, empty_ok=True, int_ok=True),
        "name": Val("steps", setting)}), names=named)
    case(A + "check_probability_table", lambda: (validation.check_probability_table, {
        "value": tensor(torch.tensor([0.5, 0.5], dtype=torch.float64), arraylike=True, int_ok=True, rank="min"),
        "name": Val("steps", setting), "atol": nonneg(1e-6, high=0.01), "min_ndim": Val(1, setting)}), names=named)
    case(A + "check_covariance", lambda: (validation.check_covariance, {
        "value": tensor(torch.eye(2, dtype=torch.float64), arraylike=True, int_ok=True, rank="any"),
        "name": Val("steps", setting)}), names=named)

    W_ = "jessl_lite.views."
    aug_fields = {
        "size": 28, "crop_scale": numbers((0.2, 1.0), low=0.0, pair=True),
        "crop_ratio": numbers((0.75, 1.33), low=0.0, pair=True), "flip_p": prob(0.5),
        "jitter": numbers((0.4, 0.4, 0.4, 0.1), low=0.0), "jitter_p": prob(0.8), "grayscale_p": prob(0.2),
        "blur_p": prob(0.5), "blur_sigma": numbers((0.1, 2.0), low=0.0, pair=True), "blur_kernel": 3,
        "solarize_p": prob(0.1), "solarize_threshold": prob(0.5), "mean": numbers((0.5,)),
        "std": numbers((0.25,), low=0.0)}
    case(W_ + "Augmentation", lambda: (views.Augmentation, dict(aug_fields)))
    view_makers = {"Augmentation": augmentation, "TwoViews": lambda: views.TwoViews(augmentation()),
                   "TopBottomViews": views.TopBottomViews}
    for name, make in view_makers.items():
        case(W_ + name + ".sample", lambda make=make: (make().sample, {
            "n": 4, "generator": gen(), "image_size": Val((28, 28), IntSequence())}))
        case(W_ + name + ".apply", lambda make=make: (make().apply, {
            "images": images(4).images, "params": make().sample(4, gen(), (28, 28))}))
        case(W_ + name + ".prepare", lambda make=make: (make().prepare, {"images": images(4).images}))
    case(W_ + "TwoViews", lambda: (views.TwoViews, {"first": instance(augmentation()),
                                                    "second": instance(augmentation())}))
    case(W_ + "TopBottomViews", lambda: (views.TopBottomViews, {"mean": numbers((0.5,)),
                                                                "std": numbers((0.25,), low=0.0)}))
    for name, size_ in (("cifar10_views", 32), ("mnist_views", 28)):
        case(W_ + name, lambda name=name, size_=size_: (getattr(views, name), {"size": size_, "normalize": False}))
    case(W_ + "top_bottom_views", lambda: (views.top_bottom_views, {"normalize": False}))
    case(W_ + "sample_crop_boxes", lambda: (views.sample_crop_boxes, {
        "n": 4, "image_size": Val((28, 28), IntSequence()), "augmentation": instance(augmentation()),
        "generator": gen(), "tries": 10}))

    def boxes():
        return views.sample_crop_boxes(4, (28, 28), augmentation(), gen())

    box_tensor = {"arraylike": False}
    case(W_ + "resized_crop", lambda: (views.resized_crop, {
        "x": tensor(float_images()), "top": tensor(boxes()[0], **box_tensor), "left": tensor(boxes()[1], **box_tensor),
        "height": tensor(boxes()[2], **box_tensor), "width": tensor(boxes()[3], **box_tensor), "size": 14,
        "flip": tensor(torch.tensor([True, False, True, False]))}),
        batch=("x", "top", "left", "height", "width", "flip"))
    for name in ("adjust_brightness", "adjust_contrast", "adjust_saturation"):
        case(W_ + name, lambda name=name: (getattr(views, name), {"x": tensor(float_images(), empty_ok=True),
                                                                  "factor": nonneg(0.5)}))
    case(W_ + "adjust_hue", lambda: (views.adjust_hue, {"x": tensor(float_images(), empty_ok=True),
                                                        "shift": between(0.1, -0.5, 0.5)}))
    case(W_ + "to_grayscale", lambda: (views.to_grayscale, {"x": tensor(float_images(), empty_ok=True)}))
    case(W_ + "gaussian_blur", lambda: (views.gaussian_blur, {"x": tensor(float_images(), empty_ok=True),
                                                              "sigma": 1.0, "kernel_size": 3}))
    case(W_ + "solarize", lambda: (views.solarize, {"x": tensor(float_images(), empty_ok=True),
                                                    "threshold": prob(0.5)}))


_register()


# --- the verdict on one call ----------------------------------------------------------------------------

#: Bad values that are legitimately accepted: ``(callable glob, argument, label glob, why)``. Keep it short.
ALLOWED: list[tuple[str, str, str, str]] = [
    # Result records, built by the functions that return them (information_terms, ib_search) from
    # checked inputs; they hold what they are given, like any dataclass of results.
    ("jessl_lite.experiments.worlds.InformationTerms", "*", "*", "a result record: it holds what it is given"),
    ("jessl_lite.experiments.worlds.SearchResult", "*", "*", "a result record: it holds what it is given"),
    # Top and bottom halves draw no randomness and need no parameters: the views interface's
    # generator and params are unused (sample returns {}), whatever they are.
    ("jessl_lite.views.TopBottomViews.sample", "generator", "*", "unused: the halves are deterministic"),
    ("jessl_lite.views.TopBottomViews.apply", "params", "*", "unused: the halves take no parameters"),
]


def allowed(target: str, argument: str, label: str) -> str | None:
    for pattern, arg, label_pattern, why in ALLOWED:
        if fnmatch.fnmatchcase(target, pattern) and arg in (argument, "*") \
                and fnmatch.fnmatchcase(label, label_pattern):
            return why
    return None


OUTCOMES = ("clear error naming the argument", "sensible result (allowed)", "other error",
            "returned something (suspicious)")


def verdict(case_: Case, argument: str, label: str, bad: Any) -> tuple[str, str]:
    """``(outcome, detail)`` of the case's call with ``argument`` replaced by ``bad``."""
    fn, values, _ = case_.build()
    values[argument] = bad
    names = case_.accepted_names(argument, label)
    try:
        fn(**values)
    except (ValueError, TypeError) as err:
        message = str(err)
        if any(re.search(rf"(?<![A-Za-z0-9_]){re.escape(n)}(?![A-Za-z0-9_])", message) for n in names):
            return OUTCOMES[0], message
        return OUTCOMES[2], f"{type(err).__name__}: {message}"
    except Exception as err:  # noqa: BLE001 (the point is to see every kind of failure)
        return OUTCOMES[2], f"{type(err).__name__}: {err}"
    if allowed(case_.target, argument, label):
        return OUTCOMES[1], allowed(case_.target, argument, label)
    return OUTCOMES[3], "returned normally"
