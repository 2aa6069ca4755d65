"""The shared corpus of real-world messages (../shared/email-corpus, never copied into this repo):
every message ends as new, reply, ignore or quarantine with a reason, and a reviewed sample ends
the way a person reading it would decide."""
from __future__ import annotations

import json
import statistics
import time
from collections import Counter
from pathlib import Path

import pytest

from functions.intake.mail import OfflineThreadLookup, decide, parse_mail
from infra.mail_bench import corpus_files

CORPUS = Path(__file__).resolve().parents[3].parent / "shared" / "email-corpus"
pytestmark = pytest.mark.skipif(not CORPUS.is_dir(), reason=f"email corpus not found at {CORPUS} "
                                "(it lives in shared/ beside the repository)")


@pytest.fixture(scope="module")
def results():
    out = {}
    for path in corpus_files(CORPUS):
        raw = path.read_bytes()
        start = time.perf_counter()
        mail = parse_mail(raw)
        elapsed = time.perf_counter() - start
        out[str(path.relative_to(CORPUS))] = (mail, decide(mail, OfflineThreadLookup()), elapsed)
    return out


def test_every_message_gets_an_outcome_and_a_reason(results):
    assert len(results) >= 200
    for name, (mail, decision, _) in results.items():
        assert decision.outcome in ("new", "reply", "ignore", "quarantine"), name
        assert decision.reason, name
        assert not decision.reason.startswith("parse_error"), (name, decision.reason)
    outcomes = Counter(d.outcome for _, d, _ in results.values())
    summary = {"messages": len(results),
               "share": {o: round(outcomes[o] / len(results), 3) for o in ("new", "reply", "ignore", "quarantine")},
               "reasons": Counter(f"{d.outcome}:{d.reason}" for _, d, _ in results.values()).most_common(),
               "median_parse_ms": round(statistics.median(t for *_, t in results.values()) * 1000, 2)}
    print("\nemail corpus:", json.dumps(summary, ensure_ascii=False))


REVIEWED = {
    # bounces (DSNs, MAILER-DAEMON/postmaster senders, X-Failed-Recipients)
    "flanker/messages/bounce/broken-mime.eml": ("ignore", "bounce"),
    "flanker/messages/bounce/delayed-broken.eml": ("ignore", "bounce"),
    "flanker/messages/bounce/delayed.eml": ("ignore", "bounce"),
    "flanker/messages/bounce/gmail-invalid-address.eml": ("ignore", "bounce"),
    "flanker/messages/bounce/gmail-no-dns.eml": ("ignore", "bounce"),
    "flanker/messages/bounce/mailbox-full.eml": ("ignore", "bounce"),
    "flanker/messages/bounce/no-mx.eml": ("ignore", "bounce"),
    "flanker/messages/bounce/office365.eml": ("ignore", "bounce"),
    "flanker/messages/bounce/zed.eml": ("ignore", "bounce"),
    "mikel-mail/messages/multipart_report_emails/report_530.eml": ("ignore", "bounce"),
    "mikel-mail/messages/multipart_report_emails/multi_address_bounce1.eml": ("ignore", "bounce"),
    "mikel-mail/messages/multipart_report_emails/multipart_report_multiple_status.eml": ("ignore", "bounce"),
    "mikel-mail/messages/mime_emails/raw_email_with_mimepart_without_content_type.eml": ("ignore", "bounce"),
    "nodemailer-mailparser/messages/delivery-status.eml": ("ignore", "bounce"),
    "postal-mime/messages/bounce.eml": ("ignore", "bounce"),
    "mail-parser/messages/mail_malformed_2": ("ignore", "bounce"),
    # abuse reports, read receipts, auto-replies, lists and bulk
    "flanker/messages/complaints/aol.eml": ("ignore", "feedback_report"),
    "flanker/messages/complaints/yahoo.eml": ("ignore", "feedback_report"),
    "postal-mime/messages/arf.eml": ("ignore", "feedback_report"),
    "flanker/messages/disposition-notification.eml": ("ignore", "read_receipt"),
    "php-mime-mail-parser/messages/issue212": ("ignore", "auto_reply"),  # "Automatyczna odpowiedź: ..."
    "php-mime-mail-parser/messages/issue149": ("ignore", "auto_reply"),  # Hebrew Outlook out-of-office
    "mail-parser/messages/mail_test_13": ("ignore", "mailing_list"),
    "php-mime-mail-parser/messages/m0015": ("ignore", "mailing_list"),
    "nodemailer-mailparser/messages/large_text.eml": ("ignore", "bulk"),
    "mail-parser/messages/mail_test_16": ("ignore", "bulk"),  # GTUBE sample, Precedence: bulk
    # an upstream filter's spam flag; unusable messages
    "mikel-mail/messages/error_emails/empty_group_lists.eml": ("quarantine", "spam_flag"),
    "mikel-mail/messages/plain_emails/raw_email_bad_time.eml": ("quarantine", "spam_flag"),
    "mail-parser/messages/mail_outlook_1": ("quarantine", "not_an_email"),  # an Outlook .msg file
    "php-mime-mail-parser/messages/issue116": ("quarantine", "no_sender"),
    "flanker/messages/attached-pdf.eml": ("quarantine", "no_sender"),
    # people writing (or pretending to)
    "django-helpdesk/messages/quoted_printable.eml": ("new", "new_complaint"),
    "django-helpdesk/messages/all-special-chars.eml": ("new", "new_complaint"),
    "mail-parser/messages/mail_test_12": ("new", "new_complaint"),
    "mikel-mail/messages/plain_emails/raw_email.eml": ("new", "new_complaint"),
    "mikel-mail/messages/multi_charset/japanese_iso_2022.eml": ("new", "new_complaint"),
    "mikel-mail/messages/multi_charset/japanese_shift_jis.eml": ("new", "new_complaint"),
    "mikel-mail/messages/multi_charset/ks_c_5601-1987.eml": ("new", "new_complaint"),
    "mikel-mail/messages/rfc6532/utf8_headers.eml": ("new", "new_complaint"),
    "mikel-mail/messages/plain_emails/raw_email_reply.eml": ("new", "new_complaint"),
    "flanker/messages/text-only.eml": ("new", "new_complaint"),
    "flanker/messages/iphone.eml": ("new", "new_complaint"),
    "flanker/messages/mailgun-pic.eml": ("new", "new_complaint"),
    "flanker/messages/enclosed.eml": ("new", "new_complaint"),
    "flanker/messages/enclosed-endless.eml": ("new", "new_complaint"),
    "flanker/messages/multi-received-headers.eml": ("new", "new_complaint"),
    "flanker/messages/encoded-header.eml": ("new", "new_complaint"),
    "mikel-mail/messages/attachment_emails/attachment_nonascii_filename.eml": ("new", "new_complaint"),
    "mikel-mail/messages/attachment_emails/attachment_with_quoted_filename.eml": ("new", "new_complaint"),
    "mikel-mail/messages/multi_charset/japanese_attachment.eml": ("new", "new_complaint"),
    "mail-parser/messages/mail_test_18": ("new", "new_complaint"),
    "php-mime-mail-parser/messages/m0013": ("new", "new_complaint"),
    "php-mime-mail-parser/messages/m0028": ("new", "new_complaint"),
    "php-mime-mail-parser/messages/issue408.eml": ("new", "new_complaint"),
    "php-mime-mail-parser/messages/issue158c": ("new", "new_complaint"),
    "php-mime-mail-parser/messages/m0014": ("new", "new_complaint"),
    "nodemailer-mailparser/messages/htmllargecallstack.eml": ("new", "new_complaint"),
}


@pytest.mark.parametrize("name", sorted(REVIEWED))
def test_reviewed_sample(results, name):
    mail, decision, _ = results[name]
    assert (decision.outcome, decision.reason) == REVIEWED[name], (mail.defects, mail.subject)


def fields(results, name):
    return results[name][0]


def test_reviewed_fields_charsets(results):
    m = fields(results, "django-helpdesk/messages/quoted_printable.eml")
    assert (m.subject, m.text) == ("Český test", "Tohle je test českých písmen odeslaných z gmailu.")
    m = fields(results, "django-helpdesk/messages/all-special-chars.eml")
    assert (m.subject, m.text) == ("Testovácí email", "íářčšáíéřášč")
    m = fields(results, "mail-parser/messages/mail_test_12")  # GB2312 headers and body
    assert (m.subject, m.sender_name, m.sender_address, m.language) == \
        ("代开各地增值税发票", "张先生", "baoguan@hotmail.com", "zh")
    assert m.text.startswith("你好！我公司可代开各类增值税发票，17%专用发票，3%普通发票")
    assert fields(results, "mikel-mail/messages/plain_emails/raw_email.eml").subject == "NOTE: 한국말로 하는 것"
    m = fields(results, "mikel-mail/messages/multi_charset/japanese_iso_2022.eml")
    assert (m.subject, m.text) == ("まみむめも", "すみません。")
    assert fields(results, "mikel-mail/messages/multi_charset/japanese_shift_jis.eml").text.startswith("あいうえお")
    assert fields(results, "mikel-mail/messages/multi_charset/ks_c_5601-1987.eml").text == "스티해"
    m = fields(results, "mikel-mail/messages/rfc6532/utf8_headers.eml")
    assert (m.sender_address, m.sender_name, m.subject) == ("jdöe@mächine.example", "Jöhn Doe", "Säying Hello")
    assert fields(results, "mail-parser/messages/mail_test_18").sender_name == "LastßlName, FirstName"
    assert fields(results, "flanker/messages/encoded-header.eml").sender_name == "Foo, Bar"


def test_reviewed_fields_bodies_and_forwards(results):
    assert fields(results, "flanker/messages/text-only.eml").text == \
        "Hello,\nI'm just testing message parsing\n\nBR,\nBob"
    assert fields(results, "mikel-mail/messages/plain_emails/raw_email_reply.eml").text == "Message body"
    for name in ("flanker/messages/enclosed.eml", "flanker/messages/enclosed-endless.eml"):
        text = fields(results, name).text
        assert text.startswith("Hello\n\n---------- Forwarded message ---------\nFrom: ")
        assert "чтобы я без вас делал, дорогие мои!!!" in text
    assert "too_many_parts" in fields(results, "flanker/messages/enclosed-endless.eml").defects
    assert "Forwarded message" in fields(results, "flanker/messages/multi-received-headers.eml").text
    assert "---------- Forwarded message ---------" in fields(results, "php-mime-mail-parser/messages/issue158c").text
    assert fields(results, "php-mime-mail-parser/messages/m0014").text.startswith("Die Hasen und die Frösche")


def test_reviewed_fields_attachments(results):
    def atts(name):
        return [(a.filename, a.content_type) for a in fields(results, name).attachments]

    assert atts("flanker/messages/iphone.eml") == [("photo.JPG", "image/jpeg")]
    assert fields(results, "flanker/messages/iphone.eml").text == "Hello\n\n~Danielle"
    assert atts("flanker/messages/mailgun-pic.eml") == [("mailgun.png", "image/png")]
    assert atts("mikel-mail/messages/attachment_emails/attachment_nonascii_filename.eml") == \
        [("ciële.txt", "text/plain")]
    assert atts("mikel-mail/messages/attachment_emails/attachment_with_quoted_filename.eml") == \
        [("Eelanalüüsi päring.jpg", "image/jpeg")]
    assert atts("mikel-mail/messages/multi_charset/japanese_attachment.eml") == [("てすと.txt", "text/plain")]
    assert atts("php-mime-mail-parser/messages/m0013") == \
        [("50032266 CAR 11_MNPA00A01_9PTX_H00 ATT N° 1467829.pdf", "application/pdf")]
    m0028 = fields(results, "php-mime-mail-parser/messages/m0028")
    assert len(m0028.attachments) == 10 and m0028.text == "This is the plain text content of the email"
    assert len(fields(results, "php-mime-mail-parser/messages/issue408.eml").attachments) > 300


def test_the_corpus_parses_quickly(results):
    times = sorted(t for *_, t in results.values())
    assert statistics.median(times) < 0.05
    assert times[-1] < 5
