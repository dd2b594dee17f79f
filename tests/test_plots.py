"""The interactive-figure helper: static frames match live draws, and the HTML is self-contained."""

from __future__ import annotations

import base64
import math
import re

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from jessl_lite.plots import MAX_FRAMES, glue, interactive_figure  # noqa: E402


def draw_line(fig, slope, offset):
    ax = fig.subplots()
    ax.plot([0, 1], [offset, offset + slope])
    ax.set(ylim=(-3, 3), title=f"{slope} {offset}")


def render_alone(slope, offset, figsize=(4, 3), dpi=50):
    import io

    fig = plt.figure(figsize=figsize, dpi=dpi)
    draw_line(fig, slope=slope, offset=offset)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def test_one_frame_per_combination_in_row_major_order():
    slopes, offsets = [-1.0, 0.0, 1.0], [0.0, 1.0]
    open_before = set(plt.get_fignums())
    fig = interactive_figure(draw_line, {"slope": slopes, "offset": offsets}, figsize=(4, 3), dpi=50)
    frames = fig.frames()
    assert len(frames) == 6
    assert len(set(frames)) == 6  # every combination draws something different
    # The last slider varies fastest: frame index = i_slope * len(offsets) + i_offset.
    assert frames[1 * 2 + 1] == render_alone(0.0, 1.0)
    assert frames[2 * 2 + 0] == render_alone(1.0, 0.0)
    # No figure left open to be shown twice by the inline backend.
    assert set(plt.get_fignums()) == open_before


def test_html_is_self_contained_and_starts_at_initial_values():
    fig = interactive_figure(
        draw_line, {"slope": [-1.0, 0.0, 1.0], "offset": [0.0, 1.0]}, initial={"slope": 1.0, "offset": 0.0},
        figsize=(4, 3), dpi=50, caption="a line",
    )
    html = fig.to_html()
    assert "<script" in html and "src=\"http" not in html and "href=" not in html
    assert len(re.findall(r'type="range"', html)) == 2
    first_img = re.search(r'<img src="data:image/png;base64,([^"]+)"', html).group(1)
    assert first_img == render_alone(1.0, 0.0)
    assert 'alt="a line"' in html


def test_mimebundle_offers_widget_and_static_html():
    open_before = set(plt.get_fignums())
    bundle = interactive_figure(draw_line, {"slope": [0.0, 1.0], "offset": [0.0]})._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert bundle["text/html"].startswith("<div")
    # The live widget draws its first frame at once; that figure is closed, not left to pile up.
    assert set(plt.get_fignums()) == open_before


def test_bad_arguments():
    with pytest.raises(TypeError, match="draw"):
        interactive_figure("not callable", {"a": [1]})
    with pytest.raises(ValueError, match="sliders"):
        interactive_figure(draw_line, {})
    with pytest.raises(ValueError, match="at least one value"):
        interactive_figure(draw_line, {"slope": [], "offset": [0]})
    with pytest.raises(ValueError, match="combinations"):
        interactive_figure(draw_line, {"slope": list(range(MAX_FRAMES)), "offset": [0, 1]})
    with pytest.raises(ValueError, match="initial"):
        interactive_figure(draw_line, {"slope": [0.0], "offset": [0.0]}, initial={"slope": 5.0})
    with pytest.raises(ValueError, match="unknown"):
        interactive_figure(draw_line, {"slope": [0.0], "offset": [0.0]}, initial={"angle": 0.0})


def test_sizes_captions_and_formats_are_checked():
    sliders = {"slope": [0.0, 1.0], "offset": [0.0]}
    for bad in ((7.0,), (7.0, math.nan), (7.0, -1.0), "wide"):
        with pytest.raises((TypeError, ValueError), match="^figsize"):
            interactive_figure(draw_line, sliders, figsize=bad)
    with pytest.raises(TypeError, match="^dpi must be an int"):
        interactive_figure(draw_line, sliders, dpi=80.0)
    with pytest.raises(TypeError, match="^caption must be a str"):
        interactive_figure(draw_line, sliders, caption=None)
    with pytest.raises(TypeError, match="^formats must map slider names"):
        interactive_figure(draw_line, sliders, formats={"slope": 2})
    with pytest.raises(TypeError, match="^initial must be a mapping"):
        interactive_figure(draw_line, sliders, initial=[0.0])
    with pytest.raises(TypeError, match=r"^sliders\['slope'\] must be a sequence"):
        interactive_figure(draw_line, {"slope": 1.0})
    with pytest.raises(TypeError, match="^name must be a non-empty str"):
        glue(3, 1.5)


def test_glue_displays_nothing(capsys):
    assert glue("x", 1.5) is None
    assert capsys.readouterr().out == ""


def test_no_two_methods_or_estimators_share_a_color():
    from jessl_lite.plots import METHOD_COLORS

    colors = [tuple(matplotlib.colors.to_rgb(c)) for c in METHOD_COLORS.values()]
    assert len(set(colors)) == len(colors), "two entries of METHOD_COLORS share a color"
    for name in ("SimCLR", "SwAV", "BYOL", "SimSiam", "Barlow Twins", "VICReg", "InfoNCE", "NWJ", "DV"):
        assert name in METHOD_COLORS
