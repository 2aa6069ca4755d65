"""The compensation ledger: what the company offered its customers, month by month, for reports to sum.

A plan's refund and compensation components are written to the ledger when the customer may see the
plan (proposed without approval, or approved), in the transaction that shows it to them:

    PK = LEDGER#<yyyy-mm>   SK = <at>#<complaint_id>#<plan_id>#<n>      one line per money component
    PK = LEDGER#<yyyy-mm>   SK = <at>#<complaint_id>#<plan_id>#r<n>     its reversal (negative amount,
                                                                        ``reverses`` = the line's SK)

``at`` is when the plan became visible (its proposal, or the manager's approval); ``n`` numbers the
plan's money components from 1, so a line's key follows from the plan alone. A visible plan that is
later superseded (a new plan, or the case ended without it) is reversed in the month of the change:
the reversal copies the original line's dimensions (department, category, ...), so every total nets
to the compensation of the plans in force. Lines are written only if absent (``attribute_not_exists``).

Amounts are ``Decimal`` here and decimal strings in the store and in JSON; totals never touch a float.
"""
from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from decimal import Decimal
from typing import Any, Iterable

from pydantic import BaseModel

MONEY_TYPES = ("refund", "compensation")
LEDGER = "LEDGER#"


class LedgerLine(BaseModel):
    month: str  # yyyy-mm of ``at``
    sk: str
    at: datetime
    complaint_id: str
    plan_id: str
    amount: Decimal  # negative for a reversal
    currency: str
    type: str  # refund | compensation
    department: str | None = None
    category: str | None = None
    priority: str | None = None
    handler: str | None = None
    sku: str | None = None
    batch: str | None = None
    reverses: str | None = None  # the SK of the line this one cancels

    def view(self) -> dict[str, Any]:
        from shared.repository import iso

        return {"month": self.month, "key": self.sk, "at": iso(self.at), "complaint_id": self.complaint_id,
                "plan_id": self.plan_id, "amount": _money(self.amount), "currency": self.currency, "type": self.type,
                "department": self.department, "category": self.category, "priority": self.priority,
                "handler": self.handler, "sku": self.sku, "batch": self.batch, "reverses": self.reverses}


def visible_since(plan: Any) -> datetime | None:
    """When the customer could first see ``plan`` (None: never - pending approval or rejected)."""
    if plan.state in ("pending_approval", "rejected"):
        return None
    if plan.approval.required:
        return plan.approval.decided_at
    return plan.proposed_at


def lines_for(case: Any, plan: Any, at: datetime) -> list[LedgerLine]:
    """The lines of ``plan`` (on ``case``) becoming visible at ``at``."""
    from shared.repository import iso

    product = case.product
    lines = []
    money = [c for c in plan.components if c.type in MONEY_TYPES]
    for n, component in enumerate(money, start=1):
        lines.append(LedgerLine(
            month=_month(at), sk=f"{iso(at)}#{case.complaint_id}#{plan.plan_id}#{n}", at=at,
            complaint_id=case.complaint_id, plan_id=plan.plan_id, amount=component.amount,
            currency=component.currency, type=component.type, department=case.department, category=case.category,
            priority=case.priority, handler=case.assignee or _subject(plan.proposed_by),
            sku=product.sku if product else None, batch=product.batch if product else None))
    return lines


def line_keys(case_id: str, plan: Any) -> list[tuple[str, str]]:
    """(PK, SK) of the lines a visible ``plan`` wrote (nothing for a plan the customer never saw)."""
    from shared.repository import iso

    at = visible_since(plan)
    if at is None:
        return []
    count = sum(1 for c in plan.components if c.type in MONEY_TYPES)
    return [(LEDGER + _month(at), f"{iso(at)}#{case_id}#{plan.plan_id}#{n}") for n in range(1, count + 1)]


def reversal_of(line: LedgerLine, at: datetime) -> LedgerLine:
    from shared.repository import iso

    n = line.sk.rsplit("#", 1)[1]
    return line.model_copy(update={"month": _month(at), "at": at, "amount": -line.amount, "reverses": line.sk,
                                   "sk": f"{iso(at)}#{line.complaint_id}#{line.plan_id}#r{n}"})


def totals(lines: Iterable[LedgerLine]) -> dict[str, dict[str, str]]:
    """Per currency: the sum of each type and the total, as decimal strings."""
    sums: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for line in lines:
        sums[line.currency][line.type] += line.amount
        sums[line.currency]["total"] += line.amount
    return {currency: {kind: _money(amount) for kind, amount in sorted(by_type.items())}
            for currency, by_type in sorted(sums.items())}


def _money(amount: Decimal) -> str:
    return str(amount.quantize(Decimal("0.01")))


def _month(at: datetime) -> str:
    from shared.repository import iso

    return iso(at)[:7]


def _subject(actor: str | None) -> str | None:
    return actor.removeprefix("staff:") if actor else None


class Ledger:
    """The ledger's items in the complaints table (no Scan: a month is one partition)."""

    def __init__(self, dynamodb: Any, table: str):
        from shared.items import ItemCodec

        self._db, self._table = dynamodb, table
        codec = ItemCodec()
        self._dump, self._load = codec.dump, codec.load

    def put_ops(self, lines: Iterable[LedgerLine]) -> list[dict[str, Any]]:
        """Transaction operations writing ``lines``, each only if absent."""
        return [{"Put": {"TableName": self._table, "Item": self._dump(self._item(line)),
                         "ConditionExpression": "attribute_not_exists(PK)"}} for line in lines]

    def lines(self, keys: Iterable[tuple[str, str]]) -> list[LedgerLine]:
        """The lines with these keys (consistent ``BatchGetItem``); missing ones are left out."""
        keys = list(dict.fromkeys(keys))
        found: list[LedgerLine] = []
        for start in range(0, len(keys), 100):
            request = {self._table: {"Keys": [self._dump({"PK": pk, "SK": sk}) for pk, sk in keys[start:start + 100]],
                                     "ConsistentRead": True}}
            while request:
                out = self._db.batch_get_item(RequestItems=request)
                found += [self._line(self._load(raw)) for raw in out.get("Responses", {}).get(self._table, [])]
                request = out.get("UnprocessedKeys") or {}
        order = {key[1]: i for i, key in enumerate(keys)}
        return sorted(found, key=lambda line: order.get(line.sk, 0))

    def month(self, month: str, *, department: str | None = None) -> list[LedgerLine]:
        """Every line of ``month`` (``yyyy-mm``) in time order, of one department if given."""
        kwargs: dict[str, Any] = {
            "TableName": self._table, "KeyConditionExpression": "PK = :pk",
            "ExpressionAttributeValues": {":pk": {"S": LEDGER + month}}, "ConsistentRead": True}
        if department:
            kwargs.update(FilterExpression="#d = :d", ExpressionAttributeNames={"#d": "department"})
            kwargs["ExpressionAttributeValues"][":d"] = {"S": department}
        found: list[LedgerLine] = []
        while True:
            out = self._db.query(**kwargs)
            found += [self._line(self._load(raw)) for raw in out.get("Items", [])]
            if "LastEvaluatedKey" not in out:
                return found
            kwargs["ExclusiveStartKey"] = out["LastEvaluatedKey"]

    @staticmethod
    def _item(line: LedgerLine) -> dict[str, Any]:
        data = line.model_dump(mode="json", exclude={"month", "sk"})
        data["amount"] = _money(line.amount)
        return {"PK": LEDGER + line.month, "SK": line.sk, **data}

    @staticmethod
    def _line(item: dict[str, Any]) -> LedgerLine:
        fields = {k: v for k, v in item.items() if k in LedgerLine.model_fields}
        return LedgerLine.model_validate({**fields, "month": item["PK"][len(LEDGER):], "sk": item["SK"],
                                          "amount": Decimal(item["amount"])})


def ledger() -> Ledger:
    from shared.aws import client
    from shared.config import settings

    return Ledger(client("dynamodb"), settings().table_name)
