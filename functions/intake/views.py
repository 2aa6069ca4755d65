"""What a customer sees of their case: status, classification once known, the public timeline."""
from __future__ import annotations

from typing import Any

from shared.models import Complaint, TimelineEntry, TimelineKind, Visibility
from shared.repository import iso

# entries whose text is written for the customer (others are described by their kind and status)
_TEXT_FOR_CUSTOMER = {TimelineKind.STAFF_REPLY, TimelineKind.CUSTOMER_MESSAGE}


def customer_view(complaint: Complaint, timeline: list[TimelineEntry]) -> dict[str, Any]:
    return {
        "complaint_id": complaint.complaint_id,
        "status": complaint.status.value,
        "title": complaint.title,
        "description": complaint.description,
        "channel": complaint.channel.value,
        "category": complaint.category,
        "department": complaint.department,
        "received_at": iso(complaint.received_at),
        "updated_at": iso(complaint.updated_at),
        "timeline": [
            {"at": iso(e.at), "kind": e.kind.value, "status": e.status.value if e.status else None,
             "text": e.text if e.kind in _TEXT_FOR_CUSTOMER else None}
            for e in sorted(timeline, key=lambda e: e.at)
            if e.visibility == Visibility.PUBLIC
        ],
    }
