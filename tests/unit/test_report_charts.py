"""The report charts without matplotlib: the PNG decodes (a small decoder below checks the signature, every
chunk's CRC, the header and the inflated scanlines), the shapes stand where the figures say (the largest
bar fills the plot, a zero draws nothing, a day's point sits on its gridline), and every word and number
is HTML around the image - Chinese and English alike - with an ``alt`` text in the report's language."""
from __future__ import annotations

import re
import struct
import zlib
from datetime import date, datetime, timedelta, timezone

import pytest

from functions.reports import render
from functions.reports.canvas import Canvas, encode_png
from functions.reports.charts import (ROW_HEIGHT, SCALE, Bar, Series, bar_chart, line_chart, tick_cells)
from shared.report_model import build_report, parse_period

NOV = parse_period("2026-11", date(2026, 12, 1))
BLUE, GREEN, WHITE = (0x3B, 0x6F, 0xB6), (0x2E, 0x8B, 0x57), (255, 255, 255)


# -- a small PNG decoder ------------------------------------------------------------------------------------
def decode_png(data: bytes) -> tuple[int, int, list[list[tuple[int, int, int]]]]:
    """(width, height, rows of RGB) of an 8-bit indexed or RGB PNG; fails on a bad signature, CRC or size."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, []
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
        assert crc == zlib.crc32(kind + body) & 0xFFFFFFFF, f"bad CRC in {kind!r}"
        chunks.append((kind, body))
        pos += 12 + length
    assert chunks[0][0] == b"IHDR" and chunks[-1] == (b"IEND", b"")
    width, height, depth, colour_type, _, _, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
    assert depth == 8 and colour_type in (2, 3) and interlace == 0
    palette = next((body for kind, body in chunks if kind == b"PLTE"), b"")
    raw = zlib.decompress(b"".join(body for kind, body in chunks if kind == b"IDAT"))
    bpp = 1 if colour_type == 3 else 3
    stride = width * bpp
    assert len(raw) == height * (stride + 1)
    rows, previous = [], bytearray(stride)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = previous[i], previous[i - bpp] if i >= bpp else 0
            predictor = (0, a, b, (a + b) // 2, _paeth(a, b, c))[kind]
            line[i] = (line[i] + predictor) & 0xFF
        previous = line
        if colour_type == 3:
            rows.append([tuple(palette[3 * p:3 * p + 3]) for p in line])
        else:
            rows.append([tuple(line[i:i + 3]) for i in range(0, stride, 3)])
    return width, height, rows


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else b if pb <= pc else c


# -- the canvas ---------------------------------------------------------------------------------------------------
def test_the_encoder_writes_a_png_that_decodes_to_the_pixels_drawn():
    canvas = Canvas(7, 5)
    canvas.rect(1, 1, 4, 3, "#3b6fb6")
    width, height, rows = decode_png(canvas.png())
    assert (width, height) == (7, 5)
    assert [x for x in range(7) if rows[1][x] == BLUE] == [1, 2, 3] and rows[2][3] == BLUE
    assert rows[0] == [WHITE] * 7 and rows[3][1] == WHITE


def test_a_png_with_a_damaged_byte_fails_its_crc():
    png = bytearray(encode_png(2, 2, [(0, 0, 0)], bytes(4)))
    png[-20] ^= 0xFF  # inside the IDAT chunk
    with pytest.raises(AssertionError, match="CRC"):
        decode_png(bytes(png))


def test_a_steep_line_has_no_gaps():
    canvas = Canvas(40, 100)
    canvas.line(5, 2, 30, 97, "#000000", 2)
    _, _, rows = decode_png(canvas.png())
    assert all(any(p == (0, 0, 0) for p in rows[y]) for y in range(2, 98))


# -- bars ---------------------------------------------------------------------------------------------------------
def _bars(values: list[float], limit: float | None = None):
    bars = [Bar(f"row {i}", v, str(v), "#3b6fb6") for i, v in enumerate(values)]
    chart = bar_chart("by_category", "t", "alt", bars, axis="n", limit=limit)
    width, height, rows = decode_png(chart.png)
    return chart, width, height, rows


def _bar_length(rows, i: int) -> int:
    """The bar colour's run from the left edge, along the middle of row ``i``."""
    line = rows[int((i + 0.5) * ROW_HEIGHT * SCALE)]
    return max((x + 1 for x, p in enumerate(line) if p == BLUE), default=0)


def test_the_largest_bar_fills_the_plot_and_a_zero_draws_nothing():
    chart, width, height, rows = _bars([40, 0, 20, 10])
    assert (width, height) == (chart.width * SCALE, chart.height * SCALE) and height == 4 * ROW_HEIGHT * SCALE
    assert _bar_length(rows, 0) == width  # the maximum reaches the end of the plot area
    band = rows[ROW_HEIGHT * SCALE:2 * ROW_HEIGHT * SCALE]
    assert not any(p == BLUE for line in band for p in line)  # the zero row: no bar at all
    assert _bar_length(rows, 2) == width // 2 and _bar_length(rows, 3) == width // 4


def test_a_fixed_scale_keeps_its_limit():
    _, width, _, rows = _bars([50, 100], limit=100)  # SLA compliance in %
    assert _bar_length(rows, 0) == width // 2 and _bar_length(rows, 1) == width


def test_bars_stay_inside_their_rows():
    _, width, _, rows = _bars([5, 5])
    boundary = ROW_HEIGHT * SCALE  # the line between the two rows is background, not bar
    assert BLUE not in rows[boundary] and BLUE not in rows[boundary - 1]


# -- lines --------------------------------------------------------------------------------------------------------
def test_a_days_point_sits_on_its_value():
    days = [date(2026, 11, 1) + timedelta(days=i) for i in range(4)]
    chart = line_chart("daily", "t", "alt", days, [Series("Received", [0, 10, 20, 5], "#3b6fb6")], axis="n")
    _, _, rows = decode_png(chart.png)
    left, top, right, bottom = chart.plot
    assert [t.label for t in chart.y_ticks if t.label][0] == "20"  # the scale's top is the peak here
    for i, value in enumerate([0, 10, 20, 5]):
        x = int((i + 0.5) * right / 4)
        y = round(bottom - value / 20 * (bottom - top))
        assert rows[y][x] == BLUE, (i, value)
    assert rows[top - 6][int(2.5 * right / 4)] == WHITE  # nothing above the peak's dot


def test_each_series_has_its_colour_and_a_month_has_a_dot_per_day():
    days = [NOV.first + timedelta(days=i) for i in range(30)]
    series = [Series("A", [3] * 30, "#3b6fb6"), Series("B", [1] * 30, "#2e8b57")]
    chart = line_chart("daily", "t", "alt", days, series, axis="n")
    _, _, rows = decode_png(chart.png)
    colours = {p for line in rows for p in line}
    assert {BLUE, GREEN} <= colours
    assert [t.label for t in chart.x_ticks if t.label] == ["11-01", "11-08", "11-15", "11-22", "11-29"]


def test_scale_labels_are_centred_on_their_ticks():
    cells = tick_cells(100, [(0, "0"), (25, "25"), (50, "50"), (75, "75"), (100, "100")])
    assert sum(c.size for c in cells) == pytest.approx(100)
    assert [(c.size, c.label, c.align) for c in cells] == [(12.5, "0", "left"), (25, "25", "center"),
                                                           (25, "50", "center"), (25, "75", "center"),
                                                           (12.5, "100", "right")]
    cursor = 0.0
    for c in tick_cells(100, [(10, "a"), (40, "b"), (95, "c")]):
        if c.label:
            assert c.align == "center" and cursor + c.size / 2 == pytest.approx({"a": 10, "b": 40, "c": 95}[c.label])
        cursor += c.size
    assert cursor == pytest.approx(100)


# -- the report's charts and their HTML -----------------------------------------------------------------------
def _report():
    counters = {}
    for i, n in enumerate([4, 9, 0, 6]):
        day = (NOV.first + timedelta(days=i)).isoformat()
        counters[day] = {("all", "-"): {"received": n, "resolved": n // 2, "closed": n // 3,
                                        "sla_first_response_met": 9, "sla_first_response_missed": 1},
                         ("category", "food_safety"): {"received": n},
                         ("category", "delivery_logistics"): {"received": 1},
                         ("department", "quality"): {"received": n, "feedback_count": 2, "feedback_sum": 9}}
    return build_report(counters, NOV, {})


def test_the_report_has_its_four_charts_with_the_same_images_in_both_languages():
    report = _report()
    zh, en = render.charts(report, "zh"), render.charts(report, "en")
    assert [c.name for c in zh] == ["daily", "by_category", "sla", "satisfaction"]
    assert [c.png for c in zh] == [c.png for c in en]  # no text inside: nothing depends on fonts
    for chart in zh:
        width, height, _ = decode_png(chart.png)
        assert (width, height) == (chart.width * SCALE, chart.height * SCALE)
    by = {c.name: c for c in zh}
    assert [(b.label, b.text) for b in by["by_category"].rows] == [("食品安全", "19"), ("物流配送", "4")]
    assert [(b.label, b.text) for b in by["sla"].rows] == [("first_response (内部)", "90.0%")]
    assert [b.text for b in by["satisfaction"].rows] == ["4.50"]


def test_alt_texts_say_the_figures_in_the_reports_language():
    report = _report()
    zh = {c.name: c.alt for c in render.charts(report, "zh")}
    en = {c.name: c.alt for c in render.charts(report, "en")}
    assert zh["daily"] == ("每日新收、解决与结案，2026-11-01 至 2026-11-30：新收投诉 19 件（最多 9 件，2026-11-02），"
                           "已解决 9 件，已结案 6 件。")
    assert en["daily"] == ("Received, resolved and closed per day, 2026-11-01 – 2026-11-30: "
                           "Received 19 (most 9 on 2026-11-02), Resolved 9, Closed 6.")
    assert zh["by_category"] == "按类别的投诉量：食品安全 19；物流配送 4。"
    assert en["by_category"] == "Complaints by category: Food safety 19; Delivery 4."
    assert en["sla"] == "SLA compliance per clock: first_response (internal) 90.0%."


def test_every_label_is_html_beside_the_image():
    report = _report()
    drawn = render.charts(report, "zh", {"quality": "质量部"})
    images = {c.name: f"cid:{c.name}@x" for c in drawn}
    page = render.html(report, "zh", images=images, chart_list=drawn, names={"quality": "质量部"})
    for chart in drawn:
        assert f'<img src="cid:{chart.name}@x" alt="{chart.alt}"' in page
    for text in ("食品安全", "物流配送", "质量部", "4.50", "90.0%", "新收投诉", "已解决", "已结案", "投诉数",
                 "11-01", "100%"):
        assert f">{text}<" in page or f"> {text}<" in page, text
    # the bars' rows: one table row per bar, the image spanning them at the rows' height
    assert 'rowspan="2"' in page and f"height:{2 * ROW_HEIGHT}px" in page


def test_the_plain_text_part_is_the_same_with_or_without_charts():
    report = _report()
    at = datetime(2026, 12, 1, tzinfo=timezone.utc)
    drawn = render.charts(report, "en")
    with_charts = render.text(report, "en", images={c.name: "cid:x" for c in drawn}, chart_list=drawn,
                              generated_at=at)
    assert with_charts == render.text(report, "en", generated_at=at)
    assert "PNG" not in with_charts and not re.search(r"cid:", with_charts)


def test_a_period_with_nothing_counted_has_no_charts():
    assert render.charts(build_report({}, NOV, {}), "en") == []


def test_a_single_day_and_a_whole_year_draw():
    today = date(2026, 12, 1)
    for period in (parse_period("2026-11-22", today), parse_period("2025-12-01..2026-11-30", today)):
        counters = {(period.first + timedelta(days=i)).isoformat(): {("all", "-"): {"received": i % 7}}
                    for i in range((period.last - period.first).days + 1)}
        counters[period.last.isoformat()] = {("all", "-"): {"received": 3}}
        daily = render.charts(build_report(counters, period, {}), "en")[0]
        decode_png(daily.png)
        labels = [t.label for t in daily.x_ticks if t.label]
        assert 1 <= len(labels) <= 8 and labels[0] == period.first.strftime("%m-%d")


def test_drawing_a_report_loads_no_plotting_library():
    import subprocess
    import sys

    code = ("import sys; from datetime import date; from functions.reports import render; "
            "from shared.report_model import build_report, parse_period; "
            "p = parse_period('2026-11', date(2026, 12, 1)); "
            "r = build_report({'2026-11-02': {('all', '-'): {'received': 3}}}, p, {}); "
            "assert render.charts(r, 'zh'); print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('matplotlib', 'PIL', 'numpy')))")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "[]"
