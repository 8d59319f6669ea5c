"""The benchmark's plot and Markdown report, as a reader sees them: every bar labelled with its
value, "n/a" where a contender has no figure, each workload defined, tick labels that do not
run into each other, and no bar that starts at the axis floor looking like zero."""

from __future__ import annotations

import itertools
import math
from pathlib import Path
from typing import Any

import pytest

from aioh5saver.tools.bench.report import Summary, markdown

matplotlib = pytest.importorskip("matplotlib")

from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.text import Text  # noqa: E402

from aioh5saver.tools.bench.plot import NOT_AVAILABLE, WORKLOAD_TITLES, build_figure  # noqa: E402

# (contender, swmr, MB/s, lag p99 ms): figures spanning six decades, as a real run's do; the
# idle loop writes nothing (0 MB/s) and raw os.write has no event loop (no lag).
FIGURES = (
    ("aioh5saver", False, 1.55, 1.97),
    ("aioh5saver", True, 1.96, 2.35),
    ("raw os.write", False, 9.18, math.nan),
    ("lock+to_thread", False, 0.0139, 0.987),
    ("pymodaq_data", False, 0.00765, 34.7),
    ("idle loop", False, 0.0, 0.854),
)


def _summaries(workloads: tuple[str, ...] = ("W1", "W2", "W3")) -> list[Summary]:
    return [
        Summary(
            workload=workload,
            contender=contender,
            swmr=swmr,
            rounds=3,
            rows_per_s=mb_per_s * 1e6 / 8,
            mb_per_s=mb_per_s * scale,
            lag_p50_ms=lag / 2,
            lag_p99_ms=lag,
            lag_max_ms=lag * 2,
            append_p50_ms=0.01,
            append_p99_ms=0.1,
            rss_growth_mib=1.0,
            visible_p50_ms=math.nan,
            visible_p99_ms=math.nan,
        )
        for workload, scale in zip(workloads, (1, 100, 1000), strict=False)
        for contender, swmr, mb_per_s, lag in FIGURES
    ]


CONTEXT = {
    "when": "now",
    "machine": "x86_64, 2 cores, Linux",
    "mode": "quick",
    "rounds": 3,
    "backend": "asyncio",
    "versions": "python",
}


def _texts(figure: Any) -> list[str]:
    return [text.get_text() for text in figure.findobj(Text)]


def test_every_bar_is_labelled_with_its_value_and_missing_ones_say_n_a() -> None:
    """Each present figure is written next to its bar (e.g. "1.55 MB/s", "34.70 ms"); the
    idle loop's throughput and raw os.write's lag, which do not exist, say "n/a" (one of each
    per workload), instead of an empty row."""
    figure = build_figure(_summaries(), CONTEXT)
    texts = _texts(figure)
    for label in ("1.55 MB/s", "0.00765 MB/s", "9.18 MB/s", "34.70 ms", "0.854 ms", "1.97 ms"):
        assert label in texts, label
    assert texts.count(NOT_AVAILABLE) == 2 * 3


def test_each_workload_is_defined_in_its_panel_titles() -> None:
    """W1, W2 and W3 are defined where the plot names them: "W1: 8 producers x scalar float64
    rows" in the panel title, and the figure says what n/a means and that the mode is quick."""
    figure = build_figure(_summaries(), CONTEXT)
    joined = "\n".join(_texts(figure))
    for name, title in WORKLOAD_TITLES.items():
        assert f"{name}: {title}" in joined, name
    assert "n/a: not measured" in joined
    assert "quick mode, median of 3 rounds" in joined


def test_tick_labels_never_overlap_and_the_smallest_bar_is_a_decade_long() -> None:
    """On each log axis, the visible tick labels' boxes, as drawn, do not intersect, and the
    axis floor is at least ten times below the smallest value, so that no bar looks like
    zero."""
    figure = build_figure(_summaries(), CONTEXT)
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    renderer = canvas.get_renderer()
    smallest = {"throughput": 0.00765, "lag": 0.854}
    for axes in figure.axes:
        boxes = [
            label.get_window_extent(renderer)
            for label in axes.get_xticklabels()
            if label.get_visible() and label.get_text()
        ]
        assert len(boxes) >= 3
        boxes.sort(key=lambda box: box.x0)
        for left, right in itertools.pairwise(boxes):
            assert left.x1 < right.x0, (axes.get_title(), left, right)
        low, _ = axes.get_xlim()
        kind = "throughput" if "throughput" in axes.get_title() else "lag"
        if axes.get_title().startswith("W1"):
            assert low <= smallest[kind] / 10 * (1 + 1e-9), axes.get_title()


def test_markdown_report_defines_the_workloads_and_the_dash() -> None:
    """report.md lists each workload with its definition and says what "-" means."""
    text = markdown(_summaries(), [], CONTEXT)
    for name, title in WORKLOAD_TITLES.items():
        assert f"  - {name}: {title}" in text, name
    assert "`-` in a cell: not measured" in text


def test_plot_writes_a_png(tmp_path: Path) -> None:
    """plot() writes a PNG file (its signature) and says so."""
    from aioh5saver.tools.bench.plot import plot

    path = tmp_path / "report.png"
    assert plot(_summaries(("W1",)), path, CONTEXT)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
