"""``complaints mail parse FILE...``: what the email intake would do with each message, offline.

One JSON line per message: the decision (with :class:`~.rules.OfflineThreadLookup`: no store, so a
reply is recognised only by a well-formed complaint number in the subject or one of our
Message-IDs), the fields a case would get, and the parse time. A folder stands for the files under
it; ``-`` reads one message from standard input. The exit status is 0 whatever the messages hold:
an unreadable file is reported as a line with outcome ``quarantine``, reason ``unreadable_file``.
"""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import IO, Any, Iterable, Iterator

from .parser import parse_mail
from .rules import OfflineThreadLookup, decide


def message_files(paths: Iterable[str]) -> Iterator[str]:
    """The paths as given, a folder replaced by the files under it (sorted, hidden ones skipped)."""
    for path in paths:
        if path != "-" and os.path.isdir(path):
            for file in sorted(Path(path).rglob("*")):
                if file.is_file() and not any(part.startswith(".") for part in file.relative_to(path).parts):
                    yield str(file)
        else:
            yield path


def describe(name: str, raw: bytes, own_addresses: Iterable[str] = ()) -> dict[str, Any]:
    start = time.perf_counter()
    mail = parse_mail(raw, own_addresses=own_addresses)
    parse_ms = (time.perf_counter() - start) * 1000
    decision = decide(mail, OfflineThreadLookup())
    return {
        "file": name,
        "outcome": decision.outcome,
        "reason": decision.reason,
        "complaint_id": decision.complaint_id,
        "from": mail.sender_address,
        "from_name": mail.sender_name,
        "subject": mail.subject,
        "text": mail.text,
        "attachments": [{"filename": a.filename, "content_type": a.content_type, "size": len(a.data),
                         "inline": a.inline} for a in mail.attachments],
        "message_id": mail.message_id,
        "in_reply_to": mail.in_reply_to,
        "date": mail.date.isoformat() if mail.date else None,
        "language": mail.language,
        "defects": mail.defects,
        "size": mail.size,
        "parse_ms": round(parse_ms, 2),
    }


def unreadable(name: str, exc: OSError) -> dict[str, Any]:
    return {"file": name, "outcome": "quarantine", "reason": "unreadable_file", "complaint_id": None,
            "from": None, "from_name": None, "subject": "", "text": "", "attachments": [], "message_id": None,
            "in_reply_to": [], "date": None, "language": None, "defects": [type(exc).__name__],
            "size": None, "parse_ms": None}


def run(paths: Iterable[str], own_addresses: Iterable[str] = (), out: IO[str] | None = None) -> int:
    out = out or sys.stdout
    own = list(own_addresses)
    for name in message_files(paths):
        try:
            raw = sys.stdin.buffer.read() if name == "-" else Path(name).read_bytes()
        except OSError as exc:
            line = unreadable(name, exc)
        else:
            line = describe(name, raw, own)
        out.write(json.dumps(line, ensure_ascii=False) + "\n")
        out.flush()
    return 0
