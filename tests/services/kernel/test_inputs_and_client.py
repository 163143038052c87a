"""The shared input rules (services.kernel.inputs) and who the client is (app.api.client)."""

from __future__ import annotations

import pytest

from app.api.client import client_address
from services.kernel.inputs import ascii_id, control_character, form_text, valid_idempotency_key


@pytest.mark.parametrize("text,expected", [
    ("正常文本", None), ("两行\n制表\t", None), ("\x00", "U+0000"), ("a\x1fb", "U+001F"), ("\x7f", "U+007F"),
    ("\x85", "U+0085"), ("\ud800", "U+D800"), ("\r", "U+000D"),
])
def test_control_characters(text, expected):
    assert control_character(text) == expected


@pytest.mark.parametrize("text,expected", [
    ("7", 7), ("0", None), ("²", None), ("٣", None), ("+5", None), (" 5", None), ("1_0", None),
    (str(2**63 - 1), 2**63 - 1), (str(2**63), None), ("9" * 5000, None),
])
def test_ascii_ids(text, expected):
    assert ascii_id(text) == expected


@pytest.mark.parametrize("key,ok", [("a", True), ("k" * 200, True), ("", False), ("k" * 201, False),
                                     ("a b", False), ("键", False), ("a\x00", False), ("web-new:AbC_9", True)])
def test_idempotency_keys(key, ok):
    assert valid_idempotency_key(key) is ok


def test_form_text_keeps_controls_for_the_validation():
    assert form_text("  第一行\r\n第二行 \u3000") == "第一行\n第二行"
    assert form_text("值\x1f") == "值\x1f"  # str.strip() would have dropped it unseen
    assert form_text(None) == ""


TRUSTED = ("10.0.0.0/8", "192.168.1.1")


@pytest.mark.parametrize("peer,header,trusted,expected", [
    ("203.0.113.5", "1.2.3.4", (), "203.0.113.5"),  # nobody trusted: the header is ignored
    ("127.0.0.1", "1.2.3.4", (), "127.0.0.1"),  # not even from localhost (uvicorn's default)
    ("203.0.113.5", "1.2.3.4", TRUSTED, "203.0.113.5"),  # the peer is no trusted proxy
    ("10.0.0.2", "1.2.3.4", TRUSTED, "1.2.3.4"),
    ("10.0.0.2", "6.6.6.6, 1.2.3.4, 10.9.9.9", TRUSTED, "1.2.3.4"),  # rightmost untrusted hop
    ("10.0.0.2", "10.1.1.1, 192.168.1.1", TRUSTED, "10.1.1.1"),  # all trusted: the first one
    ("10.0.0.2", "not-an-ip", TRUSTED, "10.0.0.2"),  # a malformed chain: the socket's word
    ("10.0.0.2", None, TRUSTED, "10.0.0.2"),
])
def test_client_address(peer, header, trusted, expected):
    assert client_address(peer, header, trusted) == expected


def test_uvicorn_trusts_no_forwarded_header(monkeypatch):
    """`hazard serve --api-only` starts uvicorn with its X-Forwarded-For handling off, with one
    worker or several."""
    import uvicorn

    from app.cli import run as cli_run

    calls = []
    monkeypatch.setattr(uvicorn, "run", lambda *a, **kw: calls.append(kw))
    monkeypatch.setattr("app.api.app.create_app", lambda: object())
    cli_run.run_api("127.0.0.1", 8000, 1)
    cli_run.run_api("127.0.0.1", 8000, 3)
    assert [(kw["proxy_headers"], kw["forwarded_allow_ips"]) for kw in calls] == [(False, ""), (False, "")]
    assert calls[1]["workers"] == 3


def test_audit_alert_text_never_says_none():
    """A problem about the checkpoints or their log names no hazard: the alert says what it is,
    not 隐患 None，第 None 号事件."""
    from services.notify.messages import alert

    log_problem = {"first_bad_event": {"kind": "checkpoint_log", "hazard_id": None, "hazard_code": None, "seq": None,
                                       "event_id": None, "message": "检查点日志缺失"}, "problems": [{}]}
    assert "None" not in alert("alert.audit", log_problem).text and "检查点日志缺失" in alert("alert.audit", log_problem).text
    event_problem = {"first_bad_event": {"hazard_code": "141102-2026-000001", "seq": 3, "message": "第 3 号事件内容被改动"},
                     "problems": [{}]}
    assert "隐患 141102-2026-000001，第 3 号事件" in alert("alert.audit", event_problem).text


def test_the_start_banner_names_the_web_ui_and_the_docs_once():
    from app.serve import banner

    text = banner("127.0.0.1", 8000, 4200)
    assert text.count("/login") == 1 and text.count("/docs") == 1 and "网页界面" in text
    assert "4200" in text and "4200" not in banner("127.0.0.1", 8000)


def test_a_warning_for_a_person_is_a_chinese_line(capsys):
    """At a terminal the CLI's warnings read as sentences (issue 11 item 6), not raw JSON."""
    import structlog

    from services.kernel import logs
    from services.calendar.workdays import _log_provisional

    try:
        logs.configure("WARNING", text=True)
        _log_provisional(2031)
        structlog.get_logger("t").warning("something_else", n=3)
        err = capsys.readouterr().err.splitlines()
        assert err[0] == ("警告：2031 年的节假日安排尚未公布，暂按法定节假日推算（不含调休）；"
                          "公布后请用 hazard calendar set-year 2031 载入（或写入日历覆盖文件 HAZARD_CALENDAR_OVERRIDES）")
        assert err[1] == "警告：something_else（n=3）"
        logs.configure("WARNING")  # and the machines' format stays JSON
        _log_provisional(2031)
        assert capsys.readouterr().err.startswith('{"year": 2031')
    finally:
        logs.configure("INFO")
