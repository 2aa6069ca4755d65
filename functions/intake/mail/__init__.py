"""Email intake, pure layer: MIME parsing (:mod:`.parser`), body cleaning (:mod:`.cleaning`) and the
decision new / reply / ignore / quarantine (:mod:`.rules`). No AWS calls here; the store-backed
service calls :func:`parse_mail` and :func:`decide` with its own :class:`ThreadLookup`."""
from .parser import MailAttachment, ParsedMail, parse_mail
from .rules import MailDecision, OfflineThreadLookup, ThreadLookup, decide, our_message_id

__all__ = ["MailAttachment", "ParsedMail", "parse_mail", "MailDecision", "OfflineThreadLookup",
           "ThreadLookup", "decide", "our_message_id"]
