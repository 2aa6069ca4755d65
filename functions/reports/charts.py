"""The report charts: shapes drawn as PNG (:mod:`functions.reports.canvas`), every word and number as HTML.

A chart is an image without text plus what the HTML template puts around it, aligned with it:

* **bars** (complaints by category, SLA compliance per clock, satisfaction per department): one table row
  per bar, ``ROW_HEIGHT`` CSS pixels high - its label on the left, its value on the right - beside one
  image spanning the rows, in which bar *i* is centred on row *i*; below the image a row of scale labels,
  each centred on its gridline. The scale runs from 0 to ``limit`` (100 %, 5 points) or, for counts, to the
  largest value: that bar fills the plot's width.
* **lines** (received, resolved and closed per day): a legend of colour swatches and names above, the
  scale's labels in a column on the left (each centred on its gridline), the days below (``MM-DD``).

The image is drawn at ``SCALE`` times its CSS size (sharp on high-density screens) and shown with a fixed
CSS height and the width of its column: stretching flat bars and gridlines sideways changes nothing, so
the labels stay aligned in a narrow mail window too. Pure: no AWS, no I/O.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date
from typing import Callable, Sequence

from functions.reports.canvas import Canvas

SCALE = 2  # image pixels per CSS pixel
CONTENT_WIDTH = 616  # the report's column (report.html.j2)
LABEL_WIDTH, VALUE_WIDTH = 170, 80  # bar charts: the label column, the value column
ROW_HEIGHT = 28  # bar charts: CSS pixels per bar
Y_LABEL_WIDTH = 48  # line charts: the scale's column
LINE_HEIGHT = 180  # line charts: the image's CSS height
LINE_PAD = 8  # line charts: CSS pixels above the top gridline and below zero (room for lines and dots)
BAR_FILL = 0.6  # share of a row a bar covers
GRID, AXIS = "#e4e7eb", "#9aa5b1"
MAX_DAY_LABELS = 8
DAY_STEPS = (1, 2, 3, 7, 14, 28, 56, 91)


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    text: str  # the value as shown beside the bar
    colour: str


@dataclass(frozen=True)
class Series:
    label: str
    values: Sequence[float]
    colour: str


@dataclass(frozen=True)
class TickCell:
    """One cell of a row (x) or column (y) of scale labels: ``size`` in % of the width (x) or CSS pixels (y);
    a cell without label fills the gap between two labelled ones."""
    size: float
    label: str
    align: str  # x: left, center, right; y: top, middle, bottom


@dataclass(frozen=True)
class Chart:
    name: str  # file name stem and Content-ID stem: daily, by_category, sla, satisfaction
    title: str
    png: bytes
    alt: str = ""  # the figures in words, in the report's language
    kind: str = "bars"  # bars | lines
    width: int = 0  # CSS pixels the image is drawn for (its pixels: SCALE times as many)
    height: int = 0
    rows: tuple[Bar, ...] = ()
    legend: tuple[Series, ...] = ()
    x_ticks: tuple[TickCell, ...] = ()
    y_ticks: tuple[TickCell, ...] = ()
    axis: str = ""  # the scale's unit
    # the plot area in image pixels: left, top, right, bottom
    plot: tuple[int, int, int, int] = field(default=(0, 0, 0, 0), compare=False)


# -- scales -----------------------------------------------------------------------------------------------
def nice_step(top: float, intervals: int = 4, integer: bool = True) -> float:
    """A step of 1, 2, 2.5 or 5 times a power of ten that cuts 0..``top`` into about ``intervals``
    intervals (at least 2 when it can); whole numbers for counts."""
    if top <= 0:
        return 1
    power = 10 ** math.floor(math.log10(top / intervals))
    candidates = [m * p for p in (power / 10, power, power * 10) for m in (1, 2, 2.5, 5)]
    if integer:
        candidates = [int(c) for c in candidates if c >= 1 and float(c).is_integer()] or [1]
    return min(candidates, key=lambda c: (abs(top / c - intervals) + (10 if top / c < 2 - 1e-9 else 0), c))


def scale_values(top: float, step: float) -> list[float]:
    count = int(math.floor(top / step + 1e-9))
    return [round(i * step, 10) for i in range(count + 1)]


def tick_cells(length: float, ticks: Sequence[tuple[float, str]], axis: str = "x") -> tuple[TickCell, ...]:
    """Cells of labels, each centred on its tick position (0..``length``), filling ``length``: a cell is
    as wide as the closest gap between ticks (narrower near an end); a tick at an end is aligned to it."""
    start, middle, end = ("left", "center", "right") if axis == "x" else ("top", "middle", "bottom")
    ticks = sorted(ticks)
    gaps = [b[0] - a[0] for a, b in zip(ticks, ticks[1:])]
    half = (min(gaps) if gaps else length) / 2
    bounds: list[tuple[float, float, str, str]] = []
    cursor = 0.0
    for position, label in ticks:
        room = min(half, position, length - position)  # near an end: a narrower cell, still centred
        lo, hi, align = position - room, position + room, middle
        if room <= 0:  # at an end: aligned to it
            lo, hi, align = (0, half, start) if position <= 0 else (length - half, length, end)
        lo, hi = max(lo, cursor, 0), min(hi, length)
        if hi <= lo:
            continue
        if lo > cursor:
            bounds.append((cursor, lo, "", middle))
        bounds.append((lo, hi, label, align))
        cursor = hi
    if cursor < length:
        bounds.append((cursor, length, "", middle))
    digits = 2 if axis == "x" else 0
    cells = []
    for lo, hi, label, align in bounds:
        size = round(hi, digits) - round(lo, digits)
        if size > 0:
            cells.append(TickCell(round(size, digits) if digits else int(size), label, align))
    return tuple(cells)


# -- bars -------------------------------------------------------------------------------------------------
def bar_chart(name: str, title: str, alt: str, bars: Sequence[Bar], *, axis: str,
              limit: float | None = None, tick_label: Callable[[float], str] = lambda v: f"{v:,g}") -> Chart:
    """Horizontal bars from 0; the scale ends at ``limit``, else at the largest value."""
    width, height = CONTENT_WIDTH - LABEL_WIDTH - VALUE_WIDTH, ROW_HEIGHT * max(len(bars), 1)
    canvas = Canvas(width * SCALE, height * SCALE)
    right, bottom = canvas.width, canvas.height
    top = limit or max([b.value for b in bars] + [0]) or 1
    step = nice_step(top, 4, integer=limit is None)
    values = scale_values(top, step)

    def x(value: float) -> int:
        return round(min(max(value, 0), top) / top * right)

    for v in values[1:]:
        canvas.vline(min(x(v), right - 1), 0, bottom, GRID, SCALE)
    slot = ROW_HEIGHT * SCALE
    inset = slot * (1 - BAR_FILL) / 2
    for i, bar in enumerate(bars):
        canvas.rect(0, i * slot + inset, x(bar.value), (i + 1) * slot - inset, bar.colour)
    canvas.rect(0, 0, SCALE, bottom, AXIS)  # the value axis' zero line
    for v in values:  # tick marks along the bottom edge
        left = min(max(x(v) - SCALE // 2, 0), right - SCALE)
        canvas.rect(left, bottom - 3 * SCALE, left + SCALE, bottom, AXIS)
    ticks = [(v / top * 100, tick_label(v)) for v in values]
    return Chart(name, title, canvas.png(), alt=alt, kind="bars", width=width, height=height, rows=tuple(bars),
                 x_ticks=tick_cells(100, ticks, "x"), axis=axis, plot=(0, 0, right, bottom))


# -- lines ------------------------------------------------------------------------------------------------
def day_step(days: int) -> int:
    return next((s for s in DAY_STEPS if math.ceil(days / s) <= MAX_DAY_LABELS), DAY_STEPS[-1])


def line_chart(name: str, title: str, alt: str, days: Sequence[date], series: Sequence[Series], *,
               axis: str) -> Chart:
    """One line per series over the days (a dot per day up to a month), from zero to a round top."""
    width, height = CONTENT_WIDTH - Y_LABEL_WIDTH, LINE_HEIGHT
    canvas = Canvas(width * SCALE, height * SCALE)
    n = max(len(days), 1)
    pad = LINE_PAD * SCALE
    plot_top, plot_bottom = pad, canvas.height - pad
    peak = max([v for s in series for v in s.values] + [0])
    step = nice_step(peak, 4)
    top = max(math.ceil(peak / step) * step, step)
    values = scale_values(top, step)

    def x(i: int) -> float:
        return (i + 0.5) * canvas.width / n

    def y(value: float) -> float:
        return plot_bottom - value / top * (plot_bottom - plot_top)

    for v in values:
        canvas.hline(0, canvas.width, y(v), AXIS if v == 0 else GRID, SCALE)
    canvas.rect(0, plot_top, SCALE, plot_bottom, AXIS)
    every = day_step(len(days))
    labelled = list(range(0, len(days), every))
    for i in labelled:
        canvas.vline(x(i), plot_bottom, plot_bottom + 4 * SCALE, AXIS, SCALE)
    thickness, radius = 1.5 * SCALE, 2.2 * SCALE
    for s in reversed(series):  # the first series on top
        points = [(x(i), y(v)) for i, v in enumerate(s.values)]
        canvas.polyline(points, s.colour, thickness)
        if len(points) <= 31:
            for px, py in points:
                canvas.disc(px, py, radius, s.colour)
    x_ticks = tick_cells(100, [((i + 0.5) / n * 100, days[i].strftime("%m-%d")) for i in labelled], "x")
    y_ticks = tick_cells(height, [(y(v) / SCALE, f"{v:,g}") for v in values], "y")
    return Chart(name, title, canvas.png(), alt=alt, kind="lines", width=width, height=height,
                 legend=tuple(series), x_ticks=x_ticks, y_ticks=y_ticks, axis=axis,
                 plot=(0, plot_top, canvas.width, plot_bottom))
