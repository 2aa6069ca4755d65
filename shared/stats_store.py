"""The report counters in the complaints table: written with each transition, read per day.

    PK = STATS#<yyyy-mm-dd>   SK = <dimension>#<value>#<shard>   numbers, all ADDed (missing = 0)
    PK = STATS#OPEN           SK = <dimension>#<value>#<shard>   open: the open backlog now

:meth:`StatsStore.ops` turns :func:`shared.stats.increments` into one ``Update ... ADD`` per item for
the transition's own transaction (:class:`shared.repository.ComplaintRepository` appends them in
``create`` and ``save_many``). :meth:`StatsStore.read` is the only read the reports need: one Query per
day returns every dimension item of that day, so a month costs days x dimension values items, never
one per complaint. :meth:`snapshot_open` copies the gauge into a day (``open_eod``); :meth:`rebuild`
recomputes days from the cases (``complaints stats rebuild``), :meth:`rebuild_open` the gauge.
See docs/reports.md, "Counters".
"""
from __future__ import annotations

import re
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Iterable, Iterator

from shared.stats import OPEN, Increment, dimensions, is_open, replay, shard_of

PREFIX = "STATS#"
OPEN_MEASURE = "open"
SNAPSHOT_MEASURE = "open_eod"
ROLLUP = "STATS#ROLLUP#"  # + <yyyy-mm>: the pointer item; + <yyyy-mm>#<through>: a roll-up's items
POINTER_SK = "CURRENT"
SERIES_DIMENSIONS = ("all", "department")  # the keys the report's daily rows are summed over
SERIES_MEASURES = ("received", "resolved", "closed")
_SERIES = re.compile(r"^d(\d{2})_(received|resolved|closed)$")
_VERSIONED = re.compile(r"^(\d{6})\.(\d{3})$")  # TL#<at>#<case version>.<nnn>


class Counters(dict):
    """``{day: {(dimension, value): {measure: number}}}`` - every day asked for (``{}`` when nothing was
    counted), shards summed - and ``items_read``: the counter items the Queries returned.

    From :meth:`StatsStore.read_period`, a key may also stand for a span of days a month roll-up covers
    (the span's first day, holding the span's sums and the ``open_eod`` of its latest snapshot day);
    ``series`` then holds those days' own ``received`` / ``resolved`` / ``closed`` for the ``all`` and
    ``department`` values (the report's daily rows), and ``spans`` the spans (first, last)."""

    items_read: int = 0

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.series: dict[str, dict[tuple[str, str], dict[str, int]]] = {}
        self.spans: list[tuple[str, str]] = []


@dataclass
class RollupReport:
    month: str
    through: str
    days: int = 0
    items_read: int = 0
    items_written: int = 0
    replaced: str | None = None


@dataclass
class RebuildReport:
    first_day: str
    last_day: str
    months: list[str] = field(default_factory=list)
    cases: int = 0
    items_written: int = 0
    items_deleted: int = 0
    rolled_up: list[str] = field(default_factory=list)


def sort_key(dimension: str, value: str, shard: int) -> str:
    return f"{dimension}#{value}#{shard}"


def parse_sort_key(sk: str) -> tuple[str, str, int]:
    """``dimension#value#shard`` (a value may itself hold ``#``)."""
    dimension, rest = sk.split("#", 1)
    value, shard = rest.rsplit("#", 1)
    return dimension, value, int(shard)


def _day(value: date | str) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)


def days_between(first: date | str, last: date | str) -> list[str]:
    first, last = _day(first), _day(last)
    if last < first:
        raise ValueError(f"the last day {last} is before the first day {first}")
    return [(first + timedelta(days=i)).isoformat() for i in range((last - first).days + 1)]


def months_between(first: date, last: date) -> list[str]:
    months, (year, month) = [], (first.year, first.month)
    while (year, month) <= (last.year, last.month):
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


class StatsStore:
    def __init__(self, dynamodb: Any, table: str):
        from shared.items import ItemCodec

        self._db, self._table = dynamodb, table
        codec = ItemCodec()
        self._dump, self._load = codec.dump, codec.load

    # -- writing with a transition -------------------------------------------------------------------------
    def ops(self, increments: Iterable[Increment]) -> list[dict[str, Any]]:
        """One ``Update ... ADD`` per counter item the increments touch (a transaction may not hold two
        operations on one item), without the measures that sum to zero; none for no increment."""
        items: dict[tuple[str, str, int, str], Counter] = defaultdict(Counter)
        for i in increments:
            items[(i.key, i.dimension, i.value, i.shard)][i.measure] += i.amount
        ops = []
        for (key, dimension, value, shard), measures in sorted(items.items()):
            measures = {m: n for m, n in sorted(measures.items()) if n}
            if not measures:
                continue
            names = {f"#m{j}": m for j, m in enumerate(measures)}
            values = {f":m{j}": {"N": str(n)} for j, n in enumerate(measures.values())}
            ops.append({"Update": {
                "TableName": self._table,
                "Key": {"PK": {"S": PREFIX + key}, "SK": {"S": sort_key(dimension, value, shard)}},
                "UpdateExpression": "ADD " + ", ".join(f"#m{j} :m{j}" for j in range(len(measures))),
                "ExpressionAttributeNames": names, "ExpressionAttributeValues": values}})
        return ops

    # -- reading -------------------------------------------------------------------------------------------
    def read(self, first_day: date | str, last_day: date | str, *, consistent: bool = False) -> Counters:
        """Every counter of the days ``first_day..last_day`` (inclusive), shards summed: one Query per
        day (``PK = STATS#<day>``, every page)."""
        out = Counters()
        for day in days_between(first_day, last_day):
            by: dict[tuple[str, str], dict[str, int]] = {}
            for item in self._partition(PREFIX + day, consistent=consistent):
                out.items_read += 1
                dimension, value, _ = parse_sort_key(item["SK"])
                measures = by.setdefault((dimension, value), {})
                for name, number in item.items():
                    if name not in ("PK", "SK") and isinstance(number, (int, float)):
                        measures[name] = measures.get(name, 0) + number
            out[day] = by
        return out

    def read_period(self, first_day: date | str, last_day: date | str) -> Counters:
        """The counters of ``first_day..last_day`` for a report, as :meth:`read` gives them, but each month
        part that starts on the month's first day and reaches a roll-up's last day read from the roll-up
        (one GetItem for the pointer, one Query: dimension values items, whatever the days and the
        complaints) and the days after it from the days. What a report reads thus follows dimension values
        (+ days since the last roll-up), not days x shards x values."""
        days = days_between(first_day, last_day)
        out = Counters()
        segments: dict[str, list[str]] = defaultdict(list)
        for d in days:
            segments[d[:7]].append(d)
        for month, month_days in segments.items():
            rollup = None
            if month_days[0].endswith("-01"):
                rollup = self._rollup(month, out)
            if rollup is not None and month_days[0] <= rollup[0] <= month_days[-1]:
                through, cells, series = rollup
                out[month_days[0]] = cells
                out.series.update(series)
                out.spans.append((month_days[0], through))
                rest = [d for d in month_days if d > through]
            else:
                rest = month_days
            if rest:
                part = self.read(rest[0], rest[-1])
                out.items_read += part.items_read
                out.update(part)
        return out

    def _rollup(self, month: str, out: Counters) -> tuple[str, dict, dict] | None:
        """The month's current roll-up: (last day, ``{(dimension, value): measures}``, series), or None.
        Read again when the pointer moved while its items were read (a new roll-up replaced it)."""
        for _ in range(3):
            pointer = self._pointer(month)
            out.items_read += 1
            if pointer is None:
                return None
            cells: dict[tuple[str, str], dict[str, Any]] = {}
            series: dict[str, dict[tuple[str, str], dict[str, int]]] = {}
            for item in self._partition(pointer["partition"]):
                out.items_read += 1
                dimension, value = item["SK"].split("#", 1)
                measures = {}
                for name, number in item.items():
                    if name in ("PK", "SK") or not isinstance(number, (int, float)):
                        continue
                    found = _SERIES.match(name)
                    if found:
                        day = f"{month}-{found.group(1)}"
                        series.setdefault(day, {}).setdefault((dimension, value), {})[found.group(2)] = int(number)
                    else:
                        measures[name] = number
                cells[(dimension, value)] = measures
            again = self._pointer(month)
            out.items_read += again is not None
            if again is not None and again.get("partition") == pointer["partition"]:
                return pointer["through"], cells, series
        return None

    def _pointer(self, month: str) -> dict[str, Any] | None:
        out = self._db.get_item(TableName=self._table, ConsistentRead=True,
                                Key={"PK": {"S": ROLLUP + month}, "SK": {"S": POINTER_SK}})
        return self._load(out["Item"]) if out.get("Item") else None

    def rollup_through(self, month: str) -> tuple[str, str] | None:
        """(last day, rolled at) of the month's roll-up, or None."""
        pointer = self._pointer(month)
        return (pointer["through"], pointer.get("rolled_at", "")) if pointer else None

    def roll_up(self, month: str, through: date | str | None = None) -> RollupReport:
        """Sum the days of ``month`` (``yyyy-mm``) from its first day to ``through`` (default: its last
        day) into a roll-up: one item per dimension value, shards and days summed, with the ``open_eod``
        of the span's latest snapshot day and, for ``all`` and each department, the days' own
        ``d<dd>_received`` / ``_resolved`` / ``_closed``. Written as a new partition
        (``STATS#ROLLUP#<month>#<through>``), then the pointer (``STATS#ROLLUP#<month>``, ``CURRENT``)
        moves to it and the partition it pointed to is deleted; readers never see a half-written one.
        Running it again gives the same figures."""
        first = date.fromisoformat(month + "-01")
        month_last = (first.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
        last = min(_day(through), month_last) if through is not None else month_last
        if last < first:
            raise ValueError(f"nothing of {month} to roll up through {last}")
        counters = self.read(first, last, consistent=True)
        report = RollupReport(month, last.isoformat(), days=len(counters), items_read=counters.items_read)
        cells: dict[str, Counter] = defaultdict(Counter)
        for day in sorted(counters):
            for (dimension, value), measures in counters[day].items():
                sk = f"{dimension}#{value}"
                for name, number in measures.items():
                    if name == SNAPSHOT_MEASURE:
                        continue
                    cells[sk][name] += number
                if dimension in SERIES_DIMENSIONS:
                    for name in SERIES_MEASURES:
                        if measures.get(name):
                            cells[sk][f"d{day[8:10]}_{name}"] += measures[name]
        latest = max((d for d in counters if any(SNAPSHOT_MEASURE in m for m in counters[d].values())), default=None)
        if latest is not None:
            for (dimension, value), measures in counters[latest].items():
                if measures.get(SNAPSHOT_MEASURE):
                    cells[f"{dimension}#{value}"][SNAPSHOT_MEASURE] += measures[SNAPSHOT_MEASURE]
        partition = f"{ROLLUP}{month}#{report.through}"
        report.items_written, _ = self._replace(partition, cells)
        old = self._pointer(month)
        from shared.clock import now

        self._db.put_item(TableName=self._table, Item=self._dump({
            "PK": ROLLUP + month, "SK": POINTER_SK, "partition": partition, "through": report.through,
            "rolled_at": now().isoformat(timespec="seconds"), "days": report.days}))
        if old is not None and old.get("partition") != partition:
            self._replace(old["partition"], {})
            report.replaced = old["partition"]
        return report

    def roll_up_due(self, today: date | str, settle_days: int = 3) -> list[RollupReport]:
        """The roll-ups the hourly job keeps: this month's through yesterday (once a day), and last
        month's complete - rolled again once a day for its first ``settle_days`` days after the month,
        for the late changes (a correction moves ``received`` on its received day)."""
        today = _day(today)
        done = []
        yesterday = today - timedelta(days=1)
        last_month = (today.replace(day=1) - timedelta(days=1))
        wanted = [(last_month.strftime("%Y-%m"), last_month, today.day <= settle_days)]
        if yesterday.month == today.month:
            wanted.append((today.strftime("%Y-%m"), yesterday, False))
        for month, through, settling in wanted:
            current = self.rollup_through(month)
            stale = current is None or current[0] < through.isoformat()
            if stale or (settling and current[1][:10] < today.isoformat()):
                done.append(self.roll_up(month, through))
        return done

    def read_open(self, *, consistent: bool = False) -> dict[tuple[str, str], int]:
        """The open backlog now, per dimension value (shards summed)."""
        totals: dict[tuple[str, str], int] = {}
        for item in self._partition(PREFIX + OPEN, consistent=consistent):
            dimension, value, _ = parse_sort_key(item["SK"])
            totals[(dimension, value)] = totals.get((dimension, value), 0) + int(item.get(OPEN_MEASURE, 0))
        return totals

    def _partition(self, pk: str, *, consistent: bool = False) -> Iterator[dict[str, Any]]:
        kwargs: dict[str, Any] = {"TableName": self._table, "KeyConditionExpression": "PK = :pk",
                                  "ExpressionAttributeValues": {":pk": {"S": pk}}, "ConsistentRead": consistent}
        while True:
            out = self._db.query(**kwargs)
            for raw in out.get("Items", []):
                yield self._load(raw)
            if "LastEvaluatedKey" not in out:
                return
            kwargs["ExclusiveStartKey"] = out["LastEvaluatedKey"]

    # -- the day's open backlog ------------------------------------------------------------------------------
    def snapshot_open(self, day: date | str) -> int:
        """Copy the open-backlog gauge into ``day`` as ``open_eod`` (per dimension value, on shard 0's
        item; ``SET``, so running it again for the same day replaces the earlier copy - values that
        dropped out of the backlog are set to 0; unchanged ones are not written again). Returns the items
        written."""
        day = _day(day).isoformat()
        now = self.read_open(consistent=True)
        before = {}
        for item in self._partition(PREFIX + day, consistent=True):
            if item.get(SNAPSHOT_MEASURE):
                dimension, value, _ = parse_sort_key(item["SK"])
                before[(dimension, value)] = before.get((dimension, value), 0) + int(item[SNAPSHOT_MEASURE])
        written = 0
        for (dimension, value), count in sorted({**{k: 0 for k in before}, **now}.items()):
            if count == before.get((dimension, value), 0):
                continue  # the same as the last copy (or 0 and never copied)
            self._db.update_item(
                TableName=self._table,
                Key={"PK": {"S": PREFIX + day}, "SK": {"S": sort_key(dimension, value, 0)}},
                UpdateExpression="SET #e = :n", ExpressionAttributeNames={"#e": SNAPSHOT_MEASURE},
                ExpressionAttributeValues={":n": {"N": str(count)}})
            written += 1
        return written

    # -- recomputing from the cases ------------------------------------------------------------------------------
    def rebuild(self, first_day: date | str, last_day: date | str, *, lookback_months: int = 3) -> RebuildReport:
        """Recompute every counter of the days ``first_day..last_day`` from the cases and replace those
        days' items (``open_eod`` snapshots are kept). The cases are those received from
        ``lookback_months`` months before the first day's month to the last day's month (``ByMonth``,
        month by month: a case received earlier that changed in the period is not seen); each one's
        timeline is replayed through :func:`shared.stats.increments` (:func:`shared.stats.replay`).
        Running it again gives the same items. Offline: a transition counted live while it runs can
        be lost (run it again)."""
        days = days_between(first_day, last_day)
        first, last = _day(days[0]), _day(days[-1])
        start = date(first.year, first.month, 1)
        for _ in range(max(0, lookback_months)):
            start = (start - timedelta(days=1)).replace(day=1)
        report = RebuildReport(days[0], days[-1], months_between(start, last))
        wanted = set(days)
        items: dict[str, dict[str, Counter]] = {d: defaultdict(Counter) for d in days}
        for month in report.months:
            for case in self._cases_received_in(month):
                report.cases += 1
                creation, writes = self._writes(case.complaint_id)
                for i in replay(case, creation, writes):
                    if i.key in wanted:
                        items[i.key][sort_key(i.dimension, i.value, i.shard)][i.measure] += i.amount
        for day in days:
            written, deleted = self._replace(PREFIX + day, items[day], keep=(SNAPSHOT_MEASURE,))
            report.items_written += written
            report.items_deleted += deleted
        for month in months_between(first, last):  # the roll-ups over rebuilt days, again to the same day
            current = self.rollup_through(month)
            if current is not None and current[0] >= max(days[0], month + "-01"):
                self.roll_up(month, current[0])
                report.rolled_up.append(month)
        return report

    def rebuild_open(self) -> RebuildReport:
        """Recompute the open-backlog gauge from the open cases (``ByStatus``, one Query per open
        status, every page) and replace its items. Offline, like :meth:`rebuild`."""
        from shared.lifecycle import OPEN_STATES

        report = RebuildReport(OPEN, OPEN)
        gauge: dict[str, Counter] = defaultdict(Counter)
        for status in sorted(OPEN_STATES):
            for case in self._cases("ByStatus", "status", status.value):
                report.cases += 1
                if is_open(case):
                    for dimension, value in dimensions(case).items():
                        gauge[sort_key(dimension, value, shard_of(case.complaint_id))][OPEN_MEASURE] += 1
        report.items_written, report.items_deleted = self._replace(PREFIX + OPEN, gauge)
        return report

    def _cases_received_in(self, month: str) -> Iterator[Any]:
        return self._cases("ByMonth", "received_month", "MONTH#" + month)

    def _cases(self, index: str, attribute: str, value: str) -> Iterator[Any]:
        from shared.models import Complaint

        kwargs: dict[str, Any] = {"TableName": self._table, "IndexName": index, "KeyConditionExpression": "#k = :v",
                                  "ExpressionAttributeNames": {"#k": attribute},
                                  "ExpressionAttributeValues": {":v": {"S": value}}}
        from shared.index_reads import fetch

        while True:
            out = self._db.query(**kwargs)
            for raw in fetch(self._db, self._table, out.get("Items", [])):  # the index holds keys: cases by key
                item = self._load(raw)
                if item.get("SK") == "CASE":
                    fields = {k: v for k, v in item.items() if k in Complaint.model_fields}
                    yield Complaint.model_validate({**fields, "customer": None})
            if "LastEvaluatedKey" not in out:
                return
            kwargs["ExclusiveStartKey"] = out["LastEvaluatedKey"]

    def _writes(self, complaint_id: str) -> tuple[list[Any], list[list[Any]]]:
        """A case's timeline as its writes: the creation's entries, then each later write's, oldest
        first (entries of one write share the case version in their key, ``TL#<at>#<version>.<nnn>``;
        entries written beside the case's own writes - the acknowledgement, a repeat on its original -
        are writes of their own, placed by time)."""
        from shared.models import TimelineEntry

        versioned: dict[int, list[tuple[int, Any]]] = defaultdict(list)
        loose: list[Any] = []
        kwargs: dict[str, Any] = {
            "TableName": self._table, "KeyConditionExpression": "PK = :pk AND begins_with(SK, :tl)",
            "ExpressionAttributeValues": {":pk": {"S": f"CASE#{complaint_id}"}, ":tl": {"S": "TL#"}},
            "ConsistentRead": True}
        while True:
            out = self._db.query(**kwargs)
            for raw in out.get("Items", []):
                item = self._load(raw)
                entry = TimelineEntry.model_validate({k: v for k, v in item.items() if k in TimelineEntry.model_fields})
                found = _VERSIONED.match(item["SK"].rsplit("#", 1)[1])
                if found:
                    versioned[int(found.group(1))].append((int(found.group(2)), entry))
                else:
                    loose.append(entry)
            if "LastEvaluatedKey" not in out:
                break
            kwargs["ExclusiveStartKey"] = out["LastEvaluatedKey"]
        groups = {v: [e for _, e in sorted(entries, key=lambda p: p[0])] for v, entries in versioned.items()}
        creation = groups.pop(1, [])
        writes: list[list[Any]] = []
        loose.sort(key=lambda e: e.at)
        for version in sorted(groups):
            entries = groups[version]
            while loose and loose[0].at < min(e.at for e in entries):
                writes.append([loose.pop(0)])
            writes.append(entries)
        writes += [[e] for e in loose]
        return creation, writes

    def _replace(self, pk: str, items: dict[str, Counter], keep: tuple[str, ...] = ()) -> tuple[int, int]:
        """Make the partition ``pk`` hold exactly ``items`` (``{SK: measures}``, zeros left out), keeping
        the ``keep`` attributes of the items there now. Returns (items put, items deleted)."""
        kept: dict[str, dict[str, Any]] = {}
        existing: set[str] = set()
        for item in self._partition(pk, consistent=True):
            existing.add(item["SK"])
            kept[item["SK"]] = {k: item[k] for k in keep if item.get(k)}
        puts: dict[str, dict[str, Any]] = {}
        for sk in set(items) | {sk for sk, attrs in kept.items() if attrs}:
            attributes = {m: int(n) for m, n in (items.get(sk) or {}).items() if n}
            attributes.update(kept.get(sk, {}))
            if attributes:
                puts[sk] = attributes
        requests = [{"PutRequest": {"Item": self._dump({"PK": pk, "SK": sk, **attributes})}}
                    for sk, attributes in sorted(puts.items())]
        requests += [{"DeleteRequest": {"Key": {"PK": {"S": pk}, "SK": {"S": sk}}}}
                     for sk in sorted(existing - set(puts))]
        self._batch_write(requests)
        return len(puts), len(existing - set(puts))

    def _batch_write(self, requests: list[dict[str, Any]]) -> None:
        for start in range(0, len(requests), 25):
            pending = {self._table: requests[start:start + 25]}
            for attempt in range(8):
                out = self._db.batch_write_item(RequestItems=pending)
                pending = out.get("UnprocessedItems") or {}
                if not pending:
                    break
                time.sleep(min(2.0, 0.05 * 2 ** attempt))
            else:
                raise RuntimeError("DynamoDB kept refusing part of a batch write; run the command again")


def stats_store() -> StatsStore:
    from shared.aws import client
    from shared.config import settings

    return StatsStore(client("dynamodb"), settings().table_name)
