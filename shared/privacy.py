"""Data-subject rights: export, erasure with legal holds, and retention - the domain, without I/O.

* A **request** (:class:`PrivacyRequest`) is tracked from receipt to completion with a deadline
  (``request_deadline_days`` after receipt, one month by default). It names the person only by the
  kind of identifier given and its keyed look-up hash - never the email, phone or member id itself.
* **Export**: everything held about the person across their cases (:func:`export_document`), as
  JSON and as a page in their language (:func:`export_html`; every text escaped, nothing rendered).
* **Erasure** of a case (:func:`erased_case`): contact data removed (the encrypted blob, the look-up
  hashes, the tracking tokens), free text redacted (:mod:`shared.redaction`, knowing the person's own
  name, email, phone and member id), attachments gone - while the skeleton stays (number, dates,
  channel, category, department, status, priority, product and batch, clocks) and the report
  counters are not touched, so every figure stays as it was.
* **Legal holds** (:func:`hold_on`): a case still open (or resolved, waiting on the customer) is
  erased once closed; a closed case within the regulatory retention period of its jurisdictions
  (``legal_hold_days`` after closure) is erased when that period ends.
* **Retention** (:func:`retention_due`): a case ended more than ``retention_days`` ago is anonymised
  like an erasure, by the scheduled job.

:class:`PrivacyDesk` runs these against its gateways (``shared/privacy_store.py``); see docs/privacy.md.
"""
from __future__ import annotations

import html
import json
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Annotated, Any, Callable, Iterable, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from shared.lifecycle import OPEN_STATES, Status
from shared.models import Complaint, EmailAddress, Phone, TimelineEntry, TimelineKind, Visibility
from shared.redaction import Known, redact, redact_tree

REQUEST_ID = r"^prv_[0-9a-f]{20}$"
RequestKind = Literal["export", "erasure"]
RequestStatus = Literal["received", "pending", "completed"]
STATUSES: tuple[str, ...] = ("received", "pending", "completed")
ENDED = (Status.CLOSED, Status.REJECTED, Status.WITHDRAWN, Status.MERGED)
Country = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]
MAX_CASES = 200  # cases one request covers
REQUEST_ERASURES = 20  # cases one API call erases (the rest are queued for the follow-up job: Lambda timeouts)
JOB_ERASURES = 50  # cases one run of a scheduled job erases
RECEIVED_GRACE = timedelta(minutes=15)  # a request still "received" after this was left by a failed call


# -- configuration (config kind ``privacy``) -----------------------------------------------------------
class _Config(BaseModel):
    # built on first validation: functions that never load this configuration do not pay for it on a cold start
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, defer_build=True)


class Retention(_Config):
    """How long a jurisdiction's cases are kept after they ended (closed, rejected, withdrawn, merged)."""

    legal_hold_days: int = Field(0, ge=0, le=36_500)  # no erasure before: the regulator wants the record
    retention_days: int | None = Field(None, ge=1, le=36_500)  # anonymised after (None: kept)
    basis: Annotated[str, StringConstraints(max_length=300)] | None = None  # why, for the request's reason

    @model_validator(mode="after")
    def _retention_after_hold(self) -> "Retention":
        if self.retention_days is not None and self.retention_days < self.legal_hold_days:
            raise ValueError("retention_days cannot be shorter than legal_hold_days")
        return self


class PrivacyConfig(_Config):
    request_deadline_days: int = Field(30, ge=1, le=365)
    deadline_warning_days: int = Field(7, ge=0, le=365)
    export_link_expiry_hours: int = Field(168, ge=1, le=168)  # presigned links: 7 days at most
    retention_scan_items: int = Field(5_000, ge=10, le=200_000)  # index items one retention run reads at most
    default: Retention = Retention(retention_days=1095)
    jurisdictions: Annotated[dict[Country, Retention], Field(max_length=250)] = {}
    description: str | None = None

    def retention_for(self, countries: Iterable[str]) -> Retention:
        """The longest hold and retention of the case's jurisdictions that have their own; else the default."""
        own = [self.jurisdictions[c] for c in sorted(set(countries)) if c in self.jurisdictions]
        if not own:
            return self.default
        hold = max(own, key=lambda r: r.legal_hold_days)
        keep = [r.retention_days for r in own]
        return Retention(legal_hold_days=hold.legal_hold_days, basis=hold.basis,
                         retention_days=None if None in keep else max(k for k in keep if k is not None))

    def shortest_retention_days(self) -> int | None:
        days = [r.retention_days for r in (self.default, *self.jurisdictions.values()) if r.retention_days]
        return min(days) if days else None


# -- requests ----------------------------------------------------------------------------------------------
class _Input(BaseModel):
    # built on first validation: only the privacy routes read these bodies
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, defer_build=True)


class SubjectIn(_Input):
    """Who the request is about: exactly one of email, phone or member id (normalised like the form)."""

    email: Annotated[EmailAddress, StringConstraints(max_length=254)] | None = None
    phone: Phone | None = None
    member_id: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)] | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> "SubjectIn":
        if sum(v is not None for v in (self.email, self.phone, self.member_id)) != 1:
            raise ValueError("give exactly one of email, phone or member_id")
        return self

    def subject(self) -> tuple[str, str]:
        kind = next(k for k in ("email", "phone", "member_id") if getattr(self, k) is not None)
        return kind, str(getattr(self, kind))


class ExportIn(SubjectIn):
    """The body of ``POST /staff/privacy/export``."""


class ErasureIn(SubjectIn):
    """The body of ``POST /staff/privacy/erasure``."""

    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)]


class Hold(BaseModel):
    complaint_id: str
    hold: Literal["open_case", "retention", "unreadable", "changed", "queued"]
    reason: str
    until: datetime | None = None  # None: when the case closes (the others: the next try)


class PrivacyRequest(BaseModel):
    request_id: str
    kind: RequestKind
    status: RequestStatus
    subject_kind: Literal["email", "phone", "member_id"]
    subject_hash: str  # the keyed look-up hash, never the value
    received_at: datetime
    due_at: datetime
    requested_by: str
    reason: str | None = None  # redacted before it is stored
    cases: list[str] = []
    erased: list[str] = []
    holds: list[Hold] = []
    files: list[str] = []  # an export's objects
    files_expire_at: datetime | None = None
    completed_at: datetime | None = None
    updated_at: datetime
    version: int = 1

    def view(self, now: datetime) -> dict[str, Any]:
        from shared.repository import iso

        open_request = self.status != "completed"
        return {
            "request_id": self.request_id, "kind": self.kind, "status": self.status,
            "subject_kind": self.subject_kind, "received_at": iso(self.received_at), "due_at": iso(self.due_at),
            "overdue": open_request and now > self.due_at,
            "completed_at": iso(self.completed_at) if self.completed_at else None,
            "requested_by": self.requested_by, "reason": self.reason,
            "summary": {"cases": len(self.cases), "erased": len(self.erased), "held": len(self.holds)},
            "cases": self.cases,
            "holds": [{"complaint_id": h.complaint_id, "hold": h.hold, "reason": h.reason,
                       "until": iso(h.until) if h.until else None} for h in self.holds],
            "files_expire_at": iso(self.files_expire_at) if self.files_expire_at else None,
        }


def new_request(kind: str, subject_kind: str, subject_hash: str, *, actor: str, at: datetime,
                config: PrivacyConfig, reason: str | None = None) -> PrivacyRequest:
    return PrivacyRequest(
        request_id="prv_" + secrets.token_hex(10), kind=kind, status="received", subject_kind=subject_kind,
        subject_hash=subject_hash, received_at=at, due_at=at + timedelta(days=config.request_deadline_days),
        requested_by=actor, reason=redact(reason) if reason else None, updated_at=at)


# -- a case as read for a request -----------------------------------------------------------------------------
@dataclass
class CaseRecord:
    """A case's partition as the privacy work needs it: the case (contact data decrypted when there is
    any), its timeline entries with their sort keys, its customer notifications, raw-mail links."""

    complaint: Complaint
    entries: list[tuple[str, TimelineEntry]] = field(default_factory=list)
    notifications: list[dict[str, Any]] = field(default_factory=list)
    raw_mail: list[dict[str, str]] = field(default_factory=list)  # {"bucket", "key"} of the emails received
    erased_at: str | None = None
    unreadable: bool = False  # contact data present but could not be decrypted

    @property
    def erased(self) -> bool:
        return self.erased_at is not None


def ended_at(case: Complaint) -> datetime | None:
    """When the case ended (closed, rejected, withdrawn, merged); None while it is open or resolved."""
    if case.status not in ENDED:
        return None
    return case.closed_at or case.updated_at


def jurisdictions(case: Complaint, business: Iterable[str]) -> set[str]:
    """The countries whose rules apply: where the business answers complaints (the SLA configuration's
    ``business_jurisdictions``) and the customer's own (the case's region)."""
    found = set(business)
    if case.region:
        found.add(case.region[:2].upper())
    return found


def hold_on(case: Complaint, *, at: datetime, config: PrivacyConfig, business: Iterable[str]) -> Hold | None:
    """What keeps the case from being erased now, if anything."""
    if case.status in OPEN_STATES or case.status == Status.RESOLVED:
        what = "open" if case.status != Status.RESOLVED else "resolved and waiting for the customer's answer"
        return Hold(complaint_id=case.complaint_id, hold="open_case",
                    reason=f"case {case.complaint_id} is {what}: erased when it is closed")
    ended = ended_at(case)
    rule = config.retention_for(jurisdictions(case, business))
    until = ended + timedelta(days=rule.legal_hold_days) if ended else None
    if until and until > at:
        basis = f" ({rule.basis})" if rule.basis else ""
        return Hold(complaint_id=case.complaint_id, hold="retention", until=until,
                    reason=f"case {case.complaint_id} must be kept until {until.date().isoformat()}{basis}: "
                           "erased then")
    return None


def retention_due(case: Complaint, *, at: datetime, config: PrivacyConfig, business: Iterable[str]) -> bool:
    ended = ended_at(case)
    days = config.retention_for(jurisdictions(case, business)).retention_days
    return ended is not None and days is not None and ended + timedelta(days=days) <= at


# -- erasure -----------------------------------------------------------------------------------------------------
def known_of(records: Iterable[CaseRecord]) -> Known:
    """Everything the person's cases say about them, so each case's text loses it all."""
    names, emails, phones, members = [], [], [], []
    for record in records:
        c = record.complaint.customer
        if c is None:
            continue
        names.append(c.name)
        emails += [c.email] if c.email else []
        phones += [c.phone] if c.phone else []
        members += [c.member_id] if c.member_id else []
    unique = lambda values: tuple(dict.fromkeys(v for v in values if v))  # noqa: E731
    return Known(unique(names), unique(emails), unique(phones), unique(members))


@dataclass(frozen=True)
class ErasedCase:
    complaint: Complaint  # the skeleton with its free text redacted (no customer)
    entries: list[tuple[str, TimelineEntry]]  # the entries whose text or details changed, by sort key


def erased_case(record: CaseRecord, known: Known) -> ErasedCase:
    """The case as it stays after erasure: personal fields gone, free text redacted, no attachments;
    number, dates, channel, category, department, status, priority, product and batch, clocks kept."""
    c = record.complaint

    def r(text: str | None) -> str | None:
        return redact(text, known)

    plan = c.plan
    if plan is not None:
        plan = plan.model_copy(update={
            "explanation": r(plan.explanation) or "", "internal_note": r(plan.internal_note),
            "components": [p.model_copy(update={"description": r(p.description)}) for p in plan.components]})
    changes = {
        "customer": None, "contact_hashes": {}, "tracking_token_hashes": [], "attachments": [],
        "title": r(c.title), "description": r(c.description) or "", "expected_resolution": r(c.expected_resolution),
        "product": c.product.model_copy(update={"order_id": None}) if c.product else None,
        "plan": plan,
        "tasks": [t.model_copy(update={"title": r(t.title) or "", "details": r(t.details), "outcome": r(t.outcome)})
                  for t in c.tasks],
        "feedback": c.feedback.model_copy(update={"comment": r(c.feedback.comment)}) if c.feedback else None,
        "classification": redact_tree(c.classification, known) if c.classification else None,
    }
    entries = []
    for sk, entry in record.entries:
        redacted = entry.model_copy(update={"text": r(entry.text), "details": redact_tree(entry.details, known)})
        if redacted != entry:
            entries.append((sk, redacted))
    return ErasedCase(c.model_copy(update=changes), entries)


# -- export -----------------------------------------------------------------------------------------------------
CONVERSATION = frozenset({TimelineKind.RECEIVED, TimelineKind.ACKNOWLEDGED, TimelineKind.STATUS_CHANGED,
                          TimelineKind.CUSTOMER_MESSAGE, TimelineKind.STAFF_REPLY, TimelineKind.PLAN_PROPOSED,
                          TimelineKind.CONFIRMED, TimelineKind.DISPUTED, TimelineKind.FEEDBACK,
                          TimelineKind.REOPENED, TimelineKind.MERGED, TimelineKind.SPLIT})


def _who(actor: str) -> str:
    return "customer" if actor == "customer" else "staff" if actor.startswith("staff") else "system"


def case_export(record: CaseRecord, links: dict[str, tuple[str, datetime]]) -> dict[str, Any]:
    """One case as the person may see it: their contact data, what they wrote and were told, the
    files, the plan offered, their survey answer, the notifications sent to them; the texts staff wrote
    about the case internally (``internal_notes``: notes, reasons - not the system's routing records);
    staff appear as "staff", never by name."""
    from shared.repository import iso

    c = record.complaint
    entries = [e for _, e in sorted(record.entries, key=lambda p: p[0])]
    conversation = [{"at": iso(e.at), "kind": e.kind.value, "from": _who(e.actor), "text": e.text,
                     "status": e.status.value if e.status else None}
                    for e in entries if e.visibility == Visibility.PUBLIC and e.kind in CONVERSATION]
    notes = [{"at": iso(e.at), "kind": e.kind.value, "text": e.text} for e in entries
             if e.text and e.actor != "system" and not (e.visibility == Visibility.PUBLIC and e.kind in CONVERSATION)]
    plan = c.plan if c.plan and c.plan.state in ("proposed", "accepted", "disputed") else None
    return {
        "complaint_id": c.complaint_id, "status": c.status.value, "channel": c.channel.value,
        "language": c.language, "region": c.region, "category": c.category,
        "received_at": iso(c.received_at), "updated_at": iso(c.updated_at),
        "resolved_at": iso(c.resolved_at) if c.resolved_at else None,
        "closed_at": iso(c.closed_at) if c.closed_at else None, "closure": c.closure,
        "occurred_at": c.occurred_at.isoformat() if c.occurred_at else None,
        "contact": c.customer.model_dump(exclude_none=True) if c.customer else None,
        "title": c.title, "description": c.description, "expected_resolution": c.expected_resolution,
        "product": c.product.model_dump(mode="json", exclude_none=True) if c.product else None,
        "attachments": [{"filename": a.filename, "content_type": a.content_type, "size": a.size,
                         "download": links[a.attachment_id][0] if a.attachment_id in links else None,
                         "download_expires_at": iso(links[a.attachment_id][1]) if a.attachment_id in links else None}
                        for a in c.attachments],
        "conversation": conversation,
        "internal_notes": notes,
        "resolution_plan": {"state": plan.state, "explanation": plan.explanation, "proposed_at": iso(plan.proposed_at),
                            "components": [p.model_dump(mode="json", exclude_none=True) for p in plan.components]}
        if plan else None,
        "feedback": {"rating": c.feedback.rating, "aspects": c.feedback.aspects, "comment": c.feedback.comment,
                     "at": iso(c.feedback.at)} if c.feedback else None,
        "notifications": [{"at": n.get("sent_at") or n.get("claimed_at"), "channel": n.get("channel"),
                           "purpose": n.get("purpose"), "state": n.get("state")} for n in record.notifications],
    }


def export_document(request: PrivacyRequest, cases: list[dict[str, Any]], *, at: datetime,
                    language: str) -> dict[str, Any]:
    from shared.repository import iso

    return {"request_id": request.request_id, "generated_at": iso(at), "language": language,
            "looked_up_by": request.subject_kind, "cases_found": len(cases), "cases": cases}


LABELS: dict[str, dict[str, str]] = {
    "en": {"title": "Personal data held about you in our complaint records", "generated": "Generated",
           "request": "Request", "found": "Complaints found", "none": "We hold no complaint records about you.",
           "case": "Complaint", "status": "Status", "received": "Received", "closed": "Closed",
           "channel": "Channel", "contact": "Contact details", "name": "Name", "email": "Email", "phone": "Phone",
           "member_id": "Member id", "preferred_language": "Preferred language", "subject": "Subject",
           "description": "Description", "expected": "Expected resolution", "product": "Product",
           "attachments": "Files", "conversation": "Messages and status", "notes": "Internal notes",
           "plan": "Resolution offered", "feedback": "Your survey answer", "notifications": "Messages sent to you",
           "customer": "You", "staff": "Us", "system": "System", "rating": "Rating", "comment": "Comment",
           "link": "download (link valid until {until})"},
    "zh": {"title": "我们投诉记录中关于您的个人数据", "generated": "生成时间", "request": "请求编号",
           "found": "找到的投诉", "none": "我们没有关于您的投诉记录。", "case": "投诉", "status": "状态",
           "received": "收到时间", "closed": "关闭时间", "channel": "渠道", "contact": "联系信息", "name": "姓名",
           "email": "电子邮箱", "phone": "电话", "member_id": "会员号", "preferred_language": "首选语言",
           "subject": "标题", "description": "描述", "expected": "期望的解决方式", "product": "产品",
           "attachments": "文件", "conversation": "消息与状态", "notes": "内部记录", "plan": "解决方案",
           "feedback": "您的满意度评价", "notifications": "发给您的通知", "customer": "您", "staff": "我们",
           "system": "系统", "rating": "评分", "comment": "意见", "link": "下载（链接有效期至 {until}）"},
}


def export_html(document: dict[str, Any]) -> str:
    """The export as a page a person can read, in their language; every value escaped (text from a
    complaint is never markup), scripts and remote content refused by its own Content-Security-Policy."""
    t = LABELS.get(document.get("language") or "en", LABELS["en"])
    e = lambda value: html.escape("" if value is None else str(value))  # noqa: E731
    out = ["<!doctype html>", f'<html lang="{e(document.get("language"))}"><head><meta charset="utf-8">',
           "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">",
           f"<title>{e(t['title'])}</title>",
           "<style>body{font-family:sans-serif;max-width:50em;margin:2em auto;line-height:1.5}"
           "dt{font-weight:bold}pre{white-space:pre-wrap}</style></head><body>",
           f"<h1>{e(t['title'])}</h1>",
           f"<p>{e(t['request'])}: {e(document['request_id'])} &middot; {e(t['generated'])}: "
           f"{e(document['generated_at'])} &middot; {e(t['found'])}: {e(document['cases_found'])}</p>"]
    if not document["cases"]:
        out.append(f"<p>{e(t['none'])}</p>")
    for case in document["cases"]:
        out.append(f"<h2>{e(t['case'])} {e(case['complaint_id'])}</h2><dl>")
        for label, value in ((t["status"], case["status"]), (t["received"], case["received_at"]),
                             (t["closed"], case["closed_at"]), (t["channel"], case["channel"]),
                             (t["subject"], case["title"])):
            if value:
                out.append(f"<dt>{e(label)}</dt><dd>{e(value)}</dd>")
        out.append(f"<dt>{e(t['description'])}</dt><dd><pre>{e(case['description'])}</pre></dd>")
        if case["expected_resolution"]:
            out.append(f"<dt>{e(t['expected'])}</dt><dd><pre>{e(case['expected_resolution'])}</pre></dd>")
        if case["product"]:
            out.append(f"<dt>{e(t['product'])}</dt><dd>{e(', '.join(f'{k}: {v}' for k, v in case['product'].items()))}</dd>")
        out.append("</dl>")
        if case["contact"]:
            out.append(f"<h3>{e(t['contact'])}</h3><dl>")
            for key, value in case["contact"].items():
                out.append(f"<dt>{e(t.get(key, key))}</dt><dd>{e(value)}</dd>")
            out.append("</dl>")
        if case["attachments"]:
            out.append(f"<h3>{e(t['attachments'])}</h3><ul>")
            for a in case["attachments"]:
                link = (f' &middot; <a href="{e(a["download"])}">{e(t["link"].format(until=a["download_expires_at"]))}</a>'
                        if a.get("download") else "")
                out.append(f"<li>{e(a['filename'])} ({e(a['content_type'])}, {e(a['size'])} B){link}</li>")
            out.append("</ul>")
        for heading, rows in ((t["conversation"], case["conversation"]), (t["notes"], case["internal_notes"])):
            if rows:
                out.append(f"<h3>{e(heading)}</h3><ul>")
                for row in rows:
                    who = f"{e(t.get(row.get('from', ''), ''))} " if row.get("from") else ""
                    status = f" → {e(row['status'])}" if row.get("status") else ""
                    text = f"<pre>{e(row['text'])}</pre>" if row.get("text") else ""
                    out.append(f"<li>{e(row['at'])} {who}({e(row['kind'])}{status}){text}</li>")
                out.append("</ul>")
        if case["resolution_plan"]:
            plan = case["resolution_plan"]
            out.append(f"<h3>{e(t['plan'])}</h3><p>{e(plan['state'])}</p><pre>{e(plan['explanation'])}</pre>")
        if case["feedback"]:
            fb = case["feedback"]
            out.append(f"<h3>{e(t['feedback'])}</h3><p>{e(t['rating'])}: {e(fb['rating'])}</p>")
            if fb.get("comment"):
                out.append(f"<p>{e(t['comment'])}:</p><pre>{e(fb['comment'])}</pre>")
        if case["notifications"]:
            out.append(f"<h3>{e(t['notifications'])}</h3><ul>")
            out += [f"<li>{e(n['at'])} {e(n['channel'])} {e(n['purpose'])} ({e(n['state'])})</li>"
                    for n in case["notifications"]]
            out.append("</ul>")
    out.append("</body></html>")
    return "\n".join(out)


def export_language(records: list[CaseRecord], default: str) -> str:
    """The person's preferred language (their newest case's), else that case's language."""
    for record in sorted(records, key=lambda r: r.complaint.received_at, reverse=True):
        c = record.complaint
        if c.customer and c.customer.preferred_language:
            return c.customer.preferred_language
        return c.language
    return default


# -- the desk: requests run against the gateways ------------------------------------------------------------------
class PrivacyUnavailable(Exception):
    """The request cannot be carried out just now (contact data that cannot be decrypted): retry."""


class StaleRequest(Exception):
    """The request changed since it was read (another run carried it out meanwhile)."""


@dataclass
class ExportResult:
    request: PrivacyRequest
    links: dict[str, tuple[str, datetime]]  # "json" / "html" -> (presigned url, expiry)


@dataclass
class JobReport:
    looked_at: int = 0
    erased: int = 0
    completed: int = 0
    near_deadline: int = 0
    overdue: int = 0
    evaluated: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


class PrivacyDesk:
    """Export, erasure and retention over ``store`` (:class:`shared.privacy_store.PrivacyStore`) and
    ``files`` (:class:`shared.privacy_store.PrivacyFiles`); ``config`` and ``business`` are read per
    call (configuration in force: the ``privacy`` kind, the SLA's business jurisdictions)."""

    def __init__(self, store: Any, files: Any, *, config: Callable[[], PrivacyConfig],
                 business: Callable[[], list[str]], clock: Callable[[], datetime], default_language: str = "en",
                 observe: Callable[..., None] | None = None):
        self._store, self._files = store, files
        self._config, self._business, self._now = config, business, clock
        self._default_language = default_language
        self._observe = observe or (lambda **facts: None)  # facts for the request's audit record

    # -- export --------------------------------------------------------------------------------------------
    def export(self, subject: SubjectIn, *, actor: str) -> ExportResult:
        kind, value = subject.subject()
        config, at = self._config(), self._now()
        digest = self._store.subject_hash(kind, value)
        request = new_request("export", kind, digest, actor=actor, at=at, config=config)
        records = self._records(self._store.case_numbers(digest)[:MAX_CASES])
        if any(r.unreadable for r in records):
            raise PrivacyUnavailable("some contact data cannot be decrypted just now")
        expires = timedelta(hours=config.export_link_expiry_hours)
        cases = []
        for record in records:
            links = {a.attachment_id: (self._files.attachment_link(a.key, a.filename, expires), at + expires)
                     for a in record.complaint.attachments}
            cases.append(case_export(record, links))
        document = export_document(request, cases, at=at,
                                   language=export_language(records, self._default_language))
        keys = self._files.write_export(request.request_id,
                                        json.dumps(document, ensure_ascii=False, indent=2).encode(),
                                        export_html(document).encode())
        done = request.model_copy(update={"status": "completed", "cases": [r.complaint.complaint_id for r in records],
                                          "files": list(keys.values()), "files_expire_at": at + expires,
                                          "completed_at": at})
        self._store.put_request(done)
        self._observe(privacy_request=done.request_id, privacy_kind="export", cases=len(done.cases))
        links = {name: (self._files.export_link(key, expires), at + expires) for name, key in keys.items()}
        return ExportResult(done, links)

    # -- erasure -------------------------------------------------------------------------------------------
    def erase(self, body: ErasureIn, *, actor: str) -> PrivacyRequest:
        kind, value = body.subject()
        config, at = self._config(), self._now()
        digest = self._store.subject_hash(kind, value)
        request = new_request("erasure", kind, digest, actor=actor, at=at, config=config, reason=body.reason)
        request = request.model_copy(update={"cases": self._store.case_numbers(digest)[:MAX_CASES]})
        self._store.put_request(request)  # tracked before any case changes
        self._observe(privacy_request=request.request_id, privacy_kind="erasure", cases=len(request.cases))
        return self.carry_out(request, budget=REQUEST_ERASURES)[0]

    def carry_out(self, request: PrivacyRequest, *, budget: int) -> tuple[PrivacyRequest, int]:
        """Erase the cases of the request nothing holds, at most ``budget`` of them; the others stay on the
        request as holds (``queued``: for the next run). Returns the request as saved and the cases erased."""
        at, config, business = self._now(), self._config(), self._business()
        used = 0
        records = self._records([n for n in request.cases if n not in request.erased], every=True)
        known = known_of(records)
        erased, holds = list(request.erased), []
        for record in records:
            if record.erased:
                erased.append(record.complaint.complaint_id)
                continue
            hold = hold_on(record.complaint, at=at, config=config, business=business)
            if hold is None and record.unreadable:
                hold = Hold(complaint_id=record.complaint.complaint_id, hold="unreadable",
                            reason="the contact data could not be decrypted just now: tried again later")
            if hold is None and used >= budget:
                hold = Hold(complaint_id=record.complaint.complaint_id, hold="queued",
                            reason="erased by the next run of the follow-up job (hourly)")
            if hold is not None:
                holds.append(hold)
                continue
            used += 1
            if self._erase(record, known):
                erased.append(record.complaint.complaint_id)
            else:
                holds.append(Hold(complaint_id=record.complaint.complaint_id, hold="changed",
                                  reason=f"case {record.complaint.complaint_id} changed while it was erased: "
                                         "tried again later"))
        found = {r.complaint.complaint_id for r in records} | set(request.erased)
        erased += [n for n in request.cases if n not in found and n not in erased]  # gone: nothing left to erase
        update = {"erased": list(dict.fromkeys(erased)), "holds": holds, "updated_at": at,
                  "status": "pending" if holds else "completed", "completed_at": None if holds else at}
        done = request.model_copy(update=update)
        self._store.save_request(done, expected_version=request.version)
        return done.model_copy(update={"version": request.version + 1}), used

    def _erase(self, record: CaseRecord, known: Known) -> bool:
        """Files first (deleting is idempotent), then the case in its transactions; False when the case
        changed meanwhile (the caller leaves it for a later try)."""
        self._files.delete_attachments([a.key for a in record.complaint.attachments])
        self._files.delete_raw_mail(record.raw_mail)
        return self._store.erase(record, erased_case(record, known), at=self._now())

    def _records(self, numbers: list[str], *, every: bool = False) -> list[CaseRecord]:
        """The cases read (``every``: erased and unreadable ones too)."""
        records = [r for r in (self._store.read_case(n) for n in numbers) if r is not None]
        return records if every else [r for r in records if not r.erased]

    # -- the scheduled jobs ---------------------------------------------------------------------------------
    def follow_up(self) -> JobReport:
        """Pending erasures tried again (their holds may have ended), requests still ``received`` after a
        failure carried out, and the open requests near or past their deadline counted (and logged)."""
        from shared.observability import logger

        at, config, report = self._now(), self._config(), JobReport()
        for request in self._store.open_requests():
            report.looked_at += 1
            budget = JOB_ERASURES - report.erased
            if request.kind == "erasure" and budget > 0 and (_left_received(request, at)
                                                               or _hold_may_have_ended(request, at)):
                try:
                    request, used = self.carry_out(request, budget=budget)
                except StaleRequest:  # an API call or another run carried it out meanwhile
                    continue
                report.erased += used
                report.completed += request.status == "completed"
            if request.status == "completed":
                continue
            if at > request.due_at:
                report.overdue += 1
                logger().error("privacy request past its deadline",
                               extra={"request_id": request.request_id, "kind": request.kind,
                                      "due_at": request.due_at.isoformat(), "holds": len(request.holds)})
            elif at > request.due_at - timedelta(days=config.deadline_warning_days):
                report.near_deadline += 1
                logger().warning("privacy request near its deadline",
                                 extra={"request_id": request.request_id, "kind": request.kind,
                                        "due_at": request.due_at.isoformat(), "holds": len(request.holds)})
        return report

    def retain(self) -> JobReport:
        """Anonymise the ended cases past their retention (oldest first, a bounded number of index items
        per run, resuming where the last run stopped; erased cases are skipped: idempotent)."""
        at, config, business = self._now(), self._config(), self._business()
        report = JobReport()
        shortest = config.shortest_retention_days()
        if shortest is None:
            return report
        candidates, report.evaluated = self._store.retention_candidates(
            before=at - timedelta(days=shortest), budget=config.retention_scan_items, cases=JOB_ERASURES)
        for number in candidates:
            record = self._store.read_case(number)
            if record is None or record.erased or record.unreadable:
                continue
            report.looked_at += 1
            if not retention_due(record.complaint, at=at, config=config, business=business):
                continue
            if self._erase(record, known_of([record])):
                report.erased += 1
        return report


def _hold_may_have_ended(request: PrivacyRequest, at: datetime) -> bool:
    return request.status == "pending" and any(h.until is None or h.until <= at for h in request.holds)


def _left_received(request: PrivacyRequest, at: datetime) -> bool:
    """Still ``received`` a while after it came in: the call that took it failed before its outcome."""
    return request.status == "received" and request.updated_at < at - RECEIVED_GRACE
