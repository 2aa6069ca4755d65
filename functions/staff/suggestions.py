"""Help for a handler answering a case: canned responses and similar resolved cases.

* ``GET /staff/responses?category=&language=&purpose=`` (policy ``responses.read``): the canned
  responses of config kind ``responses`` (bundled default ``shared/responses_config.json``); with a
  category, its own responses first and then the general ones (``ResponsesConfig.for_case``).
* ``GET /staff/complaints/{id}/suggestions`` (policy ``suggestions.read`` on the case):
  ``{"responses": [...], "similar_cases": [...]}`` - the responses for the case's category and
  language, and up to five resolved or closed cases most like it, with the plan that resolved them.
  The console asks for it next to ``GET /staff/complaints/{id}``; it is a route of its own so that the
  case itself reads fast and decrypts nothing more.

Similar cases: the newest :data:`CANDIDATES` resolved and closed cases of the same category (index
``ByStatus``, newest first, the category as a filter; for an agent or lead, of their departments
only, as they may read no others), ranked by TF-IDF cosine (``shared/similarity.py``) of the case's
history - title, description and the customer's messages - against each candidate's title and
description (what the index holds: no further read per candidate).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from functions.staff.api import authorized_case, complaint_number, staff
from shared.http import ApiError, endpoint, json_response

CANDIDATES = 300  # resolved and closed cases compared with the case, newest first
SIMILAR = 5
PAGE = 200  # index items read per Query page
MAX_PAGES = 10  # per status: a rare category among many cases stops here, with what it found
RESPONSE_PARAMS = {"category", "language", "purpose"}
PURPOSES = ("reply", "request_information", "resolution")
RESOLVED_STATUSES = ("closed", "resolved")


# -- canned responses ----------------------------------------------------------------------------------


@endpoint
def list_responses(request: Any):
    from shared.config_store import config_store
    from shared.policy import require
    from shared.routing_rules import CATEGORIES

    principal = staff(request)
    require(principal, "responses.read")
    params = dict(request.query_params or {})
    problems = [{"field": k, "problem": "unknown query parameter"} for k in params if k not in RESPONSE_PARAMS]
    category, language, purpose = params.get("category") or None, params.get("language") or None, \
        params.get("purpose") or None
    for name, value, allowed in (("category", category, CATEGORIES), ("language", language, ("zh", "en")),
                                 ("purpose", purpose, PURPOSES)):
        if value is not None and value not in allowed:
            problems.append({"field": name, "problem": "must be one of " + ", ".join(allowed)})
    if problems:
        raise ApiError(400, "invalid_query", "some query parameters are invalid", problems)
    current = config_store().current("responses")
    found = select_responses(current.config, category=category, language=language, purpose=purpose)
    return json_response({"responses": [response_view(r) for r in found], "config_version": current.version})


def select_responses(config: Any, *, category: str | None, language: str | None, purpose: str | None) -> list[Any]:
    """With a category: its responses, then the general ones (per language); without: every response.
    ``purpose`` keeps those written for it (and the ones for any purpose)."""
    languages = [language] if language else ["zh", "en"]
    if category:
        found = [r for lang in languages for r in config.for_case(category, lang)]
    else:
        found = [r for r in config.responses if r.language in languages]
    return [r for r in found if purpose is None or r.purpose in (purpose, "any")]


def response_view(response: Any) -> dict[str, Any]:
    return response.model_dump(mode="json")


# -- suggestions for a case ----------------------------------------------------------------------------


@endpoint
def for_case(request: Any, complaint_id: str):
    from shared.config_store import config_store
    from shared.policy import POLICY
    from shared.store import complaint_repository

    principal = staff(request)
    number = complaint_number(complaint_id)
    case = authorized_case(principal, number, "suggestions.read")
    from shared.http import query

    query(request)
    found = complaint_repository().get(number)
    timeline = found[1] if found else []
    # agents and leads may read their departments' cases only: so are the cases suggested to them
    departments = None if principal.role in POLICY["case.read"].anywhere else list(principal.departments)
    candidates = resolved_cases().recent(category=case.category, departments=departments, limit=CANDIDATES)
    responses = config_store().current("responses").config.for_case(case.category, case.language)
    return json_response({
        "complaint_id": case.complaint_id, "category": case.category, "language": case.language,
        "responses": [response_view(r) for r in responses],
        "similar_cases": similar_cases(case, timeline, candidates),
    })


@dataclass(frozen=True)
class ResolvedCase:
    """What the suggestions show of a resolved or closed case (read from the ByStatus index)."""

    complaint_id: str
    status: str
    title: str | None
    description: str
    category: str | None
    department: str | None
    closure: str | None
    feedback_rating: int | None
    plan: Any  # shared.models.ResolutionPlan | None
    resolved_at: str | None
    closed_at: str | None


def similar_cases(case: Any, timeline: list[Any], candidates: list[ResolvedCase], *,
                  limit: int = SIMILAR) -> list[dict[str, Any]]:
    """The candidates most like ``case`` (its history: title, description, the customer's messages)."""
    from shared.models import TimelineKind, Visibility
    from shared.similarity import case_history, rank

    messages = [e.text for e in sorted(timeline, key=lambda e: e.at)
                if e.kind == TimelineKind.CUSTOMER_MESSAGE and e.visibility == Visibility.PUBLIC]
    related = {case.complaint_id, case.merged_into, *case.merged_cases}
    others = [c for c in candidates if c.complaint_id not in related]
    ranked = rank(case_history(case.title, case.description, messages),
                  [(c, case_history(c.title, c.description)) for c in others], limit=limit)
    return [similar_view(c, score) for c, score in ranked]


def similar_view(c: ResolvedCase, score: float) -> dict[str, Any]:
    plan = c.plan
    return {
        "complaint_id": c.complaint_id, "score": score, "title": c.title, "category": c.category,
        "department": c.department, "status": c.status, "closure": c.closure, "resolved_at": c.resolved_at,
        "closed_at": c.closed_at, "feedback_rating": c.feedback_rating,
        "plan": None if plan is None else {
            "state": plan.state, "explanation": plan.explanation,
            "components": [x.model_dump(mode="json", exclude_none=True) for x in plan.components],
        },
    }


# -- the index read ------------------------------------------------------------------------------------


class ResolvedCaseIndex:
    """Resolved and closed cases, newest first, from the ``ByStatus`` index (no Scan): one Query per
    status, the category (and departments) as a filter, only the attributes the suggestions show."""

    FIELDS = ("complaint_id", "status", "title", "description", "category", "department", "closure", "feedback",
              "plan", "resolved_at", "closed_at", "received_key")

    def __init__(self, dynamodb: Any, table: str):
        from shared.items import ItemCodec

        self._db, self._table = dynamodb, table
        self._load = ItemCodec().load

    def recent(self, *, category: str | None, departments: list[str] | None, limit: int) -> list[ResolvedCase]:
        items: list[dict[str, Any]] = []
        for status in RESOLVED_STATUSES:
            items += self._query(status, category, departments, limit)
        items.sort(key=lambda i: i.get("received_key", ""), reverse=True)
        return [_resolved_case(i) for i in items[:limit]]

    def _query(self, status: str, category: str | None, departments: list[str] | None,
               limit: int) -> list[dict[str, Any]]:
        if departments is not None and not departments:
            return []
        names = {"#s": "status", "#rk": "received_key"}
        values: dict[str, Any] = {":s": {"S": status}}
        filters = []
        if category:
            names["#cat"], values[":cat"] = "category", {"S": category}
            filters.append("#cat = :cat")
        if departments is not None:
            names["#dep"] = "department"
            values.update({f":d{i}": {"S": d} for i, d in enumerate(departments)})
            filters.append("#dep IN (" + ", ".join(f":d{i}" for i in range(len(departments))) + ")")
        kwargs: dict[str, Any] = {
            "TableName": self._table, "IndexName": "ByStatus", "KeyConditionExpression": "#s = :s",
            "ExpressionAttributeNames": names, "ExpressionAttributeValues": values,
            "ProjectionExpression": "PK, SK, #rk",  # the index holds the filters' fields, not the texts
            "ScanIndexForward": False, "Limit": PAGE,
        }
        if filters:
            kwargs["FilterExpression"] = " AND ".join(filters)
        from shared.index_reads import fetch

        keys: list[dict[str, Any]] = []
        for _ in range(MAX_PAGES):
            out = self._db.query(**kwargs)
            keys += out.get("Items", [])
            if len(keys) >= limit or "LastEvaluatedKey" not in out:
                break
            kwargs["ExclusiveStartKey"] = out["LastEvaluatedKey"]
        # the shown fields of the cases kept, by key (BatchGetItem, 100 a call)
        return [self._load(i) for i in fetch(self._db, self._table, keys[:limit],
                                             attributes=(*self.FIELDS, "received_key"), keep=("received_key",))]


def _resolved_case(item: dict[str, Any]) -> ResolvedCase:
    from shared.models import ResolutionPlan

    plan = None
    if item.get("plan"):
        try:
            plan = ResolutionPlan.model_validate(item["plan"])
        except ValueError:  # a plan stored by an older shape: shown without it rather than not at all
            plan = None
    feedback = item.get("feedback") or {}
    return ResolvedCase(
        complaint_id=item["complaint_id"], status=item["status"], title=item.get("title"),
        description=item.get("description") or "", category=item.get("category"),
        department=item.get("department"), closure=item.get("closure"),
        feedback_rating=feedback.get("rating") if isinstance(feedback, dict) else None, plan=plan,
        resolved_at=_iso(item.get("resolved_at")), closed_at=_iso(item.get("closed_at")))


def _iso(value: Any) -> str | None:
    """A stored time in the API's form (UTC, milliseconds, ``Z``)."""
    from shared.repository import iso

    if not value:
        return None
    try:
        return iso(datetime.fromisoformat(str(value).replace("Z", "+00:00")))
    except ValueError:
        return None


def resolved_cases() -> ResolvedCaseIndex:
    from shared.aws import client
    from shared.config import settings

    return ResolvedCaseIndex(client("dynamodb"), settings().table_name)
