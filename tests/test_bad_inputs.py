"""Every public callable of jessl_lite answers bad input with a clear error naming the argument.

The callables come from each module's ``__all__`` (and the public methods of public classes), so a
new function is covered the day it is exported; its valid example call lives in
``tests/bad_input_catalog.py`` (the test below fails, naming it, until one is written there). For
each example, hypothesis replaces one argument by a bad value of that argument's kind (wrong type,
list for a tensor, wrong rank, empty batch, mismatched batch, integer dtype, NaN/inf or out-of-range
numbers, bools for ints, unknown choices, ...) and the call must raise a ``ValueError`` or
``TypeError`` whose message names the argument, or be one of the few commented cases of
``ALLOWED`` where the value is legitimately accepted. ``bench/bad_inputs_probe.py`` runs every
bad value of the catalogue and counts the outcomes.
"""

from __future__ import annotations

import warnings

import matplotlib
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

matplotlib.use("Agg")

import bad_input_catalog as catalog  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")

CASES = sorted(catalog.CASES)
#: For each case with arguments: its arguments, and the bad values of groups (mismatched batch or shape).
ARGUMENTS = {}
for _target in CASES:
    _bad = catalog.CASES[_target].bad_values()
    if _bad:
        ARGUMENTS[_target] = (sorted({arg for arg, _, _ in _bad}),
                              [(arg, label) for arg, label, _ in _bad if label.startswith("mismatched")])


def test_every_public_callable_has_an_example():
    public = catalog.public_callables()
    missing = sorted(set(public) - set(catalog.CASES))
    assert not missing, f"public callables without a valid example in tests/bad_input_catalog.py: {missing}"
    stale = sorted(set(catalog.CASES) - set(public))
    assert not stale, f"examples of callables that are no longer public: {stale}"


@pytest.mark.parametrize("target", CASES)
def test_the_valid_example_runs(target):
    # A valid input never crashes (and a bad-value test of a broken example would prove nothing).
    fn, values, _ = catalog.CASES[target].build()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fn(**values)


@st.composite
def bad_calls(draw):
    target = draw(st.sampled_from(sorted(ARGUMENTS)))
    names, grouped = ARGUMENTS[target]
    case = catalog.CASES[target]
    argument = draw(st.sampled_from(names))
    fn, arguments = case.make()
    _, values, kinds = case.build()
    given_ = arguments[argument]
    optional = given_.optional if isinstance(given_, catalog.Val) and given_.optional is not None else \
        catalog._optional(fn, argument)
    choices = [kinds[argument].strategy(values[argument], optional)]
    if any(arg == argument for arg, _ in grouped):
        choices.append(st.sampled_from([(label, bad) for arg, label, bad in case.bad_values()
                                        if arg == argument and label.startswith("mismatched")]))
    label, bad = draw(st.one_of(choices))
    return case, argument, label, bad


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bad_calls())
def test_a_bad_argument_is_refused_with_its_name(call):
    case, argument, label, bad = call
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        outcome, detail = catalog.verdict(case, argument, label, bad)
    assert outcome in catalog.OUTCOMES[:2], (
        f"{case.target}({argument}={bad!r:.80} [{label}]): {outcome}: {detail[:300]}"
    )


def test_the_allow_list_is_short_and_every_entry_is_used():
    assert len(catalog.ALLOWED) <= 6
    for pattern, argument, label, _ in catalog.ALLOWED:
        used = [t for t in catalog.CASES if catalog.allowed(t, argument, label) and any(
            catalog.allowed(t, a, lab) for a, lab, _ in catalog.CASES[t].bad_values())]
        assert used, f"ALLOWED entry {pattern, argument, label} matches no bad value: remove it"


def test_a_callable_that_checks_nothing_is_caught():
    # The verdict itself can fail: a function that returns its argument unchecked is suspicious, and
    # an error that names another argument is not clear.
    def scale(temperature: float = 0.5):
        return 2 * temperature

    def blames_another(temperature: float = 0.5):
        raise ValueError("tau must be positive")

    for fn, expected in ((scale, catalog.OUTCOMES[3]), (blames_another, catalog.OUTCOMES[2])):
        case = catalog.Case("test.fn", lambda fn=fn: (fn, {"temperature": 0.5}))
        outcome, _ = catalog.verdict(case, "temperature", "nan", float("nan"))
        assert outcome == expected
