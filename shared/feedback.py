"""The satisfaction survey's answers: on the case, and per department and handler for the reports.

A closed case takes one answer (``POST /complaints/{id}/feedback``): 1-5 stars, what went well or
badly (the ids of ``WorkflowConfig.survey_aspects``) and an optional comment. It is kept

* on the case (``Complaint.feedback``, with the handler and department that resolved it) and as a
  ``feedback`` timeline entry;
* as one item per department and one per handler, written in the same transaction::

      PK = FEEDBACK#DEPT#<department>   SK = <answered at, ISO 8601 UTC>#<complaint_id>
      PK = FEEDBACK#HANDLER#<handler>   SK = <answered at>#<complaint_id>

  with the rating, the aspects, how the case closed, its category and priority - never the comment
  or anything about the customer - so a report reads a department's or a handler's answers of a
  period with one Query (:meth:`FeedbackStore.for_department`, :meth:`FeedbackStore.for_handler`).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from shared.closure import ClosureRefused, Transition
from shared.lifecycle import Status
from shared.models import Complaint, Feedback, TimelineEntry, TimelineKind

COMMENT_MAX = 2_000


def answer(case: Complaint, *, rating: int, aspects: dict[str, str], comment: str | None, at: datetime,
           workflow: Any) -> Transition:
    """Record the survey's answer on a closed case (once). ``workflow``: the WorkflowConfig whose
    ``survey_aspects`` the aspects must name."""
    if case.status != Status.CLOSED:
        raise ClosureRefused("not_closed", "the survey opens once the complaint is closed")
    if case.feedback is not None:
        raise ClosureRefused("already_answered", "you have already answered the survey for this complaint")
    known = workflow.aspect_ids()
    unknown = sorted(set(aspects) - known)
    if unknown:
        raise ClosureRefused("unknown_aspect", f"not survey aspects: {', '.join(unknown)} "
                                               f"(known: {', '.join(sorted(known))})", 422)
    comment = (comment or "").strip() or None
    feedback = Feedback(rating=rating, aspects=aspects, comment=comment, at=at, handler=case.assignee,
                        department=case.department)
    saved = case.model_copy(update={"feedback": feedback, "version": case.version + 1, "updated_at": at})
    entry = TimelineEntry(at=at, kind=TimelineKind.FEEDBACK, actor="customer", text=comment,
                          details={"rating": rating, "aspects": aspects})
    return Transition(saved, [entry], [])


def same_answer(feedback: Feedback, *, rating: int, aspects: dict[str, str], comment: str | None) -> bool:
    """The answer repeated (a double submit): answered again with the case as it is."""
    return (feedback.rating, feedback.aspects, feedback.comment) == (rating, aspects, (comment or "").strip() or None)


@dataclass(frozen=True)
class FeedbackRecord:
    """One answer as the reports read it (no comment, no personal data)."""

    complaint_id: str
    at: str
    rating: int
    aspects: dict[str, str]
    closure: str | None
    category: str | None
    priority: str | None
    department: str | None
    handler: str | None


class FeedbackStore:
    def __init__(self, dynamodb: Any, table: str):
        from shared.items import ItemCodec

        self._db, self._table = dynamodb, table
        codec = ItemCodec()
        self._dump, self._load = codec.dump, codec.load

    def ops(self, case: Complaint) -> list[dict[str, Any]]:
        """The per-department and per-handler items of the case's answer (for its save's ``also``)."""
        from shared.repository import iso

        feedback = case.feedback
        if feedback is None:
            return []
        record = {"complaint_id": case.complaint_id, "at": iso(feedback.at), "rating": feedback.rating,
                  "aspects": dict(feedback.aspects), "closure": case.closure, "category": case.category,
                  "priority": case.priority, "department": feedback.department, "handler": feedback.handler}
        keys = [f"FEEDBACK#DEPT#{feedback.department}" if feedback.department else None,
                f"FEEDBACK#HANDLER#{feedback.handler}" if feedback.handler else None]
        return [{"Put": {"TableName": self._table, "ConditionExpression": "attribute_not_exists(PK)",
                         "Item": self._dump({"PK": pk, "SK": f"{record['at']}#{case.complaint_id}",
                                             **{k: v for k, v in record.items() if v is not None}})}}
                for pk in keys if pk]

    def for_department(self, department: str, since: datetime, until: datetime) -> list[FeedbackRecord]:
        """A department's answers given in ``[since, until]``, oldest first."""
        return self._query(f"FEEDBACK#DEPT#{department}", since, until)

    def for_handler(self, handler_id: str, since: datetime, until: datetime) -> list[FeedbackRecord]:
        return self._query(f"FEEDBACK#HANDLER#{handler_id}", since, until)

    def _query(self, pk: str, since: datetime, until: datetime) -> list[FeedbackRecord]:
        from shared.repository import iso

        kwargs: dict[str, Any] = {
            "TableName": self._table, "KeyConditionExpression": "PK = :pk AND SK BETWEEN :since AND :until",
            "ExpressionAttributeValues": {":pk": {"S": pk}, ":since": {"S": iso(since)},
                                          ":until": {"S": iso(until) + "#~"}}}
        found: list[FeedbackRecord] = []
        while True:
            out = self._db.query(**kwargs)
            for raw in out.get("Items", []):
                item = self._load(raw)
                found.append(FeedbackRecord(**{k: item.get(k) for k in FeedbackRecord.__dataclass_fields__}))
            if "LastEvaluatedKey" not in out:
                return found
            kwargs["ExclusiveStartKey"] = out["LastEvaluatedKey"]


def feedback_store() -> FeedbackStore:
    from shared.aws import client
    from shared.config import settings

    return FeedbackStore(client("dynamodb"), settings().table_name)
