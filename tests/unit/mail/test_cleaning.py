"""Body cleaning (quoted history, signatures, forwards) and HTML to text."""
from __future__ import annotations

import pytest

from functions.intake.mail.cleaning import clean_body, has_reply_prefix, is_forward_subject, strip_subject_prefixes
from functions.intake.mail.html_text import html_to_text
from shared.models import DESCRIPTION_MAX

CASES = [
    ("gmail", "Still broken.\n\nOn Mon, Mar 4, 2024 at 9:00 AM Care <care@example.com> wrote:\n> Thanks\n> bye\n",
     "Still broken."),
    ("gmail attribution wrapped", "Still broken.\n\nOn Mon, Mar 4, 2024 at 9:00 AM Customer Care <\n"
     "care@example.com> wrote:\n\n> Thanks\n", "Still broken."),
    ("gmail zh", "还没修好。\n\n在 2024年3月4日周一 09:00，客户服务 <care@example.com> 写道：\n> 谢谢\n", "还没修好。"),
    ("gmail zh name first", "还没修好。\n\n客户服务 <care@example.com> 于2024年3月4日周一 09:00写道：\n\n> 谢谢\n",
     "还没修好。"),
    ("german", "Immer noch kaputt.\n\nAm 04.03.2024 um 09:00 schrieb Care <care@example.com>:\n> Danke\n",
     "Immer noch kaputt."),
    ("outlook original message", "Call me.\n\n-----Original Message-----\nFrom: Care\nSent: Monday\nTo: Me\n\nHello\n",
     "Call me."),
    ("outlook header block", "Call me.\n\nFrom: Care <care@example.com>\nSent: Monday, March 4, 2024 9:00 AM\n"
     "To: Me\nSubject: Re: x\n\nHello\n", "Call me."),
    ("outlook bold header block", "Call me.\n\n*From:* Care <care@example.com>\n*Sent:* Monday\n*To:* Me\n\nHello",
     "Call me."),
    ("outlook zh", "请回电。\n\n发件人: 客户服务 <care@example.com>\n发送时间: 2024年3月4日 9:00\n收件人: 我\n\n您好\n",
     "请回电。"),
    ("foxmail full-width colons", "请回电。\n\n发件人：客户服务\n发送时间：2024年3月4日\n收件人：我\n主题：投诉\n\n您好\n",
     "请回电。"),
    ("qq original", "好的\n\n------------------ 原始邮件 ------------------\n发件人: \"客服\"<c@x.com>;\n\n您好\n", "好的"),
    ("signature", "Broken lid.\n\n-- \nJohn\nACME", "Broken lid."),
    ("signature without the space", "Broken lid.\n--\nJohn", "Broken lid."),
    ("iphone", "Broken lid.\n\nSent from my iPhone", "Broken lid."),
    ("outlook mobile", "Broken lid.\n\nGet Outlook for Android", "Broken lid."),
    ("zh mobile", "盖子坏了。\n\n发自我的华为手机", "盖子坏了。"),
    ("netease", "盖子坏了。\n\n发自网易邮箱大师", "盖子坏了。"),
    ("inline answers", "> order number?\n4411\n>\n> when?\nMonday", "4411\nMonday"),
    ("blank lines collapsed", "a\n\n\n\n\nb\r\n\r\n\r\nc  \n", "a\n\nb\n\nc"),
    ("invisible characters", "\ufeffa\u200bb\u00a0c\x07", "ab c"),
]


@pytest.mark.parametrize("name, text, expected", CASES, ids=[c[0] for c in CASES])
def test_clean_body(name, text, expected):
    assert clean_body(text) == expected


def test_forwards_are_kept_and_a_signature_above_them_ends_at_the_block():
    text = ("See below.\n-- \nJohn\n\n---------- Forwarded message ---------\nFrom: A <a@x.org>\nDate: today\n"
            "Subject: Re: Broken\nTo: b@x.org\n\n\nIt is broken.\n\nOn Mon, B wrote:\n> old stuff\n\n-- \nA")
    assert clean_body(text) == ("See below.\n\n---------- Forwarded message ---------\nFrom: A <a@x.org>\n"
                                "Date: today\nSubject: Re: Broken\nTo: b@x.org\n\nIt is broken.")


def test_outlook_history_markers_are_forwards_only_when_the_subject_says_so():
    text = "FYI\n\n-----Original Message-----\nFrom: A\nSent: today\nSubject: Broken\n\nIt is broken."
    assert clean_body(text) == "FYI"
    assert clean_body(text, forwarded=True) == ("FYI\n\n-----Original Message-----\nFrom: A\nSent: today\n"
                                                "Subject: Broken\n\nIt is broken.")
    zh = "请看\n\n发件人: 李四\n发送时间: 今天\n主题: 坏了\n\n杯子碎了。"
    assert clean_body(zh, forwarded=True) == zh


def test_apple_mail_quoted_forward_is_unquoted():
    text = "FYI\n\nBegin forwarded message:\n\n> From: A <a@x.org>\n> Subject: Broken\n>\n> It is broken.\n"
    assert clean_body(text) == "FYI\n\nBegin forwarded message:\nFrom: A <a@x.org>\nSubject: Broken\n\nIt is broken."


def test_description_is_capped():
    assert len(clean_body("x" * (DESCRIPTION_MAX + 500))) == DESCRIPTION_MAX


@pytest.mark.parametrize("subject, forward, reply, bare", [
    ("Fwd: Broken", True, False, "Broken"),
    ("FW: Broken", True, False, "Broken"),
    ("转发：杯子碎了", True, False, "杯子碎了"),
    ("Re: Broken", False, True, "Broken"),
    ("RE: FW: Broken", False, True, "Broken"),
    ("回复：答复: 杯子碎了", False, True, "杯子碎了"),
    ("Antw: Kapot", False, True, "Kapot"),
    ("Broken", False, False, "Broken"),
])
def test_subject_prefixes(subject, forward, reply, bare):
    assert (is_forward_subject(subject), has_reply_prefix(subject), strip_subject_prefixes(subject)) == \
        (forward, reply, bare)


# -- HTML ------------------------------------------------------------------------------------------------
def test_html_block_structure_entities_and_hidden_parts():
    html = ("<div style='display:none'>preheader</div><h1>Title</h1><p>One&nbsp;&amp;&lt;two&gt;<br/>three</p>"
            "<ol><li>a</li><li>b</li></ol><table><tr><th>k</th><td>v</td></tr></table><pre>  x = 1\n  y = 2</pre>"
            "<p>after<!-- comment --></p><img src='x.png' alt='logo'>")
    assert html_to_text(html) == "Title\n\nOne &<two>\nthree\n\n- a\n- b\n\nk v\n\n  x = 1\n  y = 2\n\nafter"


def test_html_quoted_history_becomes_quote_lines_that_cleaning_trims():
    html = ("<div>Still broken.</div><div class='gmail_quote'><div>On Mon, Care &lt;c@x.com&gt; wrote:<br></div>"
            "<blockquote class='gmail_quote'><div>Thank you</div><blockquote>older</blockquote></blockquote></div>")
    text = html_to_text(html)
    assert text == "Still broken.\nOn Mon, Care <c@x.com> wrote:\n> Thank you\n> > older"
    assert clean_body(text) == "Still broken."


def test_html_outlook_reply_block_is_trimmed():
    html = ("<p>Please call.</p><hr><div id='divRplyFwdMsg'><b>From:</b> Care &lt;c@x.com&gt;<br>"
            "<b>Sent:</b> Monday<br><b>To:</b> me</div><div>Hello</div>")
    assert clean_body(html_to_text(html)) == "Please call."


def test_html_deeply_nested_and_broken_markup_does_not_crash():
    assert html_to_text("<div>" * 50_000 + "deep" + "</div>" * 10) == "deep"
    assert html_to_text("<p>unclosed <b>bold <i>both</p> tail") == "unclosed bold both\n\ntail"
    assert html_to_text("") == ""
