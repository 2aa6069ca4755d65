"""The task board: where a department finds the investigation tasks other departments opened for it.

A task lives on its case (``Complaint.tasks``, the truth) and, while it is open, as an index item in
the case's partition that the ``ByQueue`` index files under the task's department:

    PK = CASE#<complaint_id>   SK = TASK#<task_id>
    work_queue = TASKS#<department>   queue_key = <due_at>#<complaint_id>#<task_id>

Both are written in the transaction that opens the task (the item only if absent) and the item is
deleted in the one that closes or cancels it, so the board never shows a task the case has closed.
``GET /staff/tasks`` is one ``Query ByQueue work_queue = TASKS#<department>`` per department,
earliest due first.
"""
from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any, Iterable

from shared.models import InvestigationTask

TASKS = "TASKS#"
BY_QUEUE = "ByQueue"


class InvalidCursor(ValueError):
    pass


@dataclass(frozen=True)
class BoardTask:
    complaint_id: str
    task: InvestigationTask


@dataclass(frozen=True)
class BoardPage:
    tasks: list[BoardTask]
    cursor: str | None


def queue_key(complaint_id: str, task: InvestigationTask) -> str:
    from shared.repository import iso

    return f"{iso(task.due_at)}#{complaint_id}#{task.task_id}"


class TaskBoard:
    def __init__(self, dynamodb: Any, table: str):
        from shared.items import ItemCodec

        self._db, self._table = dynamodb, table
        codec = ItemCodec()
        self._dump, self._load = codec.dump, codec.load

    # -- operations for the case's transaction ------------------------------------------------------
    def open_op(self, complaint_id: str, task: InvestigationTask) -> dict[str, Any]:
        item = {"PK": f"CASE#{complaint_id}", "SK": f"TASK#{task.task_id}", "complaint_id": complaint_id,
                "work_queue": TASKS + task.department, "queue_key": queue_key(complaint_id, task),
                "task": task.model_dump(mode="json")}
        return {"Put": {"TableName": self._table, "Item": self._dump(item),
                        "ConditionExpression": "attribute_not_exists(PK)"}}

    def close_op(self, complaint_id: str, task_id: str) -> dict[str, Any]:
        """Remove the task from the board (a task the board never held leaves nothing to remove)."""
        return {"Delete": {"TableName": self._table,
                           "Key": self._dump({"PK": f"CASE#{complaint_id}", "SK": f"TASK#{task_id}"})}}

    def ops(self, complaint_id: str, opened: Iterable[InvestigationTask],
            closed: Iterable[InvestigationTask]) -> list[dict[str, Any]]:
        return [*(self.open_op(complaint_id, t) for t in opened), *(self.close_op(complaint_id, t.task_id)
                                                                     for t in closed)]

    # -- the departments' lists -------------------------------------------------------------------------
    def open_tasks(self, departments: list[str], *, limit: int = 25, cursor: str | None = None) -> BoardPage:
        """The open tasks of ``departments``, earliest due first, ``limit`` a page. Each department is
        one partition; with several, each is read from where the cursor left it and the pages merged."""
        departments = list(dict.fromkeys(departments))
        starts = _decode(cursor, departments) if cursor else {d: None for d in departments}
        read: dict[str, list[dict[str, Any]]] = {}
        more: dict[str, bool] = {}
        for department, start in starts.items():
            kwargs: dict[str, Any] = {
                "TableName": self._table, "IndexName": BY_QUEUE, "KeyConditionExpression": "work_queue = :q",
                "ExpressionAttributeValues": {":q": {"S": TASKS + department}}, "Limit": limit}
            if start:
                kwargs["ExclusiveStartKey"] = start
            out = self._db.query(**kwargs)
            read[department] = out.get("Items", [])
            more[department] = "LastEvaluatedKey" in out
        merged = sorted(((raw["queue_key"]["S"], d, raw) for d, items in read.items() for raw in items),
                        key=lambda x: x[0])[:limit]
        taken: dict[str, dict[str, Any]] = {}
        for _, department, raw in merged:
            taken[department] = raw  # the last one taken from each department
        following: dict[str, Any] = {}
        for department, start in starts.items():
            last = taken.get(department)
            if last is not None:
                left = len(read[department]) > sum(1 for _, d, _ in merged if d == department)
                if left or more[department]:
                    following[department] = {k: last[k] for k in ("work_queue", "queue_key", "PK", "SK")}
            elif read[department] or more[department]:
                following[department] = start  # nothing of it on this page: read it again from the same place
        tasks = [BoardTask(self._load(raw)["complaint_id"], InvestigationTask.model_validate(self._load(raw)["task"]))
                 for _, _, raw in merged]
        return BoardPage(tasks, _encode(following) if following else None)


def _encode(state: dict[str, Any]) -> str:
    raw = json.dumps({"index": "TaskBoard", "starts": state}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode(cursor: str, departments: list[str]) -> dict[str, Any]:
    try:
        state = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        starts = state["starts"] if isinstance(state, dict) and state.get("index") == "TaskBoard" else None
        # checks, not asserts: they hold under `python -O` too (the departments bound what a caller sees)
        valid = isinstance(starts, dict) and starts and set(starts) <= set(departments) and all(
            key is None or (isinstance(key, dict) and all(isinstance(v, dict) for v in key.values()))
            for key in starts.values())
    except Exception:  # noqa: BLE001 - any malformed cursor is the caller's mistake
        valid = False
    if not valid:
        raise InvalidCursor("cursor is not one this API returned for these departments")
    return starts


def task_board() -> TaskBoard:
    from shared.aws import client
    from shared.config import settings

    return TaskBoard(client("dynamodb"), settings().table_name)
