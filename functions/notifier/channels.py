"""Delivery channels: email through SES v2 (raw MIME), SMS through SNS.

A send either returns the provider's ids or raises :class:`SendFailed` carrying only the error code:
provider messages can quote addresses (SES lists unverified recipients), which must not reach logs.
"""
from __future__ import annotations

from typing import Any

from shared import metrics
from shared.aws import SendUnconfirmed, error_code, send_email_once
from shared.observability import logger


class SendFailed(Exception):
    def __init__(self, channel: str, code: str):
        super().__init__(f"{channel} send failed: {code}")
        self.channel, self.code = channel, code


def _code(exc: BaseException) -> str:
    return error_code(exc) or type(exc).__name__


class EmailChannel:
    def __init__(self, sesv2: Any, *, sender_address: str, configuration_set: str | None, pacer: Any = None):
        self._ses, self._sender, self._configuration_set = sesv2, sender_address, configuration_set
        self._pacer = pacer  # () -> pacing.SendPacer: waits for this container's turn under the SES quota

    def send(self, raw: bytes, *, to: str, purpose: str) -> str:
        """Send a raw MIME message; returns SES's MessageId, or "" when the request reached SES but its
        answer was lost (counted as sent: never sent twice). With a pacer, waits for its slot first
        (raises ``pacing.SendingPaused`` when the day's quota is used up)."""
        if self._pacer is not None:
            self._pacer().take()
        kwargs: dict[str, Any] = {
            "FromEmailAddress": self._sender,
            "Destination": {"ToAddresses": [to]},
            "Content": {"Raw": {"Data": raw}},
            "EmailTags": [{"Name": "purpose", "Value": purpose}],
        }
        if self._configuration_set:
            kwargs["ConfigurationSetName"] = self._configuration_set
        try:
            return send_email_once(self._ses, **kwargs)
        except SendUnconfirmed:  # most likely out; sending again would be a second email (shared/aws.py)
            logger().warning("email send unconfirmed (SES's answer was lost): recorded as sent, not sent again",
                             extra={"purpose": purpose})
            metrics.count(metrics.NOTIFICATIONS_UNCONFIRMED, channel="email")
            return ""
        except Exception as exc:  # noqa: BLE001 - reduced to its code (see the module docstring)
            raise SendFailed("email", _code(exc)) from None


class SmsChannel:
    def __init__(self, sns: Any):
        self._sns = sns

    def send(self, phone: str, text: str) -> str:
        """Send a transactional SMS to an E.164 number; returns SNS's MessageId."""
        try:
            return self._sns.publish(
                PhoneNumber=phone, Message=text,
                MessageAttributes={"AWS.SNS.SMS.SMSType": {"DataType": "String", "StringValue": "Transactional"}},
            )["MessageId"]
        except Exception as exc:  # noqa: BLE001
            raise SendFailed("sms", _code(exc)) from None


