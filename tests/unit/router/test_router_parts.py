"""Small parts of the router: keys of the order and batch indexes, counting distinct customers,
reading the EventBridge envelope, and the settings it adds."""
from __future__ import annotations

import json

import pytest

from functions.router.handlers import received_event
from shared.text_clusters import distinct_customers
from shared.identifiers import new_complaint_number
from shared.models import Product
from shared.routing_store import batch_key, order_key


def test_order_and_batch_keys_ignore_case_spacing_and_punctuation():
    assert order_key(Product(order_id="so-1001")) == order_key(Product(order_id=" SO 1001 ")) == "ORDER#SO1001"
    assert order_key(Product(order_id="  -- ")) is None and order_key(None) is None
    assert batch_key(Product(sku="DUMP-1KG", batch="b2411")) == "BATCH#DUMP1KG#B2411"
    assert batch_key(Product(name="猪肉水饺 1kg", batch="B2411")) == "BATCH#猪肉水饺1KG#B2411"
    assert batch_key(Product(batch="B2411")) == "BATCH#-#B2411"
    assert batch_key(Product(sku="DUMP-1KG")) is None and batch_key(None) is None


def test_distinct_customers_joins_cases_sharing_any_contact_hash():
    assert distinct_customers([{"e1"}, {"e2"}, {"e3"}]) == 3
    assert distinct_customers([{"e1", "p1"}, {"p1"}, {"e2"}]) == 2
    assert distinct_customers([{"e1"}, {"p1"}, {"e1", "p1"}]) == 1  # a third case links the first two
    assert distinct_customers([{"e1"}, set(), set()]) == 3  # no contact data: each case its own customer
    assert distinct_customers([]) == 0


def envelope(**detail):
    number = new_complaint_number()
    base = {"event_id": f"{number}:received", "complaint_id": number.lower(), "received_at": "2025-03-01T10:00:00.000Z",
            "channel": "web", "language": "zh"}
    return json.dumps({"source": "complaints.intake", "detail-type": "ComplaintReceived", "detail": {**base, **detail}}), number


def test_received_event_is_read_from_the_envelope():
    body, number = envelope()
    event = received_event(body)
    assert event.complaint_id == number  # normalised
    assert received_event(json.dumps({"source": "complaints.router", "detail-type": "ComplaintClassified"})) is None
    assert received_event(json.dumps({"source": "complaints.intake", "detail-type": "CustomerReplied"})) is None
    with pytest.raises(ValueError):
        received_event("not json")
    with pytest.raises(ValueError):
        received_event(envelope(complaint_id="C0000000000")[0])
    with pytest.raises(ValueError):
        received_event(json.dumps({"source": "complaints.intake", "detail-type": "ComplaintReceived", "detail": {}}))


def test_router_settings(monkeypatch):
    from shared.config import ConfigurationError, Settings, reset_settings, settings

    base = {"TABLE_NAME": "t", "ATTACHMENTS_BUCKET": "b", "EVENT_BUS_NAME": "e", "PII_KEY_ID": "k", "LOOKUP_KEY_ID": "l"}
    s = Settings.model_validate(base)
    assert (s.model_uri, s.priority_rules_uri, s.min_classification_confidence, s.group_complaint_window_hours,
            s.group_complaint_threshold, s.repeat_window_days) == (None, None, 0.55, 72, 3, 30)
    for key, value in base.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("MIN_CLASSIFICATION_CONFIDENCE", "1.5")
    reset_settings()
    with pytest.raises(ConfigurationError, match="MIN_CLASSIFICATION_CONFIDENCE"):
        settings()
    monkeypatch.setenv("MIN_CLASSIFICATION_CONFIDENCE", "0.7")
    monkeypatch.setenv("GROUP_COMPLAINT_THRESHOLD", "1")
    reset_settings()
    with pytest.raises(ConfigurationError, match="GROUP_COMPLAINT_THRESHOLD"):
        settings()
    reset_settings()


def test_floats_are_stored_as_decimals():
    from decimal import Decimal

    from shared.items import decimals as _decimals

    assert _decimals({"confidence": 0.9123456789, "alternatives": [["a", 0.1]], "n": 3}) == {
        "confidence": Decimal("0.912346"), "alternatives": [["a", Decimal("0.1")]], "n": 3}
    with pytest.raises(ValueError):
        _decimals(float("nan"))
