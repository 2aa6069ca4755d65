"""Real-world-shaped emails built in code (see builders.py): each one's outcome, reason and key fields."""
from __future__ import annotations

import base64
import time

import pytest

from functions.intake.mail import OfflineThreadLookup, ParsedMail, decide, our_message_id, parse_mail
from functions.intake.mail import parser as parser_module
from tests.unit.mail.builders import (CUSTOMER, DATE, DOCX, MISTYPED, NUMBER, OUR_ADDRESS, PDF, PNG,
                                      base_headers, dsn_bounce, encoded_word, forwarded_rfc822,
                                      multipart, multipart_mail, part, raw, related_with_inline_image,
                                      text_mail, with_attachments)

LOOKUP = OfflineThreadLookup()


def check(message: bytes, outcome: str, reason: str, **fields) -> ParsedMail:
    mail = parse_mail(message, own_addresses=[OUR_ADDRESS])
    decision = decide(mail, LOOKUP)
    assert (decision.outcome, decision.reason) == (outcome, reason), (decision, mail.defects)
    for name, expected in fields.items():
        assert getattr(mail, name) == expected, (name, getattr(mail, name))
    return mail


def names(mail: ParsedMail) -> list[tuple[str, str, int]]:
    return [(a.filename, a.content_type, len(a.data)) for a in mail.attachments]


# -- charsets and transfer encodings ----------------------------------------------------------------
ZH = "我买的电水壶用了两天就坏了，请尽快处理。"


def test_utf8_base64_body_and_encoded_subject_and_name():
    mail = check(text_mail(ZH, subject=encoded_word("电水壶质量问题"), cte="base64",
                           sender=f"{encoded_word('张三')} <{CUSTOMER}>"),
                 "new", "new_complaint", subject="电水壶质量问题", text=ZH, language="zh")
    assert (mail.sender_address, mail.sender_name) == (CUSTOMER, "张三")
    assert mail.date is not None and mail.date.utcoffset().total_seconds() == 0


def test_gb2312_base64():
    check(text_mail(ZH, subject=encoded_word("投诉：水壶漏水", "gb2312"), charset="gb2312", cte="base64"),
          "new", "new_complaint", subject="投诉：水壶漏水", text=ZH, defects=[])


def test_gbk_quoted_printable_with_a_character_outside_gb2312():
    text = "客服王堃说会回电，但没有。"  # 堃 is in GBK, not in GB2312
    check(text_mail(text, subject=encoded_word("没有回电", "gbk", "Q"), charset="gbk", cte="quoted-printable"),
          "new", "new_complaint", subject="没有回电", text=text)


def test_gb2312_label_on_gbk_text_reads_as_gb18030():
    text = "王堃的订单"
    check(text_mail(text, charset="gb2312", cte="base64", encode_as="gbk"), "new", "new_complaint", text=text,
          defects=[])


def test_gb18030_four_byte_character():
    text = "商品名称：𠀀牌水壶，价格€20"
    check(text_mail(text, charset="gb18030", cte="base64"), "new", "new_complaint", text=text)


def test_big5_traditional_chinese():
    text = "我的訂單還沒有到，已經等了兩個星期。"
    check(text_mail(text, subject=encoded_word("訂單延誤", "big5"), charset="big5", cte="base64"),
          "new", "new_complaint", subject="訂單延誤", text=text, language="zh")


def test_iso_8859_1_quoted_printable():
    text = "Le café était froid et la crème brûlée ratée."
    check(text_mail(text, subject=encoded_word("Réclamation", "iso-8859-1", "Q"), charset="iso-8859-1",
                    cte="quoted-printable"),
          "new", "new_complaint", subject="Réclamation", text=text, language="en")


def test_iso_8859_15_euro_sign():
    text = "Ich habe 20 € zu viel bezahlt."
    assert "€".encode("iso-8859-15") == b"\xa4"
    check(text_mail(text, charset="iso-8859-15", cte="8bit"), "new", "new_complaint", text=text)


def test_raw_gbk_bytes_in_headers_read_with_the_body_charset():
    headers = [("From", "张三 <zhang.san@example.cn>".encode("gbk").decode("ascii", "surrogateescape")),
               ("To", OUR_ADDRESS), ("Subject", "水壶坏了".encode("gbk").decode("ascii", "surrogateescape")),
               ("Date", DATE), ("Content-Type", "text/plain; charset=GBK"), ("Content-Transfer-Encoding", "8bit")]
    mail = check(raw(headers, ZH.encode("gbk")), "new", "new_complaint", subject="水壶坏了", text=ZH)
    assert mail.sender_name == "张三"


def test_unknown_charset_label_iso_gb2312_falls_back_to_gb18030():
    mail = check(text_mail(ZH, charset="iso-gb2312", cte="base64", encode_as="gb18030",
                           subject=encoded_word("水壶", "gb2312").replace("gb2312", "iso-gb2312")),
                 "new", "new_complaint", text=ZH, subject="水壶")
    assert "unknown_charset" in mail.defects


def test_x_unknown_charset_latin_text():
    mail = check(text_mail("Größe falsch geliefert", charset="X-UNKNOWN", encode_as="latin-1"), "new",
                 "new_complaint", text="Größe falsch geliefert")
    assert "unknown_charset" in mail.defects


def test_utf8_label_on_gbk_bytes_is_read_as_gb18030_with_a_defect():
    mail = check(text_mail(ZH, charset="utf-8", encode_as="gbk"), "new", "new_complaint", text=ZH)
    assert "charset_fallback:gb18030" in mail.defects


# -- structure ---------------------------------------------------------------------------------------
def test_html_only_keeps_paragraphs_lists_and_line_breaks():
    html = ("<html><head><style>p{color:red}</style><title>x</title></head><body>"
            "<p>您好，</p><p>订单号：<b>88812</b><br>商品：电水壶</p><ul><li>漏水</li><li>异味</li></ul>"
            "<table><tr><td>金额</td><td>199元</td></tr></table><script>alert(1)</script></body></html>")
    check(text_mail(html, subtype="html", cte="base64"), "new", "new_complaint",
          text="您好，\n\n订单号：88812\n商品：电水壶\n\n- 漏水\n- 异味\n\n金额 199元")


def test_alternative_prefers_the_plain_part():
    message = multipart_mail("alternative", [
        part("text/plain; charset=utf-8", "The plain version.".encode()),
        part("text/html; charset=utf-8", b"<p>The <b>HTML</b> version.</p>"),
    ])
    check(message, "new", "new_complaint", text="The plain version.")


def test_alternative_with_an_empty_plain_part_uses_the_html():
    message = multipart_mail("alternative", [
        part("text/plain; charset=utf-8", b"  \r\n"),
        part("text/html; charset=utf-8", "<div>Only in <i>HTML</i>.</div>".encode(), cte="quoted-printable"),
    ])
    check(message, "new", "new_complaint", text="Only in HTML.")


def test_attachments_pdf_png_docx():
    docx_type = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    mail = check(with_attachments("Invoice, photo and letter attached.",
                                  [("invoice.pdf", "application/pdf", PDF), ("photo.png", "image/png", PNG),
                                   ("letter.docx", docx_type, DOCX)]),
                 "new", "new_complaint", text="Invoice, photo and letter attached.")
    assert names(mail) == [("invoice.pdf", "application/pdf", len(PDF)), ("photo.png", "image/png", len(PNG)),
                           ("letter.docx", docx_type, len(DOCX))]
    assert mail.attachments[0].data == PDF and not any(a.inline for a in mail.attachments)


def test_inline_image_referenced_by_content_id():
    mail = check(related_with_inline_image('<p>See <img src="cid:photo1@example.cn"></p>'), "new", "new_complaint",
                 text="See the photo.")
    (image,) = mail.attachments
    assert (image.filename, image.content_type, image.inline, image.content_id) == \
        ("damage.png", "image/png", True, "photo1@example.cn")


def test_chinese_file_names_rfc2231_and_rfc2047():
    rfc2231 = part("application/pdf", PDF, cte="base64",
                   headers=[("Content-Disposition", "attachment; filename*=UTF-8''%E5%8F%91%E7%A5%A8.pdf")])
    rfc2047 = part(f'image/jpeg; name="{encoded_word("照片.jpg", "gb2312")}"', b"\xff\xd8\xff\xe0", cte="base64",
                   headers=[("Content-Disposition", f'attachment; filename="{encoded_word("照片.jpg", "gb2312")}"')])
    mail = check(multipart_mail("mixed", [part("text/plain; charset=utf-8", "见附件".encode()), rfc2231, rfc2047]),
                 "new", "new_complaint", text="见附件")
    assert names(mail) == [("发票.pdf", "application/pdf", len(PDF)), ("照片.jpg", "image/jpeg", 4)]


def test_attachment_without_a_name_and_octet_stream_with_one():
    mail = check(multipart_mail("mixed", [
        part("text/plain", b"two files"),
        part("application/pdf", PDF, cte="base64", headers=[("Content-Disposition", "attachment")]),
        part("application/octet-stream", b"\xff\xd8\xff", cte="base64",
             headers=[("Content-Disposition", 'attachment; filename="../../etc/scan.JPG"')]),
    ]), "new", "new_complaint", text="two files")
    assert names(mail) == [("attachment-1.pdf", "application/pdf", len(PDF)), ("scan.JPG", "image/jpeg", 3)]


def test_attachment_only_message_is_a_new_case():
    mail = check(with_attachments("", [("receipt.pdf", "application/pdf", PDF)], subject=""), "new",
                 "new_complaint", text="", subject="")
    assert names(mail) == [("receipt.pdf", "application/pdf", len(PDF))]


# -- forwarded complaints ----------------------------------------------------------------------------
def test_forwarded_as_rfc822_attachment_keeps_the_forwarded_content():
    inner = with_attachments("The kettle leaks since day one.", [("photo.png", "image/png", PNG)],
                             subject="Leaking kettle")
    mail = check(forwarded_rfc822("FYI, from my mother.\n\nSent from my iPhone", inner), "new", "new_complaint",
                 subject="Fwd: Broken kettle")
    assert mail.text == ("FYI, from my mother.\n\n---------- Forwarded message ---------\n"
                         f"From: Zhang San <{CUSTOMER}>\nDate: {DATE}\nSubject: Leaking kettle\nTo: {OUR_ADDRESS}\n\n"
                         "The kettle leaks since day one.")
    assert names(mail) == [("photo.png", "image/png", len(PNG))]


def test_inline_gmail_forward_in_english():
    body = ("Please look at this.\n\n---------- Forwarded message ---------\nFrom: Alice <alice@example.org>\n"
            "Date: Mon, Mar 4, 2024 at 9:12 AM\nSubject: Refund\nTo: <bob@example.org>\n\n\n"
            "I was charged twice for order 4411.\n\n-- \nAlice\n")
    check(text_mail(body, subject="Fwd: Refund"), "new", "new_complaint",
          text="Please look at this.\n\n---------- Forwarded message ---------\nFrom: Alice <alice@example.org>\n"
               "Date: Mon, Mar 4, 2024 at 9:12 AM\nSubject: Refund\nTo: <bob@example.org>\n\n"
               "I was charged twice for order 4411.")


def test_inline_forward_in_chinese():
    body = ("请处理我朋友的投诉。\n\n发自我的iPhone\n\n-------- 转发的邮件 --------\n发件人: 李四 <li.si@example.cn>\n"
            "日期: 2024年3月1日 星期五 09:00\n主题: 退款\n收件人: 王五\n\n退款申请已经两周没有回复。\n")
    check(text_mail(body, subject="转发：退款"), "new", "new_complaint", language="zh",
          text="请处理我朋友的投诉。\n\n-------- 转发的邮件 --------\n发件人: 李四 <li.si@example.cn>\n"
               "日期: 2024年3月1日 星期五 09:00\n主题: 退款\n收件人: 王五\n\n退款申请已经两周没有回复。")


def test_outlook_forward_keeps_the_original_message_block():
    body = ("See below.\n\n-----Original Message-----\nFrom: Carol <carol@example.org>\n"
            "Sent: Friday, March 1, 2024 8:00 AM\nTo: Dave\nSubject: Damaged parcel\n\nThe parcel arrived crushed.\n")
    check(text_mail(body, subject="FW: Damaged parcel"), "new", "new_complaint",
          text="See below.\n\n-----Original Message-----\nFrom: Carol <carol@example.org>\n"
               "Sent: Friday, March 1, 2024 8:00 AM\nTo: Dave\nSubject: Damaged parcel\n\nThe parcel arrived crushed.")


# -- replies -----------------------------------------------------------------------------------------
def test_gmail_reply_with_the_number_in_the_subject():
    body = (f"It is still broken.\n\nOn Fri, Mar 1, 2024 at 10:00 AM Customer Care <{OUR_ADDRESS}> wrote:\n"
            "> Thank you, we received your complaint.\n> Your number is " + NUMBER + ".\n")
    mail = parse_mail(text_mail(body, subject=f"Re: [{NUMBER}] Broken kettle"))
    assert decide(mail, LOOKUP) == decide(mail, LOOKUP).__class__("reply", "subject_number", NUMBER)
    assert mail.text == "It is still broken." and mail.full_text.startswith("It is still broken.\n\nOn Fri")


def test_chinese_gmail_reply_threaded_by_in_reply_to():
    ours = our_message_id(NUMBER, "ack", "example.com")
    body = f"还是坏的。\n\n在 2024年3月1日周五 10:00，客户服务 <{OUR_ADDRESS}> 写道：\n> 感谢您的投诉。\n"
    message = text_mail(body, subject="回复：您的投诉已受理", extra=[("In-Reply-To", ours), ("References", ours)])
    mail = parse_mail(message)
    decision = decide(mail, LOOKUP)
    assert (decision.outcome, decision.reason, decision.complaint_id) == ("reply", "in_reply_to", NUMBER)
    assert mail.text == "还是坏的。" and mail.in_reply_to == [ours]


def test_outlook_reply_threaded_by_references():
    ours = our_message_id(NUMBER, "reply-ack", "example.com")
    body = ("Any news?\n\nRegards\nJohn\n\n________________________________\nFrom: Customer Care <"
            f"{OUR_ADDRESS}>\nSent: Friday, March 1, 2024 10:00 AM\nTo: John\nSubject: Your complaint\n\nHello John\n")
    message = text_mail(body, subject="RE: Your complaint",
                        extra=[("In-Reply-To", "<other@mail.example.cn>"), ("References", f"<a@b.c> {ours}")])
    mail = parse_mail(message)
    decision = decide(mail, LOOKUP)
    assert (decision.outcome, decision.reason, decision.complaint_id) == ("reply", "references", NUMBER)
    assert mail.text == "Any news?\n\nRegards\nJohn"
    assert mail.references == ["<a@b.c>", ours]


def test_chinese_outlook_reply_trims_the_header_block():
    body = ("请给我回电话。\n\n发件人: 客户服务 <complaints@example.com>\n发送时间: 2024年3月1日 10:00\n"
            "收件人: 张三\n主题: 您的投诉\n\n您好\n")
    check(text_mail(body, subject=f"答复: [{NUMBER}] 您的投诉"), "reply", "subject_number", text="请给我回电话。")


def test_qq_mail_reply_trims_the_original_mail():
    body = ("好的，谢谢。\n\n------------------&nbsp;原始邮件&nbsp;------------------\n"
            .replace("&nbsp;", "\u00a0") + "发件人: \"客户服务\"<complaints@example.com>;\n"
            "发送时间: 2024年3月1日(星期五) 上午10:00\n收件人: \"张三\"<zhang.san@example.cn>;\n主题: 投诉\n\n您好\n")
    check(text_mail(body, subject="回复：投诉"), "new", "new_complaint", text="好的，谢谢。")


def test_inline_answers_between_quotes_are_kept():
    body = "> What is your order number?\n4411\n> When did it arrive?\nOn Monday.\n"
    check(text_mail(body, subject="Re: questions"), "new", "new_complaint", text="4411\nOn Monday.")


def test_mistyped_number_in_the_subject_is_not_a_reply():
    check(text_mail("Still waiting.", subject=f"Re: [{MISTYPED}] Broken kettle"), "new", "new_complaint")


def test_foreign_in_reply_to_is_a_new_case():
    check(text_mail("New problem.", extra=[("In-Reply-To", "<abc@gmail.com>")]), "new", "new_complaint",
          in_reply_to=["<abc@gmail.com>"])


def test_signatures_are_trimmed_zh_and_en():
    check(text_mail("The lid does not close.\n\n-- \nJohn Smith\nACME Ltd.\n+1 555 0100\n"), "new",
          "new_complaint", text="The lid does not close.")
    check(text_mail("盖子关不上。\n\n发自我的iPhone\n"), "new", "new_complaint", text="盖子关不上。")
    check(text_mail("Lid broken.\n\nSent from my iPhone\n"), "new", "new_complaint", text="Lid broken.")


# -- loops and junk ----------------------------------------------------------------------------------
@pytest.mark.parametrize("header, reason", [
    (("Auto-Submitted", "auto-replied"), "auto_submitted"),
    (("Auto-Submitted", "auto-generated; type=vacation"), "auto_submitted"),
    (("X-Autoreply", "yes"), "auto_reply"),
    (("X-Autorespond", "Vacation"), "auto_reply"),
    (("X-Auto-Response-Suppress", "All"), "auto_reply"),
    (("Precedence", "bulk"), "bulk"),
    (("Precedence", "junk"), "bulk"),
    (("Precedence", "list"), "mailing_list"),
    (("Precedence", "auto_reply"), "auto_reply"),
    (("List-Id", "Shoppers <shoppers.lists.example.org>"), "mailing_list"),
    (("List-Unsubscribe", "<mailto:leave@example.org>"), "mailing_list"),
])
def test_machine_made_mail_is_ignored(header, reason):
    check(text_mail("Automatic message", extra=[header]), "ignore", reason)


def test_auto_submitted_no_is_a_person():
    check(text_mail("I wrote this myself.", extra=[("Auto-Submitted", "no")]), "new", "new_complaint")


@pytest.mark.parametrize("subject", ["Out of Office: Broken kettle", "Automatic reply: Broken kettle",
                                     "自动回复：您的投诉", "自動回覆: 訂單"])
def test_vacation_subjects_are_ignored(subject):
    check(text_mail("I am away until Monday.", subject=subject), "ignore", "auto_reply")


def test_dsn_bounce_with_group_to_header_is_ignored():
    mail = check(dsn_bounce(text_mail("Original", subject="Hello")), "ignore", "bounce",
                 sender_address="mailer-daemon@mx.example.cn")
    assert mail.to == []


def test_null_return_path_and_postmaster_are_bounces():
    check(text_mail("Delivery failed", sender="postmaster@example.cn"), "ignore", "bounce")
    check(text_mail("Delivery failed", extra=[("Return-Path", "<>")]), "ignore", "bounce")
    check(text_mail("Delivery failed", sender="<>"), "ignore", "bounce")


@pytest.mark.parametrize("subject", ["mail delivery failed to com", "Mail delivery failed: my order",
                                     "邮件投递失败，快递三天没到", "Undeliverable: refund never arrived"])
def test_a_person_whose_subject_reads_like_a_bounce_is_heard(subject):
    """A complaint about a failed delivery (of a parcel or of an email) is a complaint: found in a
    10,000-complaint load test, where a real helpdesk text titled "mail delivery failed" was dropped."""
    check(text_mail("My parcel was never delivered and the email you sent bounced.", subject=subject),
          "new", "new_complaint")


@pytest.mark.parametrize("sender", ["Microsoft Outlook <MicrosoftExchange329e71ec88ae4615bbc36ab6ce41109e@corp.example.cn>",
                                    "Mail Delivery System <mail-delivery@relay.example.cn>"])
def test_a_plain_text_bounce_from_a_mail_system_is_a_bounce(sender):
    check(text_mail("Your message could not be delivered.", subject="Undeliverable: Broken kettle", sender=sender),
          "ignore", "bounce")


def test_top_level_delivery_status_is_a_bounce():
    message = raw(base_headers("Delivery report") + [("Content-Type", "message/delivery-status")],
                  b"Reporting-MTA: dns; mx.example.cn\r\n\r\n"
                  b"Final-Recipient: rfc822; x@example.cn\r\nAction: failed\r\n")
    check(message, "ignore", "bounce")


def test_mail_from_our_own_address_is_a_loop():
    check(text_mail("Thank you for your complaint", sender=f"Customer Care <{OUR_ADDRESS.upper()}>"),
          "ignore", "loop")
    ours = our_message_id(NUMBER, "ack", "example.com")
    check(text_mail("Echoed back", sender="someone@example.org", message_id=ours), "ignore", "loop")


@pytest.mark.parametrize("headers, reason", [
    ([("X-SES-Spam-Verdict", "FAIL")], "spam_verdict"),
    ([("X-SES-Virus-Verdict", "FAIL")], "virus_verdict"),
    ([("X-SES-Spam-Verdict", "FAIL"), ("X-SES-Virus-Verdict", "FAIL")], "virus_verdict"),
    ([("X-SES-Spam-Verdict", "FAIL"), ("Auto-Submitted", "auto-replied")], "spam_verdict"),
    ([("X-Spam-Flag", "YES")], "spam_flag"),
])
def test_spam_and_virus_verdicts_are_quarantined(headers, reason):
    check(text_mail("Win a prize", extra=headers), "quarantine", reason)


def test_passing_verdicts_are_a_new_case():
    check(text_mail("Real complaint", extra=[("X-SES-Spam-Verdict", "PASS"), ("X-SES-Virus-Verdict", "PASS")]),
          "new", "new_complaint")


# -- malformed -----------------------------------------------------------------------------------------
def test_multipart_without_boundary_parameter_is_recovered():
    _, body = multipart("mixed", [part("text/plain; charset=utf-8", "边界丢了".encode()),
                                  part("application/pdf", PDF, cte="base64",
                                       headers=[("Content-Disposition", 'attachment; filename="a.pdf"')])], "XyZ")
    mail = check(raw(base_headers() + [("Content-Type", "multipart/mixed")], body), "new", "new_complaint",
                 text="边界丢了")
    assert names(mail) == [("a.pdf", "application/pdf", len(PDF))] and "boundary_recovered" in mail.defects


def test_multipart_without_any_boundary_is_read_as_text():
    mail = check(raw(base_headers() + [("Content-Type", "multipart/alternative")], b"Just text, no parts.\r\n"),
                 "new", "new_complaint", text="Just text, no parts.")
    assert "multipart_without_boundary" in mail.defects


def test_broken_base64_body():
    good = base64.encodebytes("第一行没问题。\n".encode()).decode()
    broken = good + "!!!@@@###$$\n" + base64.encodebytes("第三行也没问题。".encode()).decode()
    message = raw(base_headers() + [("Content-Type", "text/plain; charset=utf-8"),
                                    ("Content-Transfer-Encoding", "base64")], broken.encode())
    mail = check(message, "new", "new_complaint")
    assert mail.text.startswith("第一行没问题。")


def test_header_line_without_a_colon_between_headers():
    message = raw([("From", f"Zhang San <{CUSTOMER}>"), "this line has no colon", ("Subject", "Still read"),
                   ("Date", DATE), ("Content-Type", "text/plain; charset=utf-8")], b"Body text.")
    mail = check(message, "new", "new_complaint", subject="Still read", text="Body text.")
    assert "malformed_header_line" in mail.defects


def test_nul_bytes_in_headers_and_body():
    message = text_mail("Before\x00after").replace(b"Subject: Broken kettle", b"Subject: Broken\x00 kettle")
    check(message, "new", "new_complaint", subject="Broken kettle", text="Beforeafter")


def test_group_address_in_to_does_not_break_a_customer_mail():
    message = raw([("From", f"Zhang San <{CUSTOMER}>"), "To: undisclosed-recipients:;", ("Subject", "Hi"),
                   ("Date", DATE)], b"Hello")
    check(message, "new", "new_complaint", to=[], text="Hello")


@pytest.mark.parametrize("message, reason", [
    (b"", "not_an_email"),
    (bytes(range(256)) * 4, "not_an_email"),
    (b"just a line of text\nand another\n", "not_an_email"),
    (raw([("Subject", "No sender"), ("Date", DATE)], b"Who wrote this?"), "no_sender"),
    (raw([("From", "not an address"), ("Subject", "Bad sender")], b"text"), "no_sender"),
    (raw([("From", CUSTOMER), ("Date", DATE)], b"\r\n  \r\n"), "empty_message"),
    (raw([("From", CUSTOMER), ("Content-Type", "text/plain; charset=utf-8")], bytes(range(1, 32)) * 20),
     "undecodable_body"),
])
def test_unusable_messages_are_quarantined(message, reason):
    check(message, "quarantine", reason)


def test_any_exception_inside_parsing_becomes_a_parse_error(monkeypatch):
    def explode(*args, **kwargs):
        raise KeyError("multipart/mixed")

    monkeypatch.setattr(parser_module._Reader, "_walk", explode)
    mail = check(text_mail("x"), "quarantine", "parse_error: KeyError")
    assert mail.size > 0 and mail.text == ""
    assert parse_mail(None).quarantine_reason == "parse_error: TypeError"  # type: ignore[arg-type]


# -- size ------------------------------------------------------------------------------------------------
def test_fifteen_megabyte_attachment_is_fast():
    blob = bytes(range(256)) * (15 * 1024 * 4)  # 15 MiB
    message = with_attachments("Video of the fault attached.", [("fault.mp4", "video/mp4", blob)])
    start = time.perf_counter()
    mail = check(message, "new", "new_complaint", text="Video of the fault attached.")
    elapsed = time.perf_counter() - start
    assert names(mail) == [("fault.mp4", "video/mp4", 15 * 1024 * 1024)] and mail.attachments[0].data == blob
    assert elapsed < 5, elapsed


def test_ten_thousand_received_headers():
    received = [("Received", f"from relay{i}.example.net by mx.example.cn; {DATE}") for i in range(10_000)]
    start = time.perf_counter()
    check(raw(received + base_headers() + [("Content-Type", "text/plain")], b"Many hops."), "new", "new_complaint",
          subject="Broken kettle", text="Many hops.")
    assert time.perf_counter() - start < 3


def test_one_header_folded_over_ten_thousand_lines():
    references = "References: " + "\r\n ".join(f"<id{i}@example.org>" for i in range(10_000))
    long_to = "To: " + ",\r\n ".join(f"person{i}@example.org" for i in range(10_000))
    message = raw(base_headers() + [references, ("Content-Type", "text/plain")], b"Long thread.")
    start = time.perf_counter()
    mail = check(message, "new", "new_complaint", text="Long thread.")
    assert len(mail.references) == 100 and mail.references[0] == "<id0@example.org>"
    mail = check(raw([("From", CUSTOMER), long_to, ("Subject", "To many")], b"x"), "new", "new_complaint")
    assert len(mail.to) == 100 and mail.to[0] == "person0@example.org"  # capped
    assert time.perf_counter() - start < 3


def test_html_nested_thousands_deep_is_read_in_linear_time():
    html = "<div>" * 40_000 + "我的投诉" + "</span>" * 40_000
    start = time.perf_counter()
    mail = check(text_mail(html, subtype="html"), "new", "new_complaint", text="我的投诉")
    assert time.perf_counter() - start < 2 and "html_too_deep" in mail.defects
