"""Call every public callable of jessl_lite with every bad value of tests/bad_input_catalog.py and count
what happens (issue 14's goal: >= 95% clear error or sensible result, no garbage).

Each call replaces one argument of a valid example by one bad value of that argument's kind and ends
in one of four outcomes: a ValueError/TypeError naming the argument; a result the catalogue's
ALLOWED list calls sensible; another error (from deep inside torch, or naming something else); or a
returned value (suspicious: garbage unless allowed). A second, separate count feeds NaN (and
infinities) *inside* the tensor arguments, which the package lets through tensor functions as
torch does: there the outcomes are a clear error, a non-finite result (NaN passed through) or a
finite result, which is listed for reading (a finite answer from NaN input is garbage unless the
function is documented to skip non-finite values).

    JESSL_DATA=../shared/data OMP_NUM_THREADS=1 python bench/bad_inputs_probe.py [--show] [--only GLOB]
"""

from __future__ import annotations

import argparse
import collections
import fnmatch
import math
import sys
import time
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import bad_input_catalog as catalog  # noqa: E402
import torch  # noqa: E402


def _finite(result) -> bool | None:
    """Whether every tensor or float in ``result`` is finite (None: nothing numeric in it)."""
    values = []

    def walk(x, depth=0):
        if depth > 3:
            return
        if isinstance(x, torch.Tensor) and (x.is_floating_point() or x.is_complex()):
            values.append(bool(torch.isfinite(x).all()))
        elif isinstance(x, float):
            values.append(math.isfinite(x))
        elif isinstance(x, tuple | list):
            for v in x:
                walk(v, depth + 1)
        elif isinstance(x, dict):
            for v in x.values():
                walk(v, depth + 1)
        elif hasattr(x, "__dataclass_fields__"):
            for name in x.__dataclass_fields__:
                walk(getattr(x, name), depth + 1)

    walk(result)
    return None if not values else all(values)


def nan_probe(case: catalog.Case) -> list[tuple[str, str, str]]:
    """``(argument, outcome, detail)`` for a NaN put into each floating tensor argument."""
    fn, values, _ = case.build()
    out = []
    for name, value in values.items():
        if not (isinstance(value, torch.Tensor) and value.is_floating_point() and value.numel() > 0):
            continue
        fn, fresh, _ = case.build()
        poisoned = fresh[name].clone()
        poisoned.view(-1)[0] = math.nan
        fresh[name] = poisoned
        try:
            result = fn(**fresh)
        except (ValueError, TypeError) as err:
            named = case.expected_name(name) in str(err)
            out.append((name, "clear error" if named else "other error", str(err)[:160]))
            continue
        except Exception as err:  # noqa: BLE001
            out.append((name, "other error", f"{type(err).__name__}: {str(err)[:160]}"))
            continue
        finite = _finite(result)
        what = {False: "NaN passed through", None: "no numeric result", True: "finite result (read it)"}[finite]
        out.append((name, what, type(result).__name__))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--show", action="store_true", help="list every call that is not a clear error")
    parser.add_argument("--only", default="*", help="callables to probe (a glob on the qualified name)")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    torch.set_num_threads(1)
    start = time.perf_counter()
    public = catalog.public_callables()
    missing = sorted(set(public) - set(catalog.CASES))
    counts: collections.Counter = collections.Counter()
    listed = collections.defaultdict(list)
    nan_counts: collections.Counter = collections.Counter()
    nan_listed = collections.defaultdict(list)
    probed = 0
    for target, case in catalog.CASES.items():
        if not fnmatch.fnmatchcase(target, args.only):
            continue
        probed += 1
        for argument, label, bad in case.bad_values():
            outcome, detail = catalog.verdict(case, argument, label, bad)
            counts[outcome] += 1
            if outcome != catalog.OUTCOMES[0]:
                listed[outcome].append(f"{target}({argument}={label}): {detail[:200]}")
        for argument, outcome, detail in nan_probe(case):
            nan_counts[outcome] += 1
            if outcome not in ("clear error", "NaN passed through", "no numeric result"):
                nan_listed[outcome].append(f"{target}({argument}=NaN inside): {detail}")
    total = sum(counts.values())
    good = counts[catalog.OUTCOMES[0]] + counts[catalog.OUTCOMES[1]]
    print(f"{probed} public callables ({len(public)} found, {len(missing)} without an example), "
          f"{total} bad inputs, {time.perf_counter() - start:.0f} s")
    for outcome in catalog.OUTCOMES:
        print(f"  {counts[outcome]:5d}  {outcome}")
    print(f"  clear or sensible: {100 * good / max(total, 1):.1f}%   returned something suspicious: "
          f"{counts[catalog.OUTCOMES[3]]}")
    print(f"NaN inside a tensor argument ({sum(nan_counts.values())} calls; not counted above):")
    for outcome in ("clear error", "NaN passed through", "no numeric result", "finite result (read it)",
                    "other error"):
        print(f"  {nan_counts[outcome]:5d}  {outcome}")
    if missing:
        print("without an example:", ", ".join(missing))
    if args.show:
        for outcome, lines in [*listed.items(), *nan_listed.items()]:
            print(f"\n--- {outcome} ({len(lines)})")
            print("\n".join(lines))


if __name__ == "__main__":
    main()
