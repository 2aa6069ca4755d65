"""Cached factories wiring the repository and gateways to AWS clients (one set per container)."""
from __future__ import annotations

from functools import lru_cache

from shared.aws import client
from shared.config import settings
from shared.crypto import FieldCipher, LookupHasher
from shared.events import EventPublisher
from shared.repository import ComplaintRepository


@lru_cache(maxsize=1)
def field_cipher() -> FieldCipher:
    return FieldCipher(client("kms"), settings().pii_key_id)


@lru_cache(maxsize=1)
def lookup_hasher() -> LookupHasher:
    return LookupHasher(client("kms"), settings().lookup_key_id, settings().sms_default_country_code)


@lru_cache(maxsize=1)
def complaint_repository() -> ComplaintRepository:
    return ComplaintRepository(client("dynamodb"), settings().table_name, field_cipher(), lookup_hasher())


@lru_cache(maxsize=1)
def mailbox() -> "Mailbox":
    from shared.mailbox import Mailbox

    return Mailbox(client("dynamodb"), settings().table_name, field_cipher(), lookup_hasher())


@lru_cache(maxsize=1)
def event_publisher() -> EventPublisher:
    return EventPublisher(client("events"), settings().event_bus_name)


def reset() -> None:
    """Forget every cached client and object (tests switch environments between cases)."""
    from shared.aws import reset_clients
    from shared.auth import verifier
    from shared.config import reset_settings

    from shared import config_store

    config_store.reset()
    for factory in (field_cipher, lookup_hasher, complaint_repository, mailbox, event_publisher, verifier):
        factory.cache_clear()
    reset_clients()
    reset_settings()
