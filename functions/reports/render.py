"""The report as people read it: an HTML page (the email's body, or a file from ``complaints report``)
with charts, and its plain-text alternative.

* :func:`charts` draws the figures as PNG in pure Python (:mod:`functions.reports.charts`, no
  matplotlib): daily received/resolved/closed, complaints by category (company scope; a department's
  report has no category split), SLA compliance per clock, and satisfaction per department. The images
  hold shapes only; every title, scale value, label, legend entry and figure is HTML next to the image,
  aligned with it, so Chinese and English render with the reader's fonts (no font is needed here). Each
  image's ``alt`` says its figures in words, in the report's language.
* :func:`html` renders ``templates/report.html.j2`` (autoescaped: a product or batch name is shown,
  never interpreted); images are referenced by the ``src`` the caller chooses - ``cid:<id>`` for the
  email (multipart/related), a ``data:`` URI for a stand-alone file.
"""
from __future__ import annotations

from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any, Mapping

from functions.reports.charts import (LABEL_WIDTH, ROW_HEIGHT, VALUE_WIDTH, Y_LABEL_WIDTH, Bar, Chart, Series,
                                      bar_chart, line_chart)
from shared.report_model import MEASURE_LABELS, MEASURES, SHARES, Report

TEMPLATES = Path(__file__).with_name("templates")
LANGUAGES = ("zh", "en")
HEADLINE = ("received", "resolved", "closed", "open_backlog", "first_response_median_h", "resolution_median_h",
            "sla_compliance", "satisfaction_avg")
# which way is better: +1 up, -1 down, 0 neither (the arrow's colour)
BETTER = {"resolved": 1, "closed": 1, "sla_compliance": 1, "satisfaction_avg": 1, "satisfaction_4_5_share": 1,
          "survey_response_rate": 1, "received": 0, "reopened": -1, "escalations": -1, "repeats": -1,
          "open_backlog": -1, "closed_unconfirmed": -1}
CATEGORY_LABELS = {
    "en": {"product_quality": "Product quality", "food_safety": "Food safety", "delivery_logistics": "Delivery",
           "service_attitude": "Customer service", "billing_price": "Billing and prices",
           "refund_after_sales": "Refunds and after-sales", "privacy_security": "Privacy and security",
           "other": "Other"},
    "zh": {"product_quality": "产品质量", "food_safety": "食品安全", "delivery_logistics": "物流配送",
           "service_attitude": "服务态度", "billing_price": "价格与扣费", "refund_after_sales": "退款与售后",
           "privacy_security": "隐私与安全", "other": "其他"},
}
CHANNEL_LABELS = {"en": {"web": "Web form", "app": "App", "hotline": "Hotline", "social": "Social media",
                         "email": "Email"},
                  "zh": {"web": "网页表单", "app": "应用", "hotline": "热线", "social": "社交媒体", "email": "邮件"}}
DIMENSION_LABELS = {
    "en": {"category": "Category", "department": "Department", "handler": "Handler", "channel": "Channel",
           "priority": "Priority", "product": "Product", "batch": "Batch"},
    "zh": {"category": "类别", "department": "部门", "handler": "处理人", "channel": "渠道", "priority": "优先级",
           "product": "产品", "batch": "批次"},
}
STRINGS = {
    "en": {"title": "Complaints report", "company": "All departments", "period": "Period", "previous": "compared with",
           "scope": "Scope", "headline": "Headline figures", "all_measures": "All measures", "measure": "Measure",
           "value": "Value", "previous_value": "Previous", "change": "Change", "charts": "Charts",
           "daily": "Received, resolved and closed per day", "by_category": "Complaints by category",
           "sla": "SLA compliance per clock", "satisfaction": "Satisfaction per department (1-5)",
           "sla_table": "SLA clocks", "clock": "Clock", "kind": "Kind", "met": "Met", "missed": "Missed",
           "compliance": "Compliance", "internal": "internal", "regulatory": "regulatory",
           "compensation": "Refunds and compensation offered", "currency": "Currency", "amount": "Amount",
           "none": "none", "breakdown": "Breakdown by", "top": "top {n} by complaints received",
           "unavailable": "Not counted per department: {dims} (the counters are kept per single dimension).",
           "attachments": "Attachments", "links": "The files are too large for an email; download them "
           "(links valid until {until}):", "generated": "Generated {at} UTC from the daily counters.",
           "method": "Medians and p90 are interpolated on a log scale within duration buckets (the true value "
                     "lies in the same bucket: at most {error:.0%} off); business averages count the departments' "
                     "working time.",
           "received_axis": "complaints", "day": "Day", "no_data": "No complaints counted in this period."},
    "zh": {"title": "投诉报告", "company": "全部门", "period": "统计期间", "previous": "对比期间", "scope": "范围",
           "headline": "核心指标", "all_measures": "全部指标", "measure": "指标", "value": "本期",
           "previous_value": "上期", "change": "变化", "charts": "图表", "daily": "每日新收、解决与结案",
           "by_category": "按类别的投诉量", "sla": "各时限的 SLA 达标率", "satisfaction": "各部门满意度（1-5）",
           "sla_table": "SLA 时限", "clock": "时限", "kind": "类型", "met": "达标", "missed": "超时",
           "compliance": "达标率", "internal": "内部", "regulatory": "监管", "compensation": "退款与补偿（已向客户提出）",
           "currency": "币种", "amount": "金额", "none": "无", "breakdown": "分项：", "top": "按新收投诉量前 {n} 项",
           "unavailable": "以下维度未按部门计数：{dims}（计数器按单一维度保存）。", "attachments": "附件",
           "links": "文件较大，未随邮件发送，请下载（链接有效期至 {until}）：",
           "generated": "生成于 {at} UTC，数据来自每日计数器。",
           "method": "中位数与 P90 在时长分段内按对数尺度插值（真实值位于同一分段，误差不超过 {error:.0%}）；"
                     "工作时间均值按部门工作日历计算。",
           "received_axis": "投诉数", "day": "日期", "no_data": "本期没有统计到投诉。"},
}
TOP_ROWS = 10


# -- formatting --------------------------------------------------------------------------------------
def format_value(measure: str, value: Any, language: str = "en") -> str:
    if value is None:
        return "–"
    if measure in SHARES:
        return f"{value * 100:.1f}%"
    if measure.endswith("_h"):
        return f"{value:,.1f} h" if language == "en" else f"{value:,.1f} 小时"
    if measure == "satisfaction_avg":
        return f"{value:.2f}"
    return f"{value:,}"


def format_change(measure: str, change: Any) -> str:
    if change is None:
        return ""
    if change == 0:
        return "±0"
    if measure in SHARES:
        return f"{change * 100:+.1f} pp"
    if isinstance(change, float):
        return f"{change:+,.2f}"
    return f"{change:+,}"


def arrow(measure: str, change: Any) -> tuple[str, str]:
    """The arrow for a change and its colour: green when better, red when worse, grey otherwise."""
    if not change:
        return ("–", "#6b7785")
    up = change > 0
    better = BETTER.get(measure, -1 if measure.endswith("_h") else 0)
    colour = "#6b7785" if better == 0 else ("#1a7f37" if (up == (better > 0)) else "#c62828")
    return ("▲" if up else "▼", colour)


def value_label(dimension: str, value: str, language: str, names: Mapping[str, str] | None = None) -> str:
    """A dimension value as people read it: a category's or channel's name, a department's name."""
    if dimension == "category":
        return CATEGORY_LABELS[language].get(value, value)
    if dimension == "channel":
        return CHANNEL_LABELS[language].get(value, value)
    if dimension == "department" and names:
        return names.get(value, value)
    return value


def scope_label(report: Report, language: str, names: Mapping[str, str] | None = None) -> str:
    if report.scope.departments is None:
        return STRINGS[language]["company"]
    sep = "、" if language == "zh" else ", "
    return sep.join(value_label("department", d, language, names) for d in report.scope.departments)


def subject(report: Report, language: str, names: Mapping[str, str] | None = None) -> str:
    s = STRINGS[language]
    received = report.totals["received"].value or 0
    if language == "zh":
        return f"{s['title']} {report.period.label}（{scope_label(report, language, names)}）：新收 {received:,} 件"
    return f"{s['title']} {report.period.label} ({scope_label(report, language, names)}): {received:,} received"


# -- charts ----------------------------------------------------------------------------------------------
def charts(report: Report, language: str, names: Mapping[str, str] | None = None) -> list[Chart]:
    """The report's charts (none for a period with nothing counted): PNG shapes, labels for the HTML."""
    if not any(d.received or d.resolved or d.closed for d in report.daily) and not report.sla:
        return []
    s = STRINGS[language]
    out = [_daily_chart(report, language)]
    categories = report.by.get("category") or []
    if categories:
        bars = [Bar(value_label("category", r["value"], language), r["received"] or 0,
                    format_value("received", r["received"] or 0), "#3b6fb6") for r in categories[:TOP_ROWS]]
        out.append(bar_chart("by_category", s["by_category"], _alt(s["by_category"], bars, language), bars,
                             axis=s["received_axis"]))
    sla = [r for r in report.sla if r.compliance is not None]
    if sla:
        bars = [Bar(f"{r.clock} ({s[r.kind]})", r.compliance * 100, format_value("sla_compliance", r.compliance),
                    "#2e8b57" if r.compliance >= 0.9 else "#d98c1f" if r.compliance >= 0.75 else "#c62828")
                for r in sla]
        out.append(bar_chart("sla", s["sla"], _alt(s["sla"], bars, language), bars, axis="%", limit=100,
                             tick_label=lambda v: f"{v:g}%"))
    departments = [r for r in report.by.get("department") or [] if r.get("satisfaction_avg") is not None]
    if departments:
        bars = [Bar(value_label("department", r["value"], language, names), r["satisfaction_avg"],
                    format_value("satisfaction_avg", r["satisfaction_avg"]), "#2e8b57")
                for r in departments[:TOP_ROWS]]
        out.append(bar_chart("satisfaction", s["satisfaction"], _alt(s["satisfaction"], bars, language), bars,
                             axis="1-5", limit=5))
    return out


SERIES_COLOURS = (("received", "#3b6fb6"), ("resolved", "#2e8b57"), ("closed", "#9aa5b1"))


def _daily_chart(report: Report, language: str) -> Chart:
    s = STRINGS[language]
    series = [Series(MEASURE_LABELS[m][language], [getattr(d, m) for d in report.daily], colour)
              for m, colour in SERIES_COLOURS]
    days = [d.day for d in report.daily]
    parts = []
    for m, one in zip((m for m, _ in SERIES_COLOURS), series):
        total = f"{sum(one.values):,}"
        part = f"{one.label} {total}" + (" 件" if language == "zh" else "")
        if m == "received" and any(one.values):
            peak = max(one.values)
            day = days[one.values.index(peak)].isoformat()
            part += f"（最多 {peak:,} 件，{day}）" if language == "zh" else f" (most {peak:,} on {day})"
        parts.append(part)
    span = (" 至 " if language == "zh" else " – ").join(d.isoformat() for d in (report.period.first, report.period.last))
    alt = (f"{s['daily']}，{span}：{'，'.join(parts)}。" if language == "zh"
           else f"{s['daily']}, {span}: {', '.join(parts)}.")
    return line_chart("daily", s["daily"], alt, days, series, axis=s["received_axis"])


def _alt(title: str, bars: list[Bar], language: str) -> str:
    """A bar chart in words: its title and every bar's label and value, in the report's language."""
    if language == "zh":
        return f"{title}：" + "；".join(f"{b.label} {b.text}" for b in bars) + "。"
    return f"{title}: " + "; ".join(f"{b.label} {b.text}" for b in bars) + "."


# -- HTML and text ----------------------------------------------------------------------------------
@lru_cache(maxsize=1)
def _environment() -> Any:
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

    return Environment(loader=FileSystemLoader(str(TEMPLATES)), undefined=StrictUndefined, trim_blocks=True,
                       lstrip_blocks=True, keep_trailing_newline=True,
                       autoescape=select_autoescape(enabled_extensions=("html.j2",), default=False))


def context(report: Report, language: str, *, images: Mapping[str, str] | None = None,
            chart_list: list[Chart] | None = None, links: list[dict[str, str]] | None = None,
            links_until: str | None = None, attachments: list[str] | None = None,
            names: Mapping[str, str] | None = None, generated_at: datetime | None = None) -> dict[str, Any]:
    """What the templates show (also what the text part shows)."""
    if language not in LANGUAGES:
        raise ValueError(f"no report templates for language {language!r}")
    s = STRINGS[language]
    at = (generated_at or datetime.now(timezone.utc)).astimezone(timezone.utc)
    error = float(report.histogram_error.get("max_relative_error") or 0)

    def row(measure: str) -> dict[str, Any]:
        m = report.totals[measure]
        symbol, colour = arrow(measure, m.change)
        return {"measure": measure, "label": MEASURE_LABELS[measure][language],
                "value": format_value(measure, m.value, language),
                "previous": format_value(measure, m.previous, language),
                "change": format_change(measure, m.change), "arrow": symbol, "colour": colour}

    breakdowns = []
    for dimension, rows in report.by.items():
        if not rows:
            continue
        breakdowns.append({
            "dimension": dimension, "label": DIMENSION_LABELS[language][dimension],
            "note": s["top"].format(n=TOP_ROWS) if len(rows) > TOP_ROWS else "",
            "rows": [{"value": value_label(dimension, r["value"], language, names),
                      "received": format_value("received", r["received"]),
                      "resolved": format_value("resolved", r["resolved"]),
                      "open_backlog": format_value("open_backlog", r["open_backlog"]),
                      "resolution_median_h": format_value("resolution_median_h", r["resolution_median_h"], language),
                      "sla_compliance": format_value("sla_compliance", r["sla_compliance"]),
                      "satisfaction_avg": format_value("satisfaction_avg", r["satisfaction_avg"])}
                     for r in rows[:TOP_ROWS]]})
    return {
        "lang": language, "html_lang": "zh-CN" if language == "zh" else "en", "s": s,
        "title": f"{s['title']} {report.period.label}",
        "period": f"{report.period.first.isoformat()} – {report.period.last.isoformat()}",
        "previous": f"{report.previous.first.isoformat()} – {report.previous.last.isoformat()}",
        "scope": scope_label(report, language, names),
        "headline": [row(m) for m in HEADLINE], "measures": [row(m) for m in MEASURES],
        "charts": [{"title": c.title, "src": (images or {}).get(c.name, ""), "name": c.name, "alt": c.alt,
                    "chart": c} for c in chart_list or [] if (images or {}).get(c.name)],
        "chart_layout": {"label_width": LABEL_WIDTH, "value_width": VALUE_WIDTH, "row_height": ROW_HEIGHT,
                         "y_label_width": Y_LABEL_WIDTH},
        "breakdowns": breakdowns,
        "breakdown_columns": [MEASURE_LABELS[m][language] for m in
                              ("received", "resolved", "open_backlog", "resolution_median_h", "sla_compliance",
                               "satisfaction_avg")],
        "unavailable": (s["unavailable"].format(dims=", ".join(DIMENSION_LABELS[language][d]
                                                               for d in report.unavailable_dimensions))
                        if report.unavailable_dimensions else ""),
        "sla": [{"clock": r.clock, "kind": s[r.kind], "met": f"{r.met:,}", "missed": f"{r.missed:,}",
                 "compliance": format_value("sla_compliance", r.compliance)} for r in report.sla],
        "compensation": [{"currency": c, "amount": f"{float(a):,.2f}"} for c, a in report.compensation.items()],
        "empty": not any(d.received or d.resolved or d.closed for d in report.daily),
        "links": links or [], "links_note": s["links"].format(until=links_until or ""),
        "attachments": attachments or [],
        "generated": s["generated"].format(at=at.strftime("%Y-%m-%d %H:%M")),
        "method": s["method"].format(error=error),
    }


def html(report: Report, language: str, **kwargs: Any) -> str:
    """The report page (see :func:`context` for the arguments)."""
    return _environment().get_template("report.html.j2").render(**context(report, language, **kwargs))


def text(report: Report, language: str, **kwargs: Any) -> str:
    """The plain-text alternative of the email."""
    return _environment().get_template("report.txt.j2").render(**context(report, language, **kwargs))


def data_uri(png: bytes) -> str:
    import base64

    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def standalone_html(report: Report, language: str, names: Mapping[str, str] | None = None) -> str:
    """One self-contained HTML file: the charts embedded as ``data:`` URIs (``complaints report``)."""
    drawn = charts(report, language, names)
    return html(report, language, images={c.name: data_uri(c.png) for c in drawn}, chart_list=drawn, names=names)
