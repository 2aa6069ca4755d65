"""Notification templates: every kind has its parts in both languages, renders with realistic data,
shows what people wrote without ever interpreting it as HTML, and can be previewed from the command
line (``complaints notifier preview``). Also the small pure parts the notifier leans on: links with
query parameters, quiet hours across midnight and daylight saving, urgency, the visibility wait."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest

from functions.notifier.messages import LANGUAGES, template_names
from shared.events import CUSTOMER_KINDS, STAFF_KINDS

CJK = re.compile(r"[\u4e00-\u9fff]")
HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)> & "quotes"'


# -- the files --------------------------------------------------------------------------------------------
def test_every_kind_has_every_part_in_both_languages():
    from functions.notifier.messages import TEMPLATES

    names = template_names()
    for kind in [*CUSTOMER_KINDS, *(f"staff_{k}" for k in STAFF_KINDS), "ack", "reply_ack"]:
        assert names.get(kind) == ["html", "sms", "subject", "txt"], kind
        for language in LANGUAGES:
            for part in names[kind]:
                assert (TEMPLATES / f"{kind}.{language}.{part}.j2").is_file(), (kind, language, part)
    assert names["webhook"] == ["txt"] and names["staff_alert"] == ["html", "subject", "txt"]


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("name", sorted(template_names()))
def test_each_template_renders_with_sample_data_in_its_language(name, language):
    from functions.notifier.preview import SAMPLE_NUMBER, preview

    rendered = preview(name, language)
    parts = [p for p in (rendered.subject, rendered.text, rendered.html, rendered.sms) if p]
    assert parts and all(SAMPLE_NUMBER in p for p in parts), name
    assert "\n" not in rendered.subject and "\n" not in rendered.sms
    assert len(rendered.sms) <= 250  # one or two SMS segments with the link
    body = rendered.text.replace("客户服务", "")  # the default sender name is bilingual
    assert bool(CJK.search(body)) == (language == "zh"), (name, language)
    if rendered.html:
        assert rendered.html.count("<html") == 1 and f'lang="{"zh-CN" if language == "zh" else "en"}"' in rendered.html
    if name in CUSTOMER_KINDS:  # every customer message links the case with a token
        assert "/track?id=" in rendered.text and "#token=" in rendered.text and "#token=" in rendered.sms


@pytest.mark.parametrize("language", LANGUAGES)
def test_what_people_wrote_is_shown_never_interpreted(language):
    from functions.notifier.customer_content import facts
    from functions.notifier.messages import render
    from functions.notifier.preview import sample_case, sample_event, sample_settings, sample_timeline
    from functions.notifier.service import customer_context, links
    from functions.notifier.staff_notices import staff_context
    from shared.models import PlanComponent

    case = sample_case(language)
    case.title = HOSTILE
    case.customer.name = HOSTILE
    case.plan.explanation = HOSTILE
    case.plan.components.append(PlanComponent(type="apology", description=HOSTILE))
    case.tasks[0].title = HOSTILE
    case.tasks[0].outcome = HOSTILE
    timeline = sample_timeline(language, "staff_replied")
    timeline[0].text = HOSTILE
    s = sample_settings()
    for kind in CUSTOMER_KINDS:
        context = {**customer_context(case, language, s, links("https://x.example", case.complaint_id, "t")),
                   **facts(sample_event(kind, case), case, timeline, language)}
        if kind == "closed":
            context["note"] = HOSTILE
        rendered = render(kind, language, **context)
        assert "<script>" not in rendered.html and "<img" not in rendered.html, kind
        assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;" in rendered.html, kind
        assert HOSTILE in rendered.text, kind  # plain text shows it as written
    for kind in STAFF_KINDS:
        context = staff_context(sample_event(kind, case), case, language, due=None, recipient="x",
                                actor_name=HOSTILE, settings=s)
        rendered = render(f"staff_{kind}", language, **context)
        assert "<script>" not in rendered.html and "<img" not in rendered.html, kind
        if kind not in ("customer_replied", "disputed"):  # the others name the actor, the task or the plan
            assert "&lt;script&gt;" in rendered.html, kind


# -- the preview command --------------------------------------------------------------------------------------
def test_preview_prints_every_part_or_one(capsys):
    from infra.cli import main

    assert main(["notifier", "preview", "closed", "--language", "zh"]) == 0
    out = capsys.readouterr().out
    for part in ("subject", "txt", "html", "sms"):
        assert f"==> closed.zh.{part} <==" in out
    assert "您的投诉已结案" in out and "&survey=1#token=" in out

    assert main(["notifier", "preview", "staff_approval_needed", "--language", "en", "--part", "subject"]) == 0
    assert capsys.readouterr().out == "[P1] C332M4QX9W: a resolution plan needs your approval\n"
    assert main(["notifier", "preview", "webhook", "--language", "en", "--part", "txt"]) == 0
    assert capsys.readouterr().out.startswith("[P1] C332M4QX9W: a resolution plan needs approval | quality")


def test_preview_names_the_templates_when_asked_for_an_unknown_one(capsys):
    from infra.cli import main

    assert main(["notifier", "preview", "thank_you", "--language", "en"]) == 2
    err = capsys.readouterr().err
    assert "unknown template 'thank_you'" in err
    for name in ("closed", "resolved", "staff_assigned", "staff_alert", "webhook"):
        assert name in err
    assert main(["notifier", "preview", "webhook", "--language", "en", "--part", "html"]) == 2
    assert "webhook has no html part (it has: txt)" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["notifier", "preview", "closed", "--language", "fr"])


# -- pure parts ---------------------------------------------------------------------------------------------------
def test_links_keep_the_token_in_the_fragment():
    from functions.notifier.messages import with_query
    from functions.notifier.service import links

    urls = links("https://c.example/", "C332M4QX9W", "tok/en")
    assert urls["tracking_url"] == "https://c.example/track?id=C332M4QX9W#token=tok/en"
    assert urls["survey_url"] == "https://c.example/track?id=C332M4QX9W&survey=1#token=tok/en"
    assert urls["accept_url"] == "https://c.example/track?id=C332M4QX9W&respond=accept#token=tok/en"
    assert with_query("https://c.example/track", survey=1) == "https://c.example/track?survey=1"


UTC = timezone.utc


@pytest.mark.parametrize("at, expected", [
    (datetime(2026, 11, 24, 13, 59, tzinfo=UTC), None),  # 21:59 in Shanghai
    (datetime(2026, 11, 24, 14, 0, tzinfo=UTC), datetime(2026, 11, 24, 23, 30, tzinfo=UTC)),  # 22:00
    (datetime(2026, 11, 24, 18, 0, tzinfo=UTC), datetime(2026, 11, 24, 23, 30, tzinfo=UTC)),  # 02:00 next day
    (datetime(2026, 11, 24, 23, 30, tzinfo=UTC), None),  # 07:30: over
])
def test_quiet_hours_across_midnight(at, expected):
    from shared.preferences import QuietHours

    assert QuietHours(start="22:00", end="07:30", time_zone="Asia/Shanghai").end_of(at) == expected


def test_quiet_hours_in_the_day_and_over_a_daylight_saving_change():
    from shared.preferences import QuietHours

    lunch = QuietHours(start="12:00", end="13:30", time_zone="UTC")
    assert lunch.end_of(datetime(2026, 5, 1, 12, 15, tzinfo=UTC)) == datetime(2026, 5, 1, 13, 30, tzinfo=UTC)
    assert lunch.end_of(datetime(2026, 5, 1, 14, 0, tzinfo=UTC)) is None
    # Berlin springs forward on 29 March 2026 at 02:00: 22:00 CET (21:00 UTC) to 07:00 CEST (05:00 UTC)
    night = QuietHours(start="22:00", end="07:00", time_zone="Europe/Berlin")
    assert night.end_of(datetime(2026, 3, 28, 23, 0, tzinfo=UTC)) == datetime(2026, 3, 29, 5, 0, tzinfo=UTC)
    assert night.end_of(datetime(2026, 3, 29, 4, 59, tzinfo=UTC)) == datetime(2026, 3, 29, 5, 0, tzinfo=UTC)
    assert night.end_of(datetime(2026, 3, 29, 5, 0, tzinfo=UTC)) is None


def test_what_is_urgent_and_what_a_person_wants():
    from shared.preferences import NotificationPreferences, QuietHours, is_urgent

    assert is_urgent("escalated") and is_urgent("assigned", urgent=True)
    assert is_urgent("approval_needed", priority="P1") and not is_urgent("approval_needed", priority="P2")
    prefs = NotificationPreferences(staff_id="s", sms=True, phone="+8613800138000", muted_kinds=["assigned"],
                                    quiet_hours=QuietHours(start="22:00", end="07:30", time_zone="Asia/Shanghai"))
    assert not prefs.wants("email", "assigned", urgent=False) and prefs.wants("email", "assigned", urgent=True)
    assert prefs.wants("sms", "task_closed", urgent=False)
    night = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)
    assert prefs.deferred_until(night, urgent=False) == datetime(2026, 11, 24, 23, 30, tzinfo=UTC)
    assert prefs.deferred_until(night, urgent=True) is None
    assert not NotificationPreferences(staff_id="s").wants("sms", "assigned", urgent=True)  # no number, no SMS


def test_the_wait_fits_in_what_sqs_allows():
    from functions.notifier.redelivery import visibility_seconds

    now = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)
    assert visibility_seconds(now + timedelta(hours=8, minutes=30, seconds=0.2), now) == 30601
    assert visibility_seconds(now + timedelta(hours=20), now) == 43_200 - 60  # back early, deferred again
    sent = 1_800_000_000_000  # sent an hour before
    assert visibility_seconds(now + timedelta(hours=20), now, sent_at_ms=sent, wall_now=1_800_003_600) == 39_540
    assert visibility_seconds(now - timedelta(minutes=1), now) == 0
