"""``complaints notifier preview TEMPLATE --language zh|en [--part subject|txt|html|sms|all]``: a
notification template rendered with realistic sample data, to stdout, with no store or AWS.

The sample is a case of frozen dumplings (a refund and a replacement planned, an investigation task
for quality, a reply from the handler) and the events about it; customer templates go through the
same ``customer_content.facts`` and staff templates through the same ``staff_context`` as real
notifications, so the preview shows what a customer or handler would get.
"""
from __future__ import annotations

import os
import sys
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any, TextIO

from functions.notifier.messages import LANGUAGES, PARTS, Rendered, render, template_names

SAMPLE_NUMBER = "C332M4QX9W"  # a well-formed number (check character included)
SAMPLE_AT = datetime(2026, 11, 24, 2, 30, tzinfo=timezone.utc)  # 10:30 in Beijing
SAMPLE_TOKEN = "sample-token-not-valid"


class UnknownTemplate(ValueError):
    def __init__(self, name: str, known: list[str]):
        super().__init__(f"unknown template {name!r}; the templates are: {', '.join(known)}")
        self.known = known


def sample_settings() -> Any:
    from shared.config import Settings

    env = {**os.environ}
    for name in ("TABLE_NAME", "ATTACHMENTS_BUCKET", "EVENT_BUS_NAME", "PII_KEY_ID", "LOOKUP_KEY_ID"):
        env.setdefault(name, "preview")
    return Settings.model_validate(env)


def sample_case(language: str) -> Any:
    from shared.models import (Channel, Complaint, Customer, InvestigationTask, PlanApproval, PlanComponent,
                               ResolutionPlan)

    zh = language == "zh"
    plan = ResolutionPlan(
        plan_id="plan-1", proposed_by="staff-li-wei", proposed_at=SAMPLE_AT, state="proposed",
        components=[PlanComponent(type="refund", amount=Decimal("128.00"), currency="CNY",
                                  description="订单 SO-1001 全额退款" if zh else "full refund of order SO-1001"),
                    PlanComponent(type="replacement", description="一袋新批次的水饺" if zh else "a bag from a new batch")],
        explanation=("经检验，B2411 批次在运输中冷链中断。我们已下架该批次。" if zh else
                     "Our tests showed the cold chain of batch B2411 broke in transit. We have withdrawn the batch."),
        approval=PlanApproval(required=True, reasons=["amount 128.00 CNY above 100.00", "priority P1"],
                              decided_by="staff-wang-fang", decided_at=SAMPLE_AT, approved=True,
                              comment="同意，请尽快退款。" if zh else "Approved; refund today please."))
    task = InvestigationTask(task_id="task-1", department="quality", title="Test batch B2411",
                             assignee="staff-qa-agent", due_at=SAMPLE_AT + timedelta(days=3), opened_by="staff-li-wei",
                             opened_at=SAMPLE_AT, state="done", outcome="Cold chain broken at the Shanghai depot.")
    return Complaint(
        complaint_id=SAMPLE_NUMBER, version=7, status="resolved", channel=Channel.WEB, language=language,
        title="冷冻水饺有异味" if zh else "Frozen dumplings smelled off",
        description="…", customer=Customer(name="李伟" if zh else "Ann Lee", email="customer@example.com",
                                           preferred_language=language),
        received_at=SAMPLE_AT - timedelta(days=2), updated_at=SAMPLE_AT, tracking_token_hashes=[],
        category="food_safety", department="quality", priority="P1", assignee="staff-li-wei", plan=plan,
        tasks=[task], resolved_at=SAMPLE_AT,
        confirmation_due_at=SAMPLE_AT + timedelta(days=7), closure="confirmed")


def sample_timeline(language: str, kind: str) -> list[Any]:
    from shared.models import TimelineEntry, TimelineKind

    zh = language == "zh"
    if kind == "resolved":
        text = ("我们已将 128.00 元退回您的支付账户，新批次的水饺将于明天送达。" if zh else
                "We have refunded 128.00 CNY to your payment account; the new bag arrives tomorrow.")
    else:
        text = ("您好，我们已安排质检部门检测该批次，请问您还保留包装吗？方便的话请拍照发给我们。" if zh else
                "Hello, our quality team is testing the batch. Do you still have the packaging? "
                "If so, please send us a photo of the batch number.")
    return [TimelineEntry(at=SAMPLE_AT, kind=TimelineKind.STAFF_REPLY, actor="staff:staff-li-wei", text=text)]


def sample_event(kind: str, case: Any) -> Any:
    from shared.events import CaseEvent

    data = {"plan_id": "plan-1", "task_id": "task-1", "approved": True, "level": 2, "closure": "confirmed",
            "survey": True, "channel": "email"}
    actor = "customer" if kind in ("customer_replied", "disputed", "closed") else "staff:staff-wang-fang"
    return CaseEvent.of(case, kind, actor=actor, at=SAMPLE_AT, data=data)


def preview(name: str, language: str) -> Rendered:
    """Every part of template ``name`` in ``language`` with the sample data."""
    from functions.notifier.customer_content import facts
    from functions.notifier.service import customer_context, links
    from functions.notifier.staff_alerts import case_url, format_due, render_alert, time_left
    from functions.notifier.staff_notices import staff_context
    from functions.notifier.webhooks import console_url, event_facts, webhook_text
    from shared.events import CUSTOMER_KINDS, STAFF_KINDS
    from shared.notification_config import Webhook

    known = list(template_names())
    if name not in known:
        raise UnknownTemplate(name, known)
    if language not in LANGUAGES:
        raise ValueError(f"language must be one of {', '.join(LANGUAGES)}")
    s, case, timeline = sample_settings(), sample_case(language), sample_timeline(language, name)
    base = customer_context(case, language, s, links(s.public_base_url, SAMPLE_NUMBER, SAMPLE_TOKEN))
    if name in CUSTOMER_KINDS:
        return render(name, language, **base, **facts(sample_event(name, case), case, timeline, language))
    if name in ("ack", "reply_ack"):
        return render(name, language, **base)
    if name.startswith("staff_") and name.removeprefix("staff_") in STAFF_KINDS:
        event = sample_event(name.removeprefix("staff_"), case)
        return render(name, language, **staff_context(event, case, language, due=SAMPLE_AT + timedelta(hours=20),
                                                      recipient="staff-li-wei", actor_name="王芳" if language == "zh"
                                                      else "Wang Fang", settings=s))
    if name == "staff_alert":
        due, now = SAMPLE_AT + timedelta(hours=2, minutes=15), SAMPLE_AT
        return render_alert(language, complaint_id=SAMPLE_NUMBER, kind="sla_warning", priority="P1",
                            department="quality", clock="first_response",
                            clock_label="首次回复" if language == "zh" else "First response", share_percent=80,
                            level=None, reason="80% of the 1 h first-response target used",
                            due=format_due(due, language), due_iso=due.isoformat(), time_left=time_left(due, now, language),
                            overdue=False, case_url=case_url(s.public_base_url, SAMPLE_NUMBER), sender_name=s.sender_name)
    if name == "webhook":
        event = sample_event("approval_needed", case)
        hook = Webhook(webhook_id="quality-chat", url="https://example.com/hook", secret_name="preview",
                       language=language)
        text = webhook_text(hook, event_facts(event, category=case.category, due_at=SAMPLE_AT + timedelta(hours=20),
                                              url=console_url(s.public_base_url, SAMPLE_NUMBER)), event)
        return Rendered(subject="", text=text, html="", sms="")
    return render(name, language, **base)  # a template added later: its kind's sample may need more


def run(name: str, language: str, part: str = "all", out: TextIO | None = None, err: TextIO | None = None) -> int:
    """The CLI's work: 0 after printing, 2 for an unknown template or part."""
    out, err = out or sys.stdout, err or sys.stderr
    try:
        rendered = preview(name, language)
    except UnknownTemplate as exc:
        err.write(f"notifier preview: {exc}\n")
        return 2
    parts = template_names()[name]
    fields = {"subject": rendered.subject, "txt": rendered.text, "html": rendered.html, "sms": rendered.sms}
    if part != "all":
        if part not in parts:
            err.write(f"notifier preview: {name} has no {part} part (it has: {', '.join(parts)})\n")
            return 2
        out.write(fields[part].rstrip("\n") + "\n")
        return 0
    for each in (p for p in PARTS if p in parts):
        out.write(f"==> {name}.{language}.{each} <==\n{fields[each].rstrip(chr(10))}\n\n")
    return 0
