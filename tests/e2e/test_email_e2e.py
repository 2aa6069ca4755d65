"""Email through the local stack: SMTP in, a case with its attachment, an acknowledgement .eml in
var/outbox/, and a reply to that acknowledgement threaded onto the same case."""
from __future__ import annotations

import base64
import smtplib
import time
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import make_msgid

import pytest
import requests

pytestmark = pytest.mark.e2e

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8/5+hHgAHggJ/PchI7wAAAABJRU5ErkJggg==")


def send(stack, msg: EmailMessage) -> None:
    with smtplib.SMTP("127.0.0.1", stack.smtp_port, timeout=10) as smtp:
        smtp.send_message(msg)


def wait_for(what, probe, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = probe()
        if found:
            return found
        time.sleep(0.3)
    pytest.fail(f"timed out waiting for {what}")


def staff_get(stack, path):
    res = requests.get(stack.api_url + path, headers={"Authorization": "Bearer " + stack.token(role="manager")},
                       timeout=10)
    res.raise_for_status()
    return res.json()


def test_email_complaint_attachment_acknowledgement_and_threaded_reply(local_stack):
    sender = f"zhao.{time.time_ns()}@example.cn"
    msg = EmailMessage()
    msg["From"] = f"赵敏 <{sender}>"
    msg["To"] = "complaints@example.com"
    msg["Subject"] = "速冻汤圆包装破损，要求退货"
    msg["Message-ID"] = make_msgid(domain="example.cn")
    msg.set_content("收到的汤圆包装破损，汤圆都粘在一起了。批次 T2410。\n\n赵敏\n发自我的iPhone")
    msg.add_attachment(PNG, maintype="image", subtype="png", filename="破损.png")
    send(local_stack, msg)

    def the_case():
        cases = staff_get(local_stack, "/staff/complaints?channel=email&limit=100")["complaints"]
        return next((c for c in cases if c["title"] == "速冻汤圆包装破损，要求退货"), None)

    case = wait_for("the email's case", the_case)
    number = case["complaint_id"]
    detail = staff_get(local_stack, f"/staff/complaints/{number}")
    assert detail["customer"]["email"] == sender and "发自我的iPhone" not in detail["description"]
    [att] = detail["attachments"]
    assert att["filename"] == "破损.png"
    s3 = local_stack.client("s3")
    assert s3.get_object(Bucket=local_stack.env["ATTACHMENTS_BUCKET"],
                         Key=f"attachments/{att['attachment_id']}")["Body"].read() == PNG

    outbox = local_stack.var_dir / "outbox"

    def the_ack():
        for path in sorted(outbox.glob("*.eml")) if outbox.exists() else []:
            parsed = BytesParser(policy=policy.default).parsebytes(path.read_bytes())
            if number in str(parsed["Subject"]) and sender in str(parsed["To"]):
                return parsed
        return None

    ack = wait_for("the acknowledgement .eml", the_ack)
    text = ack.get_body(preferencelist=("plain",)).get_content()
    assert number in text and "/track?id=" in text

    reply = EmailMessage()
    reply["From"] = f"赵敏 <{sender}>"
    reply["To"] = "complaints@example.com"
    reply["Subject"] = "回复：" + str(ack["Subject"])
    reply["Message-ID"] = make_msgid(domain="example.cn")
    reply["In-Reply-To"] = ack["Message-ID"]
    reply["References"] = ack["Message-ID"]
    reply.set_content("补充照片稍后发送。\n\n在 2026年11月23日，客户服务 写道：\n> 我们已收到您的投诉")
    send(local_stack, reply)

    def the_reply():
        timeline = staff_get(local_stack, f"/staff/complaints/{number}")["timeline"]
        return [e for e in timeline if e["kind"] == "customer_message"]

    [message] = wait_for("the reply on the case", the_reply)
    assert message["text"] == "补充照片稍后发送。"
    cases = staff_get(local_stack, "/staff/complaints?channel=email&limit=100")["complaints"]
    assert sum(1 for c in cases if c["complaint_id"] == number) == 1
    assert not [c for c in cases if c["title"] and c["title"].startswith("回复")]
