"""Handlers' corrections as new training data: ``complaints model export-corrections``.

Every correction (``POST /staff/complaints/{id}/classification``) is stored as a ``CORRECTION#<month>``
item naming the case; the export reads them month by month from ``since``, keeps the latest
correction of each case, reads the case's text (title and description, as the classifier saw it)
and writes ``id,text,label`` - the format of the training sets in ``../shared/datasets``.
"""
from __future__ import annotations

import csv
import io
import os
import sys
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, TextIO

from shared.identifiers import EPOCH

COLUMNS = ("id", "text", "label")


@dataclass(frozen=True)
class ExportSummary:
    rows: int
    corrections: int
    missing_cases: int
    changed_labels: int  # corrections whose label differs from the model's


def training_rows(store: Any, repository: Any, since: date | None = None,
                  until: date | None = None) -> tuple[list[tuple[str, str, str]], ExportSummary]:
    from functions.router.duplicates import complaint_text

    corrections = store.corrections(since or EPOCH, until)
    latest: dict[str, dict[str, Any]] = {}
    for c in sorted(corrections, key=lambda c: c["at"]):
        latest[c["complaint_id"]] = c
    cases = repository.get_many(latest) if latest else {}
    rows = []
    for cid, c in latest.items():
        case = cases.get(cid)
        if case is None:
            continue
        rows.append((cid, complaint_text(case.title, case.description), c["corrected_category"]))
    changed = sum(1 for c in latest.values() if c.get("corrected_category") != c.get("original_category"))
    return rows, ExportSummary(len(rows), len(corrections), len(latest) - len(rows), changed)


def write_csv(rows: list[tuple[str, str, str]], out: TextIO) -> None:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    writer.writerows(rows)


def export(out: str | Path, since: date | None = None, *, store: Any = None, repository: Any = None) -> ExportSummary:
    """Write the CSV to ``out`` (``-``: standard output); the file appears whole or not at all."""
    if store is None or repository is None:
        from shared.routing_store import routing_store
        from shared.store import complaint_repository

        store, repository = store or routing_store(), repository or complaint_repository()
    rows, summary = training_rows(store, repository, since)
    if str(out) == "-":
        write_csv(rows, sys.stdout)
        return summary
    path = Path(out)
    buffer = io.StringIO()
    write_csv(rows, buffer)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(buffer.getvalue(), encoding="utf-8")
    os.replace(partial, path)
    return summary


def use_local_stack_if_running(var_dir: Path) -> bool:
    """Point the AWS clients at the local stack (``complaints run``) when no table is configured."""
    import json

    if os.environ.get("TABLE_NAME"):
        return False
    state_file = var_dir / "local-stack.json"
    if not state_file.is_file():
        return False
    state = json.loads(state_file.read_text(encoding="utf-8"))
    os.environ.update(state["env"])
    os.environ.setdefault("AWS_ENDPOINT_URL", state["aws_endpoint"])
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    os.environ.setdefault("AWS_REGION", state.get("region", "us-east-1"))
    os.environ.setdefault("AWS_DEFAULT_REGION", state.get("region", "us-east-1"))
    return True
