"""The notifier's parts on their own: Message-IDs, phone numbers, templates, channel errors, and the
local stack's outbox hooks."""
from __future__ import annotations

import email
from datetime import datetime, timezone
from email import policy

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from functions.notifier.channels import EmailChannel, SendFailed, SmsChannel
from shared.contact import e164
from functions.notifier.messages import compose_email, email_bytes, format_deadline, render
from shared.identifiers import new_complaint_number
from shared.mail_ids import (complaint_of_message_id, normalize_message_id, our_message_id, parse_our_message_id,
                             ses_message_ids)

NUMBER = new_complaint_number()


# -- Message-IDs ---------------------------------------------------------------------------------
def test_our_message_id_names_its_complaint_and_purpose():
    first, second = (our_message_id(NUMBER, "ack", "example.com") for _ in range(2))
    assert first != second and first.startswith(f"<{NUMBER}.ack.") and first.endswith("@example.com>")
    assert parse_our_message_id(first) == (NUMBER, "ack")
    assert complaint_of_message_id(" " + first + "\r\n", "EXAMPLE.com") == NUMBER
    assert complaint_of_message_id(first, "other.example") is None
    assert complaint_of_message_id(our_message_id(NUMBER, "reply-ack", "example.com")) == NUMBER


@pytest.mark.parametrize("value", [None, "", "<no-at-sign>", "<a b@example.com>", "<x@y>>",
                                   "<CZZZZZZZZZ.ack.0123456789abcdef@example.com>"])
def test_other_ids_are_not_ours(value):
    assert complaint_of_message_id(value) is None


def test_a_mistyped_number_in_an_id_is_not_ours():
    wrong = NUMBER[:-1] + ("2" if NUMBER[-1] != "2" else "3")
    assert complaint_of_message_id(f"<{wrong}.ack.0123456789abcdef@example.com>") is None


def test_message_ids_are_normalized_to_the_header_form():
    assert normalize_message_id("abc@example.com") == "<abc@example.com>"
    assert normalize_message_id("  <abc@example.com> ") == "<abc@example.com>"
    assert normalize_message_id("<abc@example.com> <def@example.com>") is None


def test_ses_message_ids_depend_on_the_region():
    assert ses_message_ids("0100-abc", "us-east-1") == ["<0100-abc@email.amazonses.com>"]
    assert ses_message_ids("0102-abc", "eu-west-1")[0] == "<0102-abc@eu-west-1.amazonses.com>"


# -- phone numbers -----------------------------------------------------------------------------------
@pytest.mark.parametrize("phone, default, expected", [
    ("+8613800138000", None, "+8613800138000"),
    ("+86 138-0013-8000", None, "+8613800138000"),
    ("008613800138000", None, "+8613800138000"),
    ("13800138000", None, None),
    ("13800138000", "86", "+8613800138000"),
    ("020 7946 0958", "44", "+442079460958"),
    ("+0123", None, None),
    (None, "86", None),
])
def test_phone_numbers_become_e164(phone, default, expected):
    assert e164(phone, default) == expected


# -- templates -------------------------------------------------------------------------------------
CONTEXT = dict(complaint_id=NUMBER, name="Li Wei", title="Leaking kettle", tracking_url="https://x.example/track?id=1#token=t",
               first_response_hours=24, respond_by="soon", received_at="now", sender_name="Customer Care")


@pytest.mark.parametrize("kind", ["ack", "reply_ack"])
@pytest.mark.parametrize("language", ["zh", "en"])
def test_every_template_renders(kind, language):
    rendered = render(kind, language, **CONTEXT)
    assert rendered.subject.startswith(f"[{NUMBER}] ") and "\n" not in rendered.subject
    for part in (rendered.text, rendered.html, rendered.sms):
        assert NUMBER in part and "https://x.example/track?id=1#token=t" in part.replace("&amp;", "&")
    assert rendered.html.lstrip().startswith("<!DOCTYPE html>")
    assert f'lang="{"zh-CN" if language == "zh" else "en"}"' in rendered.html


def test_html_is_escaped_and_text_is_not():
    rendered = render("ack", "en", **{**CONTEXT, "title": "<img src=x onerror=alert(1)>", "name": "Tom & Jerry"})
    assert "<img" not in rendered.html and "&lt;img src=x onerror=alert(1)&gt;" in rendered.html
    assert "Tom &amp; Jerry" in rendered.html
    assert "<img src=x onerror=alert(1)>" in rendered.text and "Tom & Jerry" in rendered.text


def test_a_missing_value_is_an_error_not_a_blank():
    from jinja2 import UndefinedError

    with pytest.raises(UndefinedError):
        render("ack", "en", **{k: v for k, v in CONTEXT.items() if k != "tracking_url"})


def test_deadlines_read_naturally():
    at = datetime(2024, 5, 1, 17, 30, tzinfo=timezone.utc)
    assert format_deadline(at, "zh") == "北京时间 2024年5月2日 01:30"
    assert format_deadline(at, "en") == "1 May 2024, 17:30 UTC"


def test_email_is_multipart_7bit_with_our_headers():
    rendered = render("ack", "zh", **{**CONTEXT, "name": "李伟"})
    message_id = our_message_id(NUMBER, "ack", "example.com")
    raw = email_bytes(compose_email(rendered, sender_name="Customer Care / 客户服务", sender_address="c@example.com",
                                    to_name="李\r\n伟", to_address="li@example.com", message_id=message_id,
                                    language="zh", sent_at=datetime.now(timezone.utc),
                                    in_reply_to="<theirs@example.net>"))
    raw.decode("ascii")  # SES and every relay take it as it is
    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))
    parsed = email.message_from_bytes(raw, policy=policy.default)
    assert parsed["Message-ID"] == message_id and parsed["In-Reply-To"] == "<theirs@example.net>"
    assert parsed["To"].addresses[0].display_name == "李 伟"
    assert parsed["From"].addresses[0].display_name == "Customer Care / 客户服务"
    assert parsed["Subject"] == f"[{NUMBER}] 我们已收到您的投诉"
    assert parsed.get_body(("plain",)).get_content() == rendered.text
    assert parsed.get_body(("html",)).get_content() == rendered.html


# -- channels ---------------------------------------------------------------------------------------
class _Refusing:
    def send_email(self, **kwargs):
        raise ClientError({"Error": {"Code": "MessageRejected",
                                     "Message": "Email address is not verified: li.wei@example.com"}}, "SendEmail")

    def publish(self, **kwargs):
        raise ClientError({"Error": {"Code": "InvalidParameter", "Message": "Invalid phone +8613800138000"}},
                          "Publish")


def test_send_errors_keep_the_code_and_drop_the_message():
    with pytest.raises(SendFailed) as email_error:
        EmailChannel(_Refusing(), sender_address="c@example.com", configuration_set="cs").send(
            b"raw", to="li.wei@example.com", purpose="ack")
    with pytest.raises(SendFailed) as sms_error:
        SmsChannel(_Refusing()).send("+8613800138000", "hello")
    assert email_error.value.code == "MessageRejected" and sms_error.value.code == "InvalidParameter"
    for error in (email_error.value, sms_error.value):
        assert "example.com" not in str(error) and "138" not in str(error)
        assert error.__cause__ is None and error.__suppress_context__


# -- the local outbox ---------------------------------------------------------------------------------
@pytest.fixture
def fresh_default_session(monkeypatch):
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    with mock_aws():
        yield


def test_outbox_copies_accepted_emails_and_sms(fresh_default_session, tmp_path):
    from infra.local_outbox import install

    uninstall = install(tmp_path, boto3.client, sender_address="c@example.com")
    ses, sns = boto3.client("sesv2"), boto3.client("sns")  # made after install, as the app's clients are
    rendered = render("ack", "en", **CONTEXT)
    message_id = our_message_id(NUMBER, "ack", "example.com")
    raw = email_bytes(compose_email(rendered, sender_name="Care", sender_address="c@example.com", to_name=None,
                                    to_address="ann@example.com", message_id=message_id, language="en",
                                    sent_at=datetime.now(timezone.utc)))
    ses.send_email(FromEmailAddress="c@example.com", Destination={"ToAddresses": ["ann@example.com"]},
                   Content={"Raw": {"Data": raw}}, ConfigurationSetName="complaints-dev")
    with pytest.raises(ClientError):  # refused (unverified sender): no file
        ses.send_email(FromEmailAddress="x@unverified.example", Destination={"ToAddresses": ["a@example.com"]},
                       Content={"Raw": {"Data": raw.replace(b"c@example.com", b"x@unverified.example")}})
    sns.publish(PhoneNumber="+8613800138000", Message="Your complaint\nis received")
    sns.publish(TopicArn=sns.create_topic(Name="t")["TopicArn"], Message="not an SMS")

    [eml] = tmp_path.glob("*.eml")
    assert eml.name.endswith(f"-{NUMBER}-ack.eml")
    assert eml.read_bytes() == raw
    [line] = (tmp_path / "sms.log").read_text(encoding="utf-8").splitlines()
    assert line.split("\t")[1:] == ["+8613800138000", "Your complaint is received"]

    uninstall()
    boto3.client("sesv2").send_email(FromEmailAddress="c@example.com", Destination={"ToAddresses": ["a@example.com"]},
                                     Content={"Raw": {"Data": raw}})
    assert len(list(tmp_path.glob("*.eml"))) == 1


# -- the delivery log -------------------------------------------------------------------------------
def test_delivery_log_claims_once_and_takes_over_an_expired_claim(fresh_default_session):
    from datetime import timedelta

    from functions.notifier.delivery_log import LEASE, Claim, DeliveryInProgress, DeliveryLog, Record

    db = boto3.client("dynamodb", region_name="us-east-1")
    db.create_table(TableName="t", BillingMode="PAY_PER_REQUEST",
                    AttributeDefinitions=[{"AttributeName": "PK", "AttributeType": "S"},
                                          {"AttributeName": "SK", "AttributeType": "S"}],
                    KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}])
    now = [datetime(2024, 5, 1, 10, 0, tzinfo=timezone.utc)]
    log = DeliveryLog(db, "t", clock=lambda: now[0])

    first = log.claim(NUMBER, "e1", "email", purpose="ack")
    assert isinstance(first, Claim) and first.attempt == 1
    with pytest.raises(DeliveryInProgress):  # a second delivery while the first is sending
        log.claim(NUMBER, "e1", "email", purpose="ack")

    now[0] += LEASE + timedelta(seconds=1)  # the first one died: its lease expired
    second = log.claim(NUMBER, "e1", "email", purpose="ack")
    assert isinstance(second, Claim) and second.attempt == 2
    assert not log.sent(first, sent_at=now[0], message_ids=["<a@b>"])  # the old claim cannot close it
    assert log.failed(second, error="Throttling")
    third = log.claim(NUMBER, "e1", "email", purpose="ack")  # failed: claimable again
    assert log.sent(third, sent_at=now[0], message_ids=["<a@b>"])
    done = log.claim(NUMBER, "e1", "email", purpose="ack")
    assert done == Record("sent", "2024-05-01T10:02:01.000Z", ("<a@b>",))
    assert log.get(NUMBER, "e1", "email")["attempts"] == 3

    assert log.skip(NUMBER, "e2", purpose="ack", reason="no contact")
    assert not log.skip(NUMBER, "e2", purpose="ack", reason="no contact")
