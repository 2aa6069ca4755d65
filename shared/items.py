"""Items of the complaints table as Python values and back: one codec for every store.

DynamoDB's serializer refuses floats and ``None`` inside maps; its deserializer gives ``Decimal``.
:class:`ItemCodec` stores floats as ``Decimal`` (rounded to 6 places, NaN and infinity refused),
drops ``None`` (an absent attribute reads back as the model's default) and reads numbers back as
``int`` or ``float``. The stores (:mod:`shared.repository`, :mod:`shared.routing_store`,
:mod:`shared.staff_directory`, :mod:`shared.inbox`, :mod:`shared.config_store`, :mod:`shared.mailbox`,
the notifier's delivery log) hold one each with their client and table name.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Any


def plain(value: Any) -> Any:
    """Decimals as int or float, recursively."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def decimals(value: Any) -> Any:
    """Floats as Decimal (DynamoDB's serializer refuses floats), e.g. a classification's confidence."""
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError("NaN and infinity cannot be stored")
        return Decimal(repr(round(value, 6)))
    if isinstance(value, dict):
        return {k: decimals(v) for k, v in value.items()}
    if isinstance(value, list):
        return [decimals(v) for v in value]
    return value


def drop_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [drop_none(v) for v in value]
    return value


class ItemCodec:
    def __init__(self) -> None:
        from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

        self._ser, self._de = TypeSerializer(), TypeDeserializer()

    def dump(self, item: dict[str, Any]) -> dict[str, Any]:
        """Python values -> DynamoDB's attribute values (None dropped, floats as Decimal)."""
        return {k: self._ser.serialize(decimals(v)) for k, v in drop_none(item).items()}

    def load(self, item: dict[str, Any]) -> dict[str, Any]:
        """DynamoDB's attribute values -> Python values (numbers as int or float)."""
        return plain({k: self._de.deserialize(v) for k, v in item.items()})
