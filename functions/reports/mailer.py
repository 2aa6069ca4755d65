"""The report email: HTML with its charts inline, a plain-text alternative, CSV and XLSX attached.

    multipart/mixed
      multipart/alternative
        text/plain                       the figures as text
        multipart/related
          text/html                      <img src="cid:daily.…@domain"> …
          image/png (Content-ID)         one per chart, inline
      text/csv, application/vnd…sheet    the attachments (when small enough)

When the attachments together are larger than ``REPORT_INLINE_BYTES`` they go to the reports bucket and
the email carries presigned links instead (:func:`functions.reports.storage.ExportStore`).

Sent as a raw message through SES v2 (``SendEmail`` with ``Content.Raw``), like every other email of
the system; locally moto accepts it and the local stack copies it to ``var/outbox/`` (infra/local_outbox.py).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.message import EmailMessage
from typing import Any

from functions.reports.render import Chart
from shared.aws import SendUnconfirmed, error_code, send_email_once

PURPOSE = "report"


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str
    data: bytes


@dataclass
class ReportMail:
    subject: str
    text: str
    html: str  # refers to the charts as cid:<content id without brackets>
    charts: list[Chart] = field(default_factory=list)
    content_ids: dict[str, str] = field(default_factory=dict)  # chart name -> "<id@domain>"
    attachments: list[Attachment] = field(default_factory=list)


class ReportSendFailed(Exception):
    def __init__(self, code: str):
        super().__init__(f"report email not sent: {code}")
        self.code = code


def content_ids(charts: list[Chart], domain: str) -> dict[str, str]:
    """A Content-ID per chart, ``<name.random@domain>``."""
    from email.utils import make_msgid

    return {c.name: make_msgid(idstring=c.name, domain=domain) for c in charts}


def compose(mail: ReportMail, *, sender_name: str, sender_address: str, to_address: str, to_name: str | None,
            message_id: str, language: str, sent_at: datetime, reply_to: str) -> EmailMessage:
    from email.headerregistry import Address
    from email.utils import format_datetime

    msg = EmailMessage()
    msg["From"] = Address(display_name=" ".join(sender_name.split()), addr_spec=sender_address)
    msg["To"] = Address(display_name=" ".join(to_name.split()), addr_spec=to_address) if to_name else to_address
    msg["Reply-To"] = reply_to  # never the complaints intake: a reply must not open a complaint
    msg["Subject"] = mail.subject
    msg["Date"] = format_datetime(sent_at.astimezone(timezone.utc))
    msg["Message-ID"] = message_id
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834
    msg["X-Auto-Response-Suppress"] = "All"
    cte = "base64" if language == "zh" else "quoted-printable"
    msg.set_content(mail.text, subtype="plain", charset="utf-8", cte=cte)
    msg.add_alternative(mail.html, subtype="html", charset="utf-8", cte=cte)
    html_part = msg.get_payload()[1]
    for chart in mail.charts:
        html_part.add_related(chart.png, "image", "png", cid=mail.content_ids[chart.name],
                              filename=f"{chart.name}.png", disposition="inline")
    for attachment in mail.attachments:
        maintype, _, subtype = attachment.content_type.partition(";")[0].partition("/")
        msg.add_attachment(attachment.data, maintype=maintype, subtype=subtype, filename=attachment.filename)
    msg["Content-Language"] = "zh-CN" if language == "zh" else "en"
    return msg


def as_bytes(message: EmailMessage) -> bytes:
    from email import policy

    return message.as_bytes(policy=policy.SMTP)


class ReportMailer:
    """SES v2 raw send; a failure is reduced to its error code (SES messages can quote addresses)."""

    def __init__(self, sesv2: Any, *, sender_address: str, configuration_set: str | None):
        self._ses, self._sender, self._configuration_set = sesv2, sender_address, configuration_set

    def send(self, raw: bytes, *, to: str) -> str:
        kwargs: dict[str, Any] = {"FromEmailAddress": self._sender, "Destination": {"ToAddresses": [to]},
                                  "Content": {"Raw": {"Data": raw}},
                                  "EmailTags": [{"Name": "purpose", "Value": PURPOSE}]}
        if self._configuration_set:
            kwargs["ConfigurationSetName"] = self._configuration_set
        try:
            return send_email_once(self._ses, **kwargs)
        except SendUnconfirmed:  # most likely out: a retry would send the report twice
            return ""
        except Exception as exc:  # noqa: BLE001 - reduced to its code (see the docstring)
            raise ReportSendFailed(error_code(exc) or type(exc).__name__) from None


def report_mailer() -> ReportMailer:
    from shared.aws import client
    from shared.config import settings

    s = settings()
    return ReportMailer(client("sesv2"), sender_address=s.sender_address, configuration_set=s.ses_configuration_set)


# -- the scheduled report, rendered once per (period, scope, language) and sent to each recipient ------------
def _size(n: int) -> str:
    return f"{n / 1024 / 1024:.1f} MB" if n >= 1024 * 1024 else f"{max(1, round(n / 1024))} KB"


class ReportEmails:
    """Renders a due report for a recipient (cached across the recipients of one run) and sends it."""

    def __init__(self, service: Any, mailer: ReportMailer, settings: Any, *, exports_store: Any = None,
                 names: Any = None):
        self._service, self._mailer, self._settings = service, mailer, settings
        self._store, self._names = exports_store, names
        self._cache: dict[tuple, ReportMail] = {}

    def mail(self, period: Any, scope: Any, language: str, formats: tuple[str, ...], now: datetime) -> ReportMail:
        key = (period.label, tuple(scope.departments or ()) if scope.departments is not None else None, language,
               formats)
        if key not in self._cache:
            self._cache[key] = self._render(period, scope, language, formats, now)
        return self._cache[key]

    def _render(self, period: Any, scope: Any, language: str, formats: tuple[str, ...], now: datetime) -> ReportMail:
        from functions.reports import exports, render

        report = self._service.report(period, scope)
        names = self._names(language) if self._names else None
        files = []
        for fmt in formats:
            data = exports.report_csv(report, language) if fmt == "csv" else exports.report_xlsx(report, language, names)
            files.append(Attachment(exports.filename(period, fmt, scope.departments),
                                    exports.CSV_TYPE if fmt == "csv" else exports.XLSX_TYPE, data))
        links, until = [], None
        if sum(len(f.data) for f in files) > self._settings.report_inline_bytes:
            if self._store is None:
                raise ReportSendFailed("ReportsBucketNotSet")
            for f in files:
                stored = self._store.put(f.data, filename=f.filename, content_type=f.content_type,
                                         period_label=period.label, scope=exports.scope_slug(scope), now=now)
                links.append({"url": stored.url, "filename": f.filename, "size": _size(len(f.data))})
                until = stored.expires_at.strftime("%Y-%m-%d %H:%M UTC")
            files = []
        drawn = render.charts(report, language, names)
        ids = content_ids(drawn, self._settings.mail_domain)
        images = {name: "cid:" + cid[1:-1] for name, cid in ids.items()}
        common = {"names": names, "links": links, "links_until": until, "attachments": [f.filename for f in files],
                  "generated_at": now}
        return ReportMail(subject=render.subject(report, language, names),
                          text=render.text(report, language, **common),
                          html=render.html(report, language, images=images, chart_list=drawn, **common),
                          charts=drawn, content_ids=ids, attachments=files)

    def send(self, due: Any, recipient: Any, now: datetime) -> str:
        """Render (or reuse) and send ``due``'s report to ``recipient``; returns our Message-ID."""
        import re
        import secrets

        s = self._settings
        mail = self.mail(due.period, recipient.scope, recipient.language, tuple(due.schedule.attachments), now)
        tag = re.sub(r"[^A-Za-z0-9-]+", "-", f"{due.schedule.schedule_id}.{due.period.label}")
        message_id = f"<report.{tag}.{secrets.token_hex(8)}@{s.mail_domain}>"
        message = compose(mail, sender_name=s.sender_name, sender_address=s.sender_address,
                          to_address=recipient.address, to_name=recipient.name, message_id=message_id,
                          language=recipient.language, sent_at=now,
                          reply_to=s.staff_alert_reply_to or f"no-reply@{s.mail_domain}")
        self._mailer.send(as_bytes(message), to=recipient.address)
        return message_id
