"""``complaints mail parse``: one JSON line per message, exit status 0 whatever the messages hold."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from infra.cli import main

CORPUS = Path(__file__).resolve().parent / "corpus"
ROOT = Path(__file__).resolve().parents[3]
KEYS = {"file", "outcome", "reason", "from", "subject", "text", "attachments", "message_id", "language",
        "defects", "parse_ms"}


def run(capsys, *args: str) -> tuple[int, list[dict]]:
    code = main(["mail", "parse", *args])
    lines = capsys.readouterr().out.splitlines()
    return code, [json.loads(line) for line in lines]


def test_one_line_per_file_with_the_decision_and_fields(capsys):
    files = sorted(str(p) for p in CORPUS.glob("*.eml"))
    code, lines = run(capsys, *files)
    assert code == 0 and len(lines) == len(files) == 5
    by_name = {Path(line["file"]).name: line for line in lines}
    for line in lines:
        assert KEYS <= line.keys() and line["outcome"] in ("new", "reply", "ignore", "quarantine") and line["reason"]
    reply = by_name["outlook-reply-gb2312.eml"]
    assert (reply["outcome"], reply["reason"], reply["complaint_id"]) == ("reply", "subject_number", "CK7M4QX9T5")
    assert reply["from"] == "zhang.san@example.cn" and reply["language"] == "zh"
    assert reply["text"] == "您好，\n\n水壶还是漏水，请安排上门维修。\n\n张三"
    forward = by_name["foxmail-forward-gbk.eml"]
    assert (forward["outcome"], forward["subject"]) == ("new", "转发：快递破损")
    assert forward["text"].endswith("主题: 快递破损\n\n包裹到的时候外箱已经破了，里面的杯子碎了两个。")
    assert forward["attachments"] == [{"filename": "破损照片.jpg", "content_type": "image/jpeg", "size": 53,
                                       "inline": False}]
    assert by_name["html-only-big5.eml"]["text"] == "您好：\n\n我在貴公司網店購買的吹風機無法開機，\n訂單編號 TW-20240301-77。\n\n謝謝"
    assert (by_name["postfix-bounce.eml"]["outcome"], by_name["postfix-bounce.eml"]["reason"]) == ("ignore", "bounce")
    assert by_name["not-an-email.eml"]["reason"] == "not_an_email"
    assert isinstance(reply["parse_ms"], float)


def test_a_folder_stands_for_its_files_and_an_unreadable_file_is_a_line(capsys, tmp_path):
    code, lines = run(capsys, str(CORPUS), str(tmp_path / "missing.eml"))
    assert code == 0 and len(lines) == 6
    assert lines[-1]["outcome"] == "quarantine" and lines[-1]["reason"] == "unreadable_file"
    assert lines[-1]["defects"] == ["FileNotFoundError"]


def test_own_address_makes_a_loop(capsys, tmp_path):
    message = tmp_path / "echo.eml"
    message.write_bytes(b"From: Care <care@example.com>\r\nSubject: Hi\r\n\r\nThanks\r\n")
    code, lines = run(capsys, "--own-address", "care@example.com", str(message))
    assert code == 0 and (lines[0]["outcome"], lines[0]["reason"]) == ("ignore", "loop")


def test_console_script_exit_status():
    result = subprocess.run([sys.executable, "-m", "infra.cli", "mail", "parse", str(CORPUS / "postfix-bounce.eml"),
                             "/nonexistent/file.eml"], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert result.returncode == 0, result.stderr
    assert [json.loads(line)["reason"] for line in result.stdout.splitlines()] == ["bounce", "unreadable_file"]
