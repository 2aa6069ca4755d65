"""Pydantic models of the complaint domain: what a customer submits and what a case holds."""
from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from shared.lifecycle import Status
from shared.sla import SlaClock

# Limits shared by the server's validation and the form's client-side validation (see FORM_RULES).
DESCRIPTION_MAX = 20_000
TITLE_MAX = 200
NAME_MAX = 100
SHORT_TEXT_MAX = 200
EXPECTED_RESOLUTION_MAX = 2_000
MAX_ATTACHMENTS = 10
PHONE_PATTERN = r"^\+?[0-9(][0-9 ()\-.]{5,22}[0-9]$"
REGION_PATTERN = r"^[A-Za-z]{2}(-[A-Za-z0-9]{1,3})?$"  # ISO 3166-1 country or 3166-2 subdivision
ATTACHMENT_ID_PATTERN = r"^att_[0-9a-f]{24}$"
HONEYPOT_MAX = 2_000
CHALLENGE_TOKEN_MAX = 2_048
SIZE_MAX = 2**53  # a declared upload size beyond this is no file size (JSON's safe integers)
VERSION_MAX = 2**53  # nor is a version (every request model bounds its numbers)


class Channel(StrEnum):
    WEB = "web"
    APP = "app"
    HOTLINE = "hotline"
    SOCIAL = "social"
    EMAIL = "email"


Language = Literal["zh", "en"]


def _in_future(value: date | datetime) -> bool:
    """Later than now, allowing for clock skew and for the customer's time zone: a plain date is
    the customer's local date, which may be one day ahead of UTC (e.g. China, UTC+8)."""
    now = datetime.now(timezone.utc)
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        return aware > now + timedelta(minutes=5)
    return value > now.date() + timedelta(days=1)


def _strip(value: str) -> str:
    return value.strip()


def _phone(value: str) -> str:
    if not re.match(PHONE_PATTERN, value):
        raise ValueError("is not a phone number (digits, optional leading +, spaces or dashes)")
    digits = re.sub(r"[^0-9]", "", value)
    if not 7 <= len(digits) <= 15:
        raise ValueError("must have between 7 and 15 digits")
    return ("+" if value.startswith("+") else "") + digits


def _email(value: str) -> str:
    # pydantic's EmailStr check, imported on the first address: email_validator compiles its regular
    # expressions on import (~20 ms), which functions that never validate an address should not pay
    from pydantic.networks import validate_email

    return validate_email(value)[1]


# pydantic's EmailStr (same checks, normalisation, errors and JSON schema), loading email_validator on use
EmailAddress = Annotated[str, AfterValidator(_email), Field(json_schema_extra={"format": "email"})]


def Text(max_length: int, min_length: int = 0):  # noqa: N802 - reads like a type
    return Annotated[str, AfterValidator(_strip), StringConstraints(min_length=min_length, max_length=max_length)]


def _unique_ids(value: list[str]) -> list[str]:
    if len(set(value)) != len(value):
        raise ValueError("lists the same attachment twice")
    return value


# uploads (POST /complaints/attachments) a submission or a customer's message attaches
AttachmentIds = Annotated[list[Annotated[str, StringConstraints(pattern=ATTACHMENT_ID_PATTERN)]],
                          Field(max_length=MAX_ATTACHMENTS), AfterValidator(_unique_ids)]
RequiredText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
Phone = Annotated[str, StringConstraints(strip_whitespace=True, max_length=30), AfterValidator(_phone)]


class _Input(BaseModel):
    """Submitted data: unknown fields are rejected by name, types are not coerced from numbers. Built on
    first validation: only the intake reads these bodies, other functions' cold starts do not pay for them."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, defer_build=True)


class CustomerIn(_Input):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=NAME_MAX)]
    email: Annotated[EmailAddress, StringConstraints(max_length=254)] | None = None
    phone: Phone | None = None
    member_id: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)] | None = None
    preferred_language: Language | None = None

    @model_validator(mode="after")
    def _reachable(self) -> "CustomerIn":
        if not self.email and not self.phone:
            raise ValueError("give an email address or a phone number so we can reach you")
        return self


class ProductIn(_Input):
    name: Annotated[str, StringConstraints(max_length=SHORT_TEXT_MAX)] | None = None
    sku: Annotated[str, StringConstraints(max_length=64)] | None = None
    batch: Annotated[str, StringConstraints(max_length=64)] | None = None
    purchase_channel: Annotated[str, StringConstraints(max_length=SHORT_TEXT_MAX)] | None = None
    purchased_at: date | None = None
    order_id: Annotated[str, StringConstraints(max_length=64)] | None = None

    @field_validator("purchased_at")
    @classmethod
    def _not_future(cls, value: date | None) -> date | None:
        if value and _in_future(value):
            raise ValueError("cannot be in the future")
        return value


class ComplaintSubmission(_Input):
    """The body of ``POST /complaints``."""

    description: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=DESCRIPTION_MAX)]
    title: Annotated[str, StringConstraints(max_length=TITLE_MAX)] | None = None
    customer: CustomerIn
    product: ProductIn | None = None
    channel: Channel = Channel.WEB
    expected_resolution: Annotated[str, StringConstraints(max_length=EXPECTED_RESOLUTION_MAX)] | None = None
    attachment_ids: AttachmentIds = []
    occurred_at: datetime | date | None = None
    region: Annotated[str, StringConstraints(strip_whitespace=True, to_upper=True, pattern=REGION_PATTERN)] | None = None
    # the web form's guards (docs/security.md, "Abuse"), never stored and not part of the request's
    # fingerprint (a retry with a new challenge token is the same complaint): ``website`` is a field
    # people never see (a filled one is a bot: 400 ``rejected``); ``challenge_token`` the bot
    # challenge's answer when one is configured (shared/challenge.py)
    website: Annotated[str, StringConstraints(max_length=HONEYPOT_MAX)] | None = Field(None, exclude=True)
    challenge_token: Annotated[str, StringConstraints(max_length=CHALLENGE_TOKEN_MAX)] | None = Field(
        None, exclude=True)

    @field_validator("occurred_at")
    @classmethod
    def _occurred_not_future(cls, value: datetime | date | None) -> datetime | date | None:
        if value is not None and _in_future(value):
            raise ValueError("cannot be in the future")
        return value


class AttachmentUploadRequest(_Input):
    """The body of ``POST /complaints/attachments``."""

    filename: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]
    content_type: Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=127)]
    size: int | None = Field(None, ge=1, le=SIZE_MAX,
                             description="declared size in bytes; the upload policy enforces the cap")


# ----------------------------------------------------------------------------------------------
# What a case holds


class Customer(BaseModel):
    """Contact data: personal data, encrypted at field level before it reaches the store."""

    name: str
    email: str | None = None
    phone: str | None = None
    member_id: str | None = None
    preferred_language: Language | None = None


class Product(BaseModel):
    name: str | None = None
    sku: str | None = None
    batch: str | None = None
    purchase_channel: str | None = None
    purchased_at: date | None = None
    order_id: str | None = None


class Attachment(BaseModel):
    attachment_id: str
    filename: str
    content_type: str
    size: int
    key: str


class TimelineKind(StrEnum):
    RECEIVED = "received"
    ACKNOWLEDGED = "acknowledged"
    STATUS_CHANGED = "status_changed"
    CUSTOMER_MESSAGE = "customer_message"
    STAFF_REPLY = "staff_reply"
    INTERNAL_NOTE = "internal_note"
    CLASSIFIED = "classified"  # the router's decision, with its explanation (internal)
    REPEAT_RECEIVED = "repeat_received"  # on the original: the customer complained again (internal)
    CLUSTER_LINKED = "cluster_linked"  # other customers report the same product batch or order (internal)
    CLASSIFICATION_CORRECTED = "classification_corrected"  # a handler changed category or priority (internal)
    # routing and SLA clocks (shared/assignment.py, functions/router/sweep.py) - all internal
    ROUTED = "routed"  # the department chosen, by which rule
    ASSIGNED = "assigned"  # a handler took the case (automatic, claimed or by a lead), with the reason
    QUEUED = "queued"  # nobody could take it: it waits in the department queue, the lead is told
    TRANSFERRED = "transferred"  # to another department or handler, with the reason
    CLOCKS_STARTED = "clocks_started"  # every SLA and regulatory clock that applies, with its deadline
    CLOCK_PAUSED = "clock_paused"  # waiting on the customer
    CLOCK_RESUMED = "clock_resumed"  # the customer answered: deadlines moved by the time paused
    CLOCK_STOPPED = "clock_stopped"  # met (or missed) by the first response or the resolution
    SLA_WARNING = "sla_warning"  # a share of a clock's target used; the assignee told
    SLA_BREACHED = "sla_breached"  # a deadline passed; the case escalated to the department lead
    ESCALATED = "escalated"  # a further escalation level; the manager told
    REDRIVEN = "redriven"  # the sweep sent a stuck case through its step again
    STUCK = "stuck"  # a case kept waiting before routing; a person told
    # the handler's workflow and the customer's closure (shared/workflow.py, shared/closure.py)
    TASK_OPENED = "task_opened"  # an investigation task for another department, with its due date (internal)
    TASK_CLOSED = "task_closed"  # done (with its outcome) or cancelled (internal)
    PLAN_PROPOSED = "plan_proposed"  # a resolution plan; public once the customer may see it
    PLAN_APPROVED = "plan_approved"  # a manager approved a plan above the limits (internal)
    PLAN_REJECTED = "plan_rejected"  # a manager rejected it, with a comment (internal)
    MERGED = "merged"  # a duplicate merged into this case / this case merged into another
    SPLIT = "split"  # a wrongly merged case taken out again
    REOPENED = "reopened"  # by a handler, or because the customer disputed the resolution
    CONFIRMED = "confirmed"  # the customer accepted the resolution
    DISPUTED = "disputed"  # the customer did not accept it, with their reason
    FEEDBACK = "feedback"  # the satisfaction survey's answer


class Visibility(StrEnum):
    PUBLIC = "public"  # shown to the customer on the tracking page
    INTERNAL = "internal"  # staff only


class TimelineEntry(BaseModel):
    at: datetime
    kind: TimelineKind
    visibility: Visibility = Visibility.PUBLIC
    actor: str = "system"  # "system", "customer" or "staff:<subject>"
    status: Status | None = None
    text: str | None = None
    details: dict[str, Any] = {}


Money = Annotated[Decimal, Field(ge=0, le=Decimal("10000000"), max_digits=12, decimal_places=2)]
Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]  # ISO 4217
PLAN_TYPES = ("refund", "replacement", "compensation", "repair", "apology", "explanation")


class PlanComponent(BaseModel):
    """One part of a resolution plan: a refund of 120.00 CNY, a replacement, an apology ..."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    type: Literal["refund", "replacement", "compensation", "repair", "apology", "explanation"]
    amount: Money | None = None  # refund and compensation: required
    currency: Currency | None = None
    description: Annotated[str, StringConstraints(max_length=2_000)] | None = None

    @model_validator(mode="after")
    def _money(self) -> "PlanComponent":
        if self.type in ("refund", "compensation"):
            if self.amount is None or self.currency is None:
                raise ValueError(f"a {self.type} needs an amount and a currency")
        elif self.amount is not None:
            raise ValueError(f"a {self.type} has no amount")
        return self


class PlanApproval(BaseModel):
    required: bool = False
    reasons: list[str] = []  # why it needs a manager: "amount 800.00 CNY above 500.00", "priority P1" ...
    decided_by: str | None = None
    decided_at: datetime | None = None
    approved: bool | None = None
    comment: str | None = None


class ResolutionPlan(BaseModel):
    """What the company offers to resolve the case, and where the offer stands."""

    plan_id: str
    components: list[PlanComponent]
    explanation: str  # customer-facing
    internal_note: str | None = None
    proposed_by: str
    proposed_at: datetime
    # pending_approval -> proposed (the customer sees it) -> accepted | disputed; or rejected / superseded
    state: Literal["pending_approval", "proposed", "rejected", "accepted", "disputed", "superseded"]
    approval: PlanApproval = PlanApproval()


class InvestigationTask(BaseModel):
    """Work another department does for the case (e.g. quality tests the batch); the case cannot be
    resolved while one is open."""

    task_id: str
    department: str
    title: str
    details: str | None = None
    assignee: str | None = None
    due_at: datetime
    state: Literal["open", "done", "cancelled"] = "open"
    opened_by: str
    opened_at: datetime
    closed_by: str | None = None
    closed_at: datetime | None = None
    outcome: str | None = None


class Feedback(BaseModel):
    """The satisfaction survey's answer, kept with the handler and department that resolved the case."""

    rating: int = Field(ge=1, le=5)
    aspects: dict[str, Literal["good", "bad"]] = {}  # survey aspect id -> went well / went badly
    comment: str | None = None
    at: datetime
    handler: str | None = None
    department: str | None = None


class Complaint(BaseModel):
    complaint_id: str
    version: int = 1
    status: Status = Status.RECEIVED
    channel: Channel
    language: Language
    title: str | None = None
    description: str
    expected_resolution: str | None = None
    customer: Customer | None = None  # None when read without decrypting contact data
    product: Product | None = None
    attachments: list[Attachment] = []
    occurred_at: datetime | date | None = None
    received_at: datetime
    updated_at: datetime
    tracking_token_hashes: list[str]  # one per token given out (form answer, acknowledgement)
    category: str | None = None
    department: str | None = None
    priority: str | None = None
    assignee: str | None = None
    escalated: bool = False
    reopened_count: int = 0
    # set by the router (functions/router; docs/router.md)
    classification: dict[str, Any] | None = None  # the decision and its explanation (staff only)
    needs_triage: bool = False  # confidence below the threshold: a handler picks the category
    repeat_of: str | None = None  # this case repeats that one: no work item of its own
    repeat_count: int = 0  # repeats received for this case
    cluster_id: str | None = None  # other customers report the same product batch or order
    contact_hashes: dict[str, str] = {}  # keyed hashes of email/phone/member id (read-only: written at intake)
    region: str | None = None  # the customer's ISO 3166 country/subdivision, when given (routing, jurisdiction)
    # routing and SLA (shared/assignment.py, shared/sla.py; docs/routing-and-sla.md)
    routing: dict[str, Any] | None = None  # the department decision and its explanation
    queued_at: datetime | None = None  # waiting in the department queue (no handler) since
    clocks: list[SlaClock] = []  # every SLA and regulatory clock that applies
    escalation_level: int = 0  # highest escalation level reached by any clock
    next_check_at: datetime | None = None  # when the sweep must look at the case next (ByDue index)
    redrives: int = 0  # times the sweep re-drove the case through its current step
    # the workflow and the closure (shared/workflow.py, shared/closure.py; docs/workflow.md)
    plan: ResolutionPlan | None = None  # the current resolution plan (earlier ones are on the timeline)
    tasks: list[InvestigationTask] = []
    merged_into: str | None = None  # this case is a duplicate handled in that one
    merged_cases: list[str] = []  # duplicates merged into this case
    status_before_merge: Status | None = None  # where a split puts the case back
    resolved_at: datetime | None = None
    confirmation_due_at: datetime | None = None  # resolved: closes by itself then if the customer is silent
    closed_at: datetime | None = None
    closure: str | None = None  # confirmed | resolved_without_confirmation | rejected | withdrawn | merged
    feedback: Feedback | None = None

    def open_tasks(self) -> list[InvestigationTask]:
        return [t for t in self.tasks if t.state == "open"]


def detect_language(*texts: str | None) -> Language:
    """Chinese when a noticeable share of letters are CJK ideographs, else English."""
    text = " ".join(t for t in texts if t)
    cjk = sum(1 for ch in text if "\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf")
    latin = sum(1 for ch in text if ch.isascii() and ch.isalpha())
    return "zh" if cjk and cjk * 3 >= latin else "en"


# Constraints the form page validates before posting, read from the same constants as above.
FORM_RULES: dict[str, Any] = {
    "description": {"required": True, "max_length": DESCRIPTION_MAX},
    "title": {"max_length": TITLE_MAX},
    "customer.name": {"required": True, "max_length": NAME_MAX},
    "customer.email": {"max_length": 254, "format": "email"},
    "customer.phone": {"pattern": PHONE_PATTERN, "min_digits": 7, "max_digits": 15},
    "customer.contact": {"one_of": ["customer.email", "customer.phone"]},
    "customer.member_id": {"max_length": 64},
    "product.name": {"max_length": SHORT_TEXT_MAX},
    "product.sku": {"max_length": 64},
    "product.batch": {"max_length": 64},
    "product.order_id": {"max_length": 64},
    "product.purchase_channel": {"max_length": SHORT_TEXT_MAX},
    "expected_resolution": {"max_length": EXPECTED_RESOLUTION_MAX},
    "attachments": {"max_count": MAX_ATTACHMENTS},
    "channels": [c.value for c in Channel],
}
