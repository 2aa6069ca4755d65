"""Root-cause alerts (spikes and concentrations of complaints) with their evidence, once per episode.

    PK = RCALERT#<yyyy-mm>                             SK = <first_day>#<alert_id>   the alert (month of its first day)
    PK = RCSERIES#<kind>#<dimension>#<value>           SK = <first_day>              its series' episode mark

An alert is created with both items in one transaction, each only if absent, so two runs of the
hourly job (or a retried one) that find the same episode create it once. Before creating, the job
reads the series' latest mark (one Query, newest first, ``Limit 1``): a run of days that overlaps or
touches that episode is the same episode (``shared.root_causes.same_episode``), which is extended
(its last day and counts) and never announced again. ``announced_at`` is set once the
``StaffAlertRaised`` event is out; an alert without it is announced again by the next run (the
notifier delivers an ``alert_id`` once per recipient).

Listings read the month partitions newest first (``Query``; no Scan). Evidence holds case numbers,
departments and up to three text samples of 200 characters: staff-only data, never logged.

:class:`EpisodeCases` finds the cases behind an episode, bounded and without a Scan: the ``ByMonth``
index over the episode's days, filtered on the attribute the counters took the value from (a batch
counter holds the batch alone, while the router's batch index, ``BATCH#<SKU>#<batch>``, needs the SKU
too; the cases found carry their ``cluster_id``, which the evidence lists).
"""
from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Iterable

from pydantic import BaseModel

from shared.aws import error_code

ALERT_PREFIX, SERIES_PREFIX = "RCALERT#", "RCSERIES#"
KINDS = ("spike", "concentration", "similar_texts")
MAX_CASES, MAX_SAMPLES, SAMPLE_CHARS = 10, 3, 200
MAX_MATCHED = 50  # cases read per episode at most (departments, clusters, samples are taken from them)
MAX_PAGES = 10  # index pages read per episode at most
MAX_MONTHS = 24  # months a listing walks back at most
MAX_MEMBERS = 200  # cases of a text cluster kept with its alert
_SK = re.compile(r"^\d{4}-\d\d-\d\d#(spike|concentration|similar_texts):.+$", re.S)


class InvalidAlertCursor(ValueError):
    """A cursor this API did not hand out (answered as 400)."""


class EvidenceCase(BaseModel):
    complaint_id: str
    received_at: str
    department: str | None = None
    category: str | None = None
    cluster_id: str | None = None


class TextSample(BaseModel):
    complaint_id: str
    department: str | None = None
    text: str  # title and description, at most SAMPLE_CHARS characters


class Evidence(BaseModel):
    days: list[dict[str, Any]]  # per day of the episode: count and the test's figures (DayTest/DayShare.as_dict)
    history: list[dict[str, Any]] = []  # the counts of the days before the episode: {"day", "count"}
    cases: list[EvidenceCase] = []  # at most MAX_CASES, oldest first
    cases_found: int = 0  # cases read for the episode (at most MAX_MATCHED)
    samples: list[TextSample] = []  # at most MAX_SAMPLES: the texts most like the others
    clusters: list[dict[str, Any]] = []  # the router's clusters among the cases: {"cluster_id", "cases"}
    text_similarity: float | None = None  # mean pairwise cosine (TF-IDF) of the cases' texts: same problem?
    # similar_texts: every case of the cluster (at most MAX_MEMBERS) and how many customers wrote them
    members: list[str] = []
    customers: int | None = None


class RootCauseAlert(BaseModel):
    alert_id: str
    kind: str  # spike | concentration | similar_texts
    dimension: str
    value: str
    first_day: str
    last_day: str
    reason: str
    raised_at: str
    updated_at: str
    departments: list[str] = []  # of the cases found: who may see it (leads: their departments)
    evidence: Evidence
    recipients: list[str] = []
    complaint_id: str | None = None  # the case the announcement names (the episode's first case found)
    announced_at: str | None = None

    @property
    def month(self) -> str:
        return self.first_day[:7]

    @property
    def sort_key(self) -> str:
        return f"{self.first_day}#{self.alert_id}"

    def view(self, departments: Iterable[str] | None = None) -> dict[str, Any]:
        """The API's view; for a lead (``departments`` given) the cases and samples of those departments only."""
        data = self.model_dump(mode="json", exclude={"recipients"})
        if departments is not None:
            keep = set(departments)
            evidence = data["evidence"]
            evidence["cases"] = [c for c in evidence["cases"] if c.get("department") in keep]
            evidence["samples"] = [s for s in evidence["samples"] if s.get("department") in keep]
            data["departments"] = [d for d in data["departments"] if d in keep]
        return data


@dataclass(frozen=True)
class EpisodeMark:
    alert_id: str
    first_day: str
    last_day: str


@dataclass(frozen=True)
class AlertPage:
    alerts: list[RootCauseAlert]
    cursor: str | None


def series_key(kind: str, dimension: str, value: str) -> str:
    return f"{SERIES_PREFIX}{kind}#{dimension}#{value}"


def sample_text(title: str | None, description: str | None, limit: int = SAMPLE_CHARS) -> str:
    """Title and description on one line, at most ``limit`` characters (an ellipsis marks a cut)."""
    text = " ".join(" ".join(t for t in (title, description) if t).split())
    return text if len(text) <= limit else text[:limit - 1].rstrip() + "…"


def _encode_cursor(month: str, sk: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"m": month, "sk": sk}).encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[str, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        state = json.loads(raw)
        month, sk = state["m"], state["sk"]
    except (binascii.Error, ValueError, UnicodeDecodeError, TypeError, KeyError):
        raise InvalidAlertCursor("cursor is not one this API returned") from None
    if not (isinstance(month, str) and re.fullmatch(r"\d{4}-\d\d", month) and isinstance(sk, str) and _SK.match(sk)):
        raise InvalidAlertCursor("cursor is not one this API returned")
    return month, sk


def _previous_month(month: str) -> str:
    year, mon = int(month[:4]), int(month[5:7])
    return f"{year - (mon == 1):04d}-{(mon - 2) % 12 + 1:02d}"


class AlertStore:
    def __init__(self, dynamodb: Any, table: str):
        from shared.items import ItemCodec

        self._db, self._table = dynamodb, table
        codec = ItemCodec()
        self._dump, self._load = codec.dump, codec.load

    # -- episodes ---------------------------------------------------------------------------------
    def latest(self, kind: str, dimension: str, value: str) -> EpisodeMark | None:
        """The series' most recent episode (by first day), if any."""
        out = self._db.query(TableName=self._table, KeyConditionExpression="PK = :pk",
                             ExpressionAttributeValues={":pk": {"S": series_key(kind, dimension, value)}},
                             ScanIndexForward=False, Limit=1, ConsistentRead=True)
        items = [self._load(i) for i in out.get("Items", [])]
        return EpisodeMark(items[0]["alert_id"], items[0]["SK"], items[0]["last_day"]) if items else None

    def get(self, first_day: str, alert_id: str) -> RootCauseAlert | None:
        out = self._db.get_item(TableName=self._table, ConsistentRead=True,
                                Key=self._dump({"PK": ALERT_PREFIX + first_day[:7], "SK": f"{first_day}#{alert_id}"}))
        return self._alert(out["Item"]) if "Item" in out else None

    def create(self, alert: RootCauseAlert) -> bool:
        """Store a new alert and its series mark; False if this episode's alert exists already."""
        item = {"PK": ALERT_PREFIX + alert.month, "SK": alert.sort_key, **alert.model_dump(mode="json")}
        mark = {"PK": series_key(alert.kind, alert.dimension, alert.value), "SK": alert.first_day,
                "alert_id": alert.alert_id, "last_day": alert.last_day}
        absent = "attribute_not_exists(PK)"
        return self._transact([
            {"Put": {"TableName": self._table, "Item": self._dump(item), "ConditionExpression": absent}},
            {"Put": {"TableName": self._table, "Item": self._dump(mark), "ConditionExpression": absent}},
        ])

    def _transact(self, operations: list[dict[str, Any]]) -> bool:
        """One transaction; False when a condition refused it (nothing was written)."""
        try:
            self._db.transact_write_items(TransactItems=operations)
        except Exception as exc:
            reasons = [r.get("Code") for r in getattr(exc, "response", {}).get("CancellationReasons") or []]
            if error_code(exc) == "TransactionCanceledException" and "ConditionalCheckFailed" in reasons:
                return False
            raise
        return True

    def extend(self, alert: RootCauseAlert) -> bool:
        """Save a known episode's later days (last day, counts, reason, evidence); False when another
        run has already saved later ones (an episode never moves back)."""
        values = self._dump({":last": alert.last_day, ":evidence": alert.evidence.model_dump(mode="json"),
                             ":reason": alert.reason, ":updated": alert.updated_at,
                             ":departments": alert.departments})
        update_alert = {"TableName": self._table,
                        "Key": self._dump({"PK": ALERT_PREFIX + alert.month, "SK": alert.sort_key}),
                        "UpdateExpression": ("SET last_day = :last, evidence = :evidence, reason = :reason, "
                                             "updated_at = :updated, departments = :departments"),
                        "ConditionExpression": "attribute_exists(PK) AND last_day <= :last",
                        "ExpressionAttributeValues": values}
        update_mark = {"TableName": self._table,
                       "Key": self._dump({"PK": series_key(alert.kind, alert.dimension, alert.value),
                                          "SK": alert.first_day}),
                       "UpdateExpression": "SET last_day = :last",
                       "ConditionExpression": "attribute_exists(PK) AND last_day <= :last",
                       "ExpressionAttributeValues": self._dump({":last": alert.last_day})}
        return self._transact([{"Update": update_alert}, {"Update": update_mark}])

    def mark_announced(self, alert: RootCauseAlert, at: str) -> None:
        self._db.update_item(
            TableName=self._table, Key=self._dump({"PK": ALERT_PREFIX + alert.month, "SK": alert.sort_key}),
            UpdateExpression=("SET announced_at = if_not_exists(announced_at, :at), recipients = :r, "
                              "complaint_id = :cid"),
            ConditionExpression="attribute_exists(PK)",
            ExpressionAttributeValues=self._dump({":at": at, ":r": alert.recipients, ":cid": alert.complaint_id}))

    # -- listing ----------------------------------------------------------------------------------
    def list(self, *, since: date, until: date, kind: str | None = None, departments: list[str] | None = None,
             limit: int = 25, cursor: str | None = None) -> AlertPage:
        """Alerts whose episode began between ``since`` and ``until``, newest first; ``kind`` and a lead's
        ``departments`` (any in common with the alert's) are filters on the month Queries."""
        month, start_sk = _decode_cursor(cursor) if cursor else (until.isoformat()[:7], None)
        oldest = max(since.isoformat()[:7], _months_back(until, MAX_MONTHS))
        names: dict[str, str] = {"#pk": "PK", "#sk": "SK"}
        values: dict[str, Any] = {":lo": {"S": since.isoformat()}, ":hi": {"S": until.isoformat() + "#~"}}
        filters: list[str] = []
        if kind:
            names["#k"] = "kind"
            values[":kind"] = {"S": kind}
            filters.append("#k = :kind")
        if departments is not None:
            names["#d"] = "departments"
            values.update({f":d{i}": {"S": d} for i, d in enumerate(departments or ["-"])})
            filters.append("(" + " OR ".join(f"contains(#d, :d{i})" for i in range(len(departments or ["-"]))) + ")")
        found: list[RootCauseAlert] = []
        while month >= oldest:
            kwargs: dict[str, Any] = {
                "TableName": self._table, "KeyConditionExpression": "#pk = :pk AND #sk BETWEEN :lo AND :hi",
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": {**values, ":pk": {"S": ALERT_PREFIX + month}},
                "ScanIndexForward": False, "Limit": limit + 1,
            }
            if filters:
                kwargs["FilterExpression"] = " AND ".join(filters)
            if start_sk:
                kwargs["ExclusiveStartKey"] = {"PK": {"S": ALERT_PREFIX + month}, "SK": {"S": start_sk}}
            out = self._db.query(**kwargs)
            found.extend(self._alert(i) for i in out.get("Items", []))
            if len(found) > limit:
                found = found[:limit]
                return AlertPage(found, _encode_cursor(found[-1].month, found[-1].sort_key))
            last = out.get("LastEvaluatedKey")
            if last:
                start_sk = last["SK"]["S"]
                continue
            month, start_sk = _previous_month(month), None
        return AlertPage(found, None)

    # -- items ------------------------------------------------------------------------------------
    def _alert(self, raw: dict[str, Any]) -> RootCauseAlert:
        item = self._load(raw)
        return RootCauseAlert.model_validate({k: v for k, v in item.items() if k in RootCauseAlert.model_fields})


def _months_back(until: date, count: int) -> str:
    month = until.isoformat()[:7]
    for _ in range(count - 1):
        month = _previous_month(month)
    return month


# -- the cases behind an episode ----------------------------------------------------------------------
_FIELDS = ("complaint_id", "received_at", "department", "category", "cluster_id", "title", "description")
_RECENT_FIELDS = _FIELDS + ("contact_hashes", "repeat_of", "product")
# the case attribute each dimension's value is compared with (in the Query when ByMonth holds it)
_FILTER_ATTRIBUTE = {"product": "product", "batch": "product", "category": "category", "channel": "channel",
                     "department": "department", "priority": "priority"}
_FILTERS = {
    "product": "(#p.#sku = :v OR (attribute_not_exists(#p.#sku) AND #p.#name = :v))",
    "batch": "#p.#batch = :v",
    "category": "#f = :v", "channel": "#f = :v", "department": "#f = :v", "priority": "#f = :v",
}


class EpisodeCases:
    """The cases received on an episode's days under a dimension value, oldest first, at most
    ``MAX_MATCHED``: bounded Queries, never a Scan."""

    def __init__(self, dynamodb: Any, table: str):
        from shared.items import ItemCodec

        self._db, self._table = dynamodb, table
        self._load = ItemCodec().load
        self.pages_read = 0

    def find(self, dimension: str, value: str, first_day: str, last_day: str) -> list[dict[str, Any]]:
        """The ``ByMonth`` index over the episode's days (``received_key`` between the first day and the
        day after the last), filtered on the case attribute the counters took the value from: at most
        ``MAX_PAGES`` pages of 200 index items per episode, stopping at ``MAX_MATCHED`` cases."""
        high = (date.fromisoformat(last_day) + timedelta(days=1)).isoformat()
        return self._by_month(dimension, value, first_day, high)

    def _by_month(self, dimension: str, value: str, low: str, high: str) -> list[dict[str, Any]]:
        from shared.index_reads import fetch, projects

        condition = _FILTERS[dimension]
        # ByMonth holds the product and the channel: filtered in the Query; the others (category,
        # department, priority change after intake: not in the index) on the cases read by key
        in_index = projects("ByMonth", [_FILTER_ATTRIBUTE[dimension]])
        names = {"#m": "received_month", "#k": "received_key"}
        values = {":lo": {"S": low}, ":hi": {"S": high}}
        if in_index:
            attributes = {"#p": "product", "#sku": "sku", "#name": "name", "#batch": "batch", "#f": dimension}
            names.update({n: attributes[n] for n in set(re.findall(r"#\w+", condition))})
            values[":v"] = {"S": value}
        found: list[dict[str, Any]] = []
        month, pages = low[:7], 0
        while month <= high[:7] and len(found) < MAX_MATCHED and pages < MAX_PAGES:
            kwargs: dict[str, Any] = {
                "TableName": self._table, "IndexName": "ByMonth",
                "KeyConditionExpression": "#m = :m AND #k BETWEEN :lo AND :hi", "ProjectionExpression": "PK, SK",
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": {**values, ":m": {"S": f"MONTH#{month}"}},
                "ScanIndexForward": True, "Limit": 200,
            }
            if in_index:
                kwargs["FilterExpression"] = condition
            while len(found) < MAX_MATCHED and pages < MAX_PAGES:
                out = self._db.query(**kwargs)
                pages += 1
                self.pages_read += 1
                keys = out.get("Items", [])[:MAX_MATCHED - len(found)] if in_index else out.get("Items", [])
                cases = [self._load(i) for i in fetch(self._db, self._table, keys,
                                                      attributes=(*_FIELDS, _FILTER_ATTRIBUTE[dimension]))]
                found.extend(c for c in cases if in_index or c.get(dimension) == value)
                if "LastEvaluatedKey" not in out:
                    break
                kwargs["ExclusiveStartKey"] = out["LastEvaluatedKey"]
            month = _next_month(month)
        return found[:MAX_MATCHED]


    def recent(self, since: str, until: str, limit: int) -> list[dict[str, Any]]:
        """The cases received from ``since`` to ``until`` (ISO times), newest first, at most ``limit``:
        the ``ByMonth`` index, month by month back from ``until``'s, pages of 200 (the text clusters'
        window: :mod:`shared.text_clusters`)."""
        from shared.index_reads import fetch

        names = {"#m": "received_month", "#k": "received_key"}
        found: list[dict[str, Any]] = []
        month = until[:7]
        while month >= since[:7] and len(found) < limit:
            kwargs: dict[str, Any] = {
                "TableName": self._table, "IndexName": "ByMonth",
                "KeyConditionExpression": "#m = :m AND #k BETWEEN :lo AND :hi",
                "ProjectionExpression": "PK, SK", "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": {":m": {"S": f"MONTH#{month}"}, ":lo": {"S": since},
                                              ":hi": {"S": until + "#~"}},
                "ScanIndexForward": False, "Limit": min(200, limit - len(found)),
            }
            while len(found) < limit:
                out = self._db.query(**kwargs)
                self.pages_read += 1
                # the index holds keys: the evidence fields of the page's cases by key
                found.extend(self._load(i) for i in fetch(self._db, self._table, out.get("Items", []),
                                                          attributes=_RECENT_FIELDS))
                if "LastEvaluatedKey" not in out:
                    break
                kwargs["ExclusiveStartKey"] = out["LastEvaluatedKey"]
                kwargs["Limit"] = min(200, limit - len(found))
            month = _previous_month(month)
        return found[:limit]


def _next_month(month: str) -> str:
    year, mon = int(month[:4]), int(month[5:7])
    return f"{year + (mon == 12):04d}-{mon % 12 + 1:02d}"


def evidence_of(days: list[dict[str, Any]], cases: list[dict[str, Any]],
                history: list[dict[str, Any]] | None = None) -> Evidence:
    """The evidence of an episode from its days' figures and the cases found (oldest first)."""
    from collections import Counter

    from shared.similarity import Corpus, cosine

    shown = [EvidenceCase(complaint_id=c["complaint_id"], received_at=str(c.get("received_at") or ""),
                          department=c.get("department"), category=c.get("category"), cluster_id=c.get("cluster_id"))
             for c in cases[:MAX_CASES]]
    clusters = Counter(c["cluster_id"] for c in cases if c.get("cluster_id"))
    texts = [sample_text(c.get("title"), c.get("description")) for c in cases[:MAX_CASES]]
    samples: list[TextSample] = []
    similarity = None
    if texts:
        vectors = Corpus(texts).vectors
        n = len(vectors)
        pair = [[cosine(vectors[i], vectors[j]) if i != j else 0.0 for j in range(n)] for i in range(n)]
        if n > 1:
            similarity = round(sum(sum(row) for row in pair) / (n * (n - 1)), 4)
        central = sorted(range(n), key=lambda i: (-sum(pair[i]), i))[:MAX_SAMPLES]
        samples = [TextSample(complaint_id=cases[i]["complaint_id"], department=cases[i].get("department"),
                              text=texts[i]) for i in sorted(central)]
    return Evidence(days=days, history=history or [], cases=shown, cases_found=len(cases), samples=samples,
                    clusters=[{"cluster_id": k, "cases": v} for k, v in clusters.most_common(5)],
                    text_similarity=similarity)


def alert_store() -> AlertStore:
    from shared.aws import client
    from shared.config import settings

    return AlertStore(client("dynamodb"), settings().table_name)


def episode_cases() -> EpisodeCases:
    from shared.aws import client
    from shared.config import settings

    return EpisodeCases(client("dynamodb"), settings().table_name)
