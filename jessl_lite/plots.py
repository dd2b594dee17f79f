"""Figure helpers: one palette for the book, and interactive figures that also work without a kernel.

:func:`interactive_figure` turns a drawing function of slider values into

* live ``ipywidgets`` sliders when the notebook runs in Jupyter or Colab, and
* a kernel-free, scrubbable figure in the static book: every combination of slider values is
  drawn once in Python, and the page swaps the precomputed images with plain HTML range inputs
  (no script or style from another host).

Both come from the same ``draw`` function over the same grid of values, so a reader of the
static book sees exactly the states a student can reach in a live kernel. Only notebooks import
this module (see DESIGN.md).

Example::

    def draw(fig, rho):
        ax = fig.subplots()
        ax.bar(["I(X;Y)"], [-0.5 * np.log(1 - rho**2)])

    interactive_figure(draw, {"rho": np.linspace(0, 0.95, 20)})
"""

from __future__ import annotations

import base64
import html
import io
import itertools
import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import matplotlib.pyplot as plt
import seaborn as sns

from .validation import check_callable, check_int, check_number, check_str

__all__ = [
    "BOOK_PALETTE",
    "METHOD_COLORS",
    "set_book_style",
    "glue",
    "interactive_figure",
    "InteractiveFigure",
]

#: seaborn's colorblind palette (10 colors), its "dark" variant (10 more), its "muted" one
#: and its "bright" one (10 more each, appended so earlier indices keep their colors): the one
#: palette of the book. Chapters pick colors by name from :data:`METHOD_COLORS`, never by index.
BOOK_PALETTE = (sns.color_palette("colorblind") + sns.color_palette("dark") + sns.color_palette("muted")
                + sns.color_palette("bright"))

#: Every method, estimator and recurring quantity keeps one color across the book, and no two
#: share one (``tests/test_plots.py`` checks it). "true" (the exact value) is dark grey.
METHOD_COLORS = {
    # the six joint-embedding methods (chapters 3, 4, 7)
    "SimCLR": BOOK_PALETTE[0],
    "SwAV": BOOK_PALETTE[1],
    "BYOL": BOOK_PALETTE[2],
    "SimSiam": BOOK_PALETTE[3],
    "Barlow Twins": BOOK_PALETTE[4],
    "VICReg": BOOK_PALETTE[5],
    # variational MI bounds (chapters 2, 5)
    "InfoNCE": BOOK_PALETTE[6],
    "NWJ": BOOK_PALETTE[8],
    "DV": BOOK_PALETTE[9],
    "JS": BOOK_PALETTE[10],
    # entropy estimators (chapters 2, 7)
    "resubstitution": BOOK_PALETTE[11],
    "leave-one-out": BOOK_PALETTE[12],
    # a quantity computed stably (in log space) against the naive formula (chapter 2)
    "stable": BOOK_PALETTE[15],
    "naive": BOOK_PALETTE[26],
    # recurring quantities and baselines
    "estimate": BOOK_PALETTE[13],
    "baseline": BOOK_PALETTE[7],
    "collapsed": BOOK_PALETTE[14],
    "true": "0.2",
    # entropy and information of two discrete variables (chapter 1)
    "binary entropy": BOOK_PALETTE[20],
    "surprise": BOOK_PALETTE[21],
    "H(X|Y)": BOOK_PALETTE[29],
    "I(X;Y)": BOOK_PALETTE[22],
    "H(Y|X)": BOOK_PALETTE[28],
    # the information bottleneck (chapter 6)
    "IB Lagrangian": BOOK_PALETTE[19],
    "blog Lagrangian": BOOK_PALETTE[16],
    "H(V)": BOOK_PALETTE[23],
    "H(V|V^)": BOOK_PALETTE[24],
    "I(V;V^)": BOOK_PALETTE[18],
    # critics, encoders and the adversary of Tschannen et al.'s experiments (chapter 5)
    "bilinear critic": BOOK_PALETTE[33],
    "separable critic": BOOK_PALETTE[34],
    "MLP critic": BOOK_PALETTE[39],
    "ConvNet encoder": BOOK_PALETTE[32],
    "MLP encoder": BOOK_PALETTE[31],
    "adversarial": BOOK_PALETTE[25],
    "label entropy": BOOK_PALETTE[30],
    # SimSiam with one ingredient removed (chapter 4)
    "no stop-gradient": BOOK_PALETTE[36],
    "no predictor": BOOK_PALETTE[38],
    "fixed random predictor": BOOK_PALETTE[35],
    # the entropy-and-reconstruction variants (chapter 7)
    "SimCLR+ER": BOOK_PALETTE[17],
    "BYOL+ER": BOOK_PALETTE[27],
    "SwAV+ER": BOOK_PALETTE[37],
}

MAX_FRAMES = 150


def set_book_style() -> None:
    """seaborn's defaults with the book palette; call once at the top of a chapter."""
    sns.set_theme(context="notebook", style="whitegrid", palette=BOOK_PALETTE)
    plt.rcParams.update({"figure.dpi": 90, "savefig.bbox": "tight", "axes.titlesize": "medium"})


def glue(name: str, value: Any) -> None:
    """Hand a computed value to the book's prose, where ``{glue:text}`name:.3f``` prints it.

    Uses MyST-NB's ``glue`` when it is installed (the book build); elsewhere (Colab) it does
    nothing, so a chapter runs the same in both. Numbers are stored as plain Python floats so
    that format specs in the prose apply. Returns nothing, so a cell that ends in ``glue``
    prints nothing.
    """
    check_str(name, "name", nonempty=True)
    try:
        from myst_nb import glue as myst_glue
    except ImportError:
        return
    stored = float(value) if hasattr(value, "item") and getattr(value, "ndim", 1) == 0 else value
    myst_glue(name, stored, display=False)


class InteractiveFigure:
    """A figure driven by sliders; display it (last expression of a cell) to show it.

    Built by :func:`interactive_figure`. Its rich display offers two representations: the
    ipywidgets view (what Jupyter and Colab show) and a static HTML scrubber (what the book's
    HTML shows, since the book renders no widget views).
    """

    def __init__(
        self,
        draw: Callable[..., Any],
        sliders: Mapping[str, Sequence[Any]],
        *,
        initial: Mapping[str, Any] | None = None,
        figsize: tuple[float, float] = (7.0, 3.6),
        dpi: int = 80,
        caption: str = "",
        formats: Mapping[str, str] | None = None,
    ) -> None:
        check_callable(draw, "draw", "draw(fig, **values)")
        if isinstance(figsize, str | bytes) or not isinstance(figsize, Sequence) or len(figsize) != 2:
            raise TypeError(f"figsize must be a pair (width, height) in inches; got {figsize!r}")
        figsize = tuple(check_number(v, f"figsize[{i}]", low=0.0, low_open=True) for i, v in enumerate(figsize))
        check_int(dpi, "dpi", minimum=1)
        check_str(caption, "caption")
        for name, mapping in (("initial", initial), ("formats", formats)):
            if mapping is not None and not isinstance(mapping, Mapping):
                raise TypeError(f"{name} must be a mapping of slider name -> value, or None; got "
                                f"{type(mapping).__name__}")
        if formats is not None and not all(isinstance(f, str) for f in formats.values()):
            raise TypeError(f"formats must map slider names to format specs such as '.2f'; got {formats!r}")
        if not isinstance(sliders, Mapping) or not sliders:
            raise ValueError("sliders must be a non-empty mapping of name -> sequence of values")
        self.names = list(sliders)
        self.values: list[list[Any]] = []
        for name, values in sliders.items():
            if not isinstance(name, str) or not name.isidentifier():
                raise ValueError(f"sliders: each name must be a Python identifier; got {name!r}")
            if isinstance(values, str | bytes) or not hasattr(values, "__iter__"):
                raise TypeError(f"sliders[{name!r}] must be a sequence of values; got {type(values).__name__}")
            vals = list(values)
            if not vals:
                raise ValueError(f"sliders[{name!r}] must hold at least one value")
            self.values.append(vals)
        n_frames = 1
        for vals in self.values:
            n_frames *= len(vals)
        if n_frames > MAX_FRAMES:
            raise ValueError(
                f"sliders make {n_frames} combinations; at most {MAX_FRAMES} are precomputed "
                "for the static book: use fewer values per slider"
            )
        initial = dict(initial or {})
        unknown = set(initial) - set(self.names)
        if unknown:
            raise ValueError(f"initial names unknown sliders {sorted(unknown)}; sliders are {self.names}")
        self.start = []
        for name, vals in zip(self.names, self.values, strict=True):
            if name in initial:
                if initial[name] not in vals:
                    raise ValueError(f"initial[{name!r}] = {initial[name]!r} is not one of the slider's values")
                self.start.append(vals.index(initial[name]))
            else:
                self.start.append(len(vals) // 2)
        self.draw = draw
        self.figsize = figsize
        self.dpi = dpi
        self.caption = caption
        self.formats = dict(formats or {})
        self._frames: list[str] | None = None

    # -- the static version ---------------------------------------------------------------

    def frames(self) -> list[str]:
        """Base64 PNG of every combination, last slider varying fastest."""
        if self._frames is None:
            frames = []
            fig = plt.figure(figsize=self.figsize, dpi=self.dpi)
            try:
                for combo in itertools.product(*self.values):
                    fig.clear()
                    self.draw(fig, **dict(zip(self.names, combo, strict=True)))
                    buffer = io.BytesIO()
                    fig.savefig(buffer, format="png", dpi=self.dpi)
                    frames.append(base64.b64encode(buffer.getvalue()).decode("ascii"))
            finally:
                plt.close(fig)
            self._frames = frames
        return self._frames

    def _label(self, name: str, value: Any) -> str:
        fmt = self.formats.get(name)
        if fmt is not None:
            return format(value, fmt)
        if isinstance(value, float):
            return f"{value:.3g}"
        return str(value)

    def to_html(self) -> str:
        """Self-contained HTML: one image, one range input per slider, inline script."""
        uid = "jfig-" + uuid.uuid4().hex[:10]
        frames = self.frames()
        sizes = [len(v) for v in self.values]
        labels = [[self._label(n, v) for v in vals] for n, vals in zip(self.names, self.values, strict=True)]
        first = _flat_index(self.start, sizes)
        rows = []
        for i, name in enumerate(self.names):
            rows.append(
                f'<label style="display:flex;align-items:center;gap:0.6em;margin:0.2em 0">'
                f'<span style="min-width:6em;font-family:monospace">{html.escape(name)}</span>'
                f'<input type="range" min="0" max="{sizes[i] - 1}" step="1" value="{self.start[i]}" '
                f'data-slider="{i}" aria-label="{html.escape(name)}" style="flex:1">'
                f'<output style="min-width:5em;font-family:monospace">'
                f"{html.escape(labels[i][self.start[i]])}</output></label>"
            )
        alt = html.escape(self.caption or "interactive figure; move the sliders to change it")
        caption = (
            f'<p style="margin:0.3em 0 0;font-size:0.9em;color:#555">{html.escape(self.caption)}</p>'
            if self.caption
            else ""
        )
        script = (
            "(function(){"
            f"var root=document.getElementById('{uid}');"
            f"var frames={json.dumps(frames)};var sizes={json.dumps(sizes)};"
            f"var labels={json.dumps(labels)};"
            "var img=root.querySelector('img');"
            "var inputs=root.querySelectorAll('input[data-slider]');"
            "function update(){var idx=0;inputs.forEach(function(inp,i){"
            "var v=parseInt(inp.value,10);idx=idx*sizes[i]+v;"
            "inp.parentNode.querySelector('output').textContent=labels[i][v];});"
            "img.src='data:image/png;base64,'+frames[idx];}"
            "inputs.forEach(function(inp){inp.addEventListener('input',update);});"
            "})();"
        )
        return (
            f'<div id="{uid}" class="jessl-interactive" style="max-width:100%">'
            f'<img src="data:image/png;base64,{frames[first]}" alt="{alt}" '
            f'style="max-width:100%;height:auto;display:block">'
            f'<div style="max-width:36em">{"".join(rows)}</div>{caption}'
            f"<script>{script}</script></div>"
        )

    # -- the live version -----------------------------------------------------------------

    def widget(self):
        """The ipywidgets version (sliders over the same values), for a live kernel."""
        import ipywidgets as widgets

        controls = {
            name: widgets.SelectionSlider(
                options=[(self._label(name, v), v) for v in vals],
                value=vals[start],
                description=name,
                continuous_update=False,
                layout=widgets.Layout(width="32em"),
            )
            for name, vals, start in zip(self.names, self.values, self.start, strict=True)
        }

        def show(**values):
            fig = plt.figure(figsize=self.figsize, dpi=self.dpi)
            try:
                self.draw(fig, **values)
                plt.show()
            finally:  # outside the inline backend show() leaves the figure open: close it here
                plt.close(fig)

        return widgets.interactive(show, **controls)

    def _repr_mimebundle_(self, include=None, exclude=None):
        bundle: dict[str, Any] = {}
        try:
            live = self.widget()
            bundle.update(live._repr_mimebundle_(include=include, exclude=exclude) or {})
        except ImportError:  # ipywidgets missing: the static figure is still complete
            pass
        bundle["text/html"] = self.to_html()
        bundle["text/plain"] = f"<InteractiveFigure sliders={self.names}>"
        return bundle


def interactive_figure(
    draw: Callable[..., Any],
    sliders: Mapping[str, Sequence[Any]],
    *,
    initial: Mapping[str, Any] | None = None,
    figsize: tuple[float, float] = (7.0, 3.6),
    dpi: int = 80,
    caption: str = "",
    formats: Mapping[str, str] | None = None,
) -> InteractiveFigure:
    """A figure with sliders that works in a live kernel and in the static book.

    Args:
        draw: ``draw(fig, **values)`` draws on an empty ``matplotlib.figure.Figure``.
        sliders: slider name -> the values it steps through (names are ``draw``'s keyword
            arguments). Every combination is precomputed for the static book, so keep the
            product of the lengths at most 150.
        initial: starting value per slider (default: the middle value).
        figsize, dpi: size of each frame.
        caption: one line under the figure; also the image's alt text.
        formats: format spec per slider for its value label, e.g. ``{"rho": ".2f"}``.

    Returns:
        an :class:`InteractiveFigure`; make it the last expression of a cell to display it.
    """
    return InteractiveFigure(
        draw, sliders, initial=initial, figsize=figsize, dpi=dpi, caption=caption, formats=formats
    )


def _flat_index(indices: Sequence[int], sizes: Sequence[int]) -> int:
    flat = 0
    for index, size in zip(indices, sizes, strict=True):
        flat = flat * size + index
    return flat
