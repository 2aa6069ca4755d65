"""Abuse of the public endpoints, through the routes API Gateway calls.

* rate limits per client IP and per customer (email, phone): the request over the limit answers 429
  ``rate_limited`` with ``Retry-After``, stores nothing, and the limit lifts when its window ends; a
  retry of a stored complaint (same Idempotency-Key) is never limited; the counters' keys are hashes;
* wrong tracking tokens lock the number (429 even with the right token) for 15 minutes, then 30 ...;
  unknown numbers lock alike (a lock says nothing about existence); a wrong token answers 404 as an
  unknown number until then;
* the form's honeypot field: filled, 400 ``rejected`` and nothing stored;
* the challenge hook, with a fake verifier (the real one calls Cloudflare: never in tests).

The Chalice test client's requests come from 127.0.0.1, which is not limited unless
``RATE_LIMIT_LOCAL=on`` (as the local stack's own tests are not): these tests turn it on.
"""
from __future__ import annotations

import json
from datetime import timedelta

import boto3
import pytest

from tests.integration.test_customer_side import clock  # noqa: F401 - the fixture: T0, held still
from tests.integration.test_routing import T0
from tests.support import a_complaint, post_json



def later(clock, **delta) -> None:
    """Move the domain's clock (held still by the ``clock`` fixture) forward."""
    clock.at += timedelta(**delta)


@pytest.fixture
def limits(monkeypatch, aws):
    """Limits on for the test client's loopback address, generous unless a test lowers one."""
    monkeypatch.setenv("RATE_LIMIT_LOCAL", "on")

    def set_limit(**limits: str) -> None:
        for name, value in limits.items():
            monkeypatch.setenv(name.upper(), value)

    return set_limit


_customers = iter(range(1, 10_000))


def customer(**contact) -> dict:
    n = next(_customers)
    return {"name": f"Customer {n}", **(contact or {"email": f"abuse{n}@example.com"})}


def submit(client, body: dict | None = None, key: str | None = None):
    return post_json(client, "/complaints", body or a_complaint(customer=customer()),
                     {"Idempotency-Key": key} if key else None)


def cases_stored(aws) -> int:
    out = boto3.client("dynamodb").query(
        TableName=aws["TABLE_NAME"], IndexName="ByStatus", KeyConditionExpression="#s = :s",
        ExpressionAttributeNames={"#s": "status"}, ExpressionAttributeValues={":s": {"S": "received"}})
    return out["Count"]


def refused(res, status: int = 429, code: str = "rate_limited") -> int:
    """The refusal's Retry-After (seconds), after checking its shape."""
    assert res.status_code == status, (res.status_code, res.body)
    body = json.loads(res.body)
    assert set(body) == {"error", "message", "details"} and body["error"] == code, body
    return int(res.headers["Retry-After"]) if status == 429 else 0


def track(client, number: str, token: str):
    return client.http.get(f"/complaints/{number}", headers={"X-Tracking-Token": token})


# -- rate limits ---------------------------------------------------------------------------------------------
def test_complaints_per_ip_are_limited_until_the_window_ends(client, aws, clock, limits):
    limits(rate_limit_submit_ip="3/hour")
    later(clock, minutes=20)
    for _ in range(3):
        assert submit(client).status_code == 201
    retry_after = refused(submit(client))
    assert retry_after == 40 * 60  # the hour's window started 20 minutes ago
    assert cases_stored(aws) == 3
    later(clock, seconds=retry_after)
    assert submit(client).status_code == 201


def test_complaints_per_customer_are_limited_by_email_and_by_phone(client, aws, clock, limits):
    limits(rate_limit_submit_customer="2/day")
    same_email = [a_complaint(customer=customer(email="wang.fang@example.cn", phone=f"+86 139 0000 000{i}"))
                  for i in range(3)]
    first = submit(client, same_email[0], key="first-try")
    assert first.status_code == 201 and submit(client, same_email[1]).status_code == 201
    refused(submit(client, same_email[2]))
    refused(submit(client, a_complaint(customer=customer(email="WANG.FANG@example.cn"))))  # the same address
    # the first complaint's phone, from another address: its second use passes, its third does not
    assert submit(client, a_complaint(customer=customer(email="fang.w@example.cn", phone="+8613900000000"))
                  ).status_code == 201
    refused(submit(client, a_complaint(customer=customer(email="w.f@example.cn", phone="+86 139-0000-0000"))))
    assert submit(client, a_complaint(customer=customer(email="someone.else@example.cn"))).status_code == 201
    # a retry of a stored complaint replays its receipt whatever the limits say
    again = submit(client, same_email[0], key="first-try")
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert json.loads(again.body)["complaint_id"] == json.loads(first.body)["complaint_id"]
    assert cases_stored(aws) == 4


def test_tracking_reads_uploads_and_answers_per_ip(client, aws, clock, limits):
    limits(rate_limit_track_ip="4/minute", rate_limit_upload_ip="2/hour", rate_limit_answer_case="2/day")
    receipt = json.loads(submit(client).body)
    number, token = receipt["complaint_id"], receipt["tracking_token"]
    for _ in range(4):
        assert track(client, number, token).status_code == 200
    assert 0 < refused(track(client, number, token)) <= 60

    ask = {"filename": "photo.png", "content_type": "image/png"}
    assert [post_json(client, "/complaints/attachments", ask).status_code for _ in range(2)] == [201, 201]
    refused(post_json(client, "/complaints/attachments", ask))

    headers = {"X-Tracking-Token": token}
    for text in ("The label says B2411.", "And the receipt is lost."):
        assert post_json(client, f"/complaints/{number}/messages", {"text": text}, headers).status_code == 201
    refused(post_json(client, f"/complaints/{number}/messages", {"text": "Hello?"}, headers))
    from shared.store import complaint_repository

    _, timeline = complaint_repository().get(number)
    assert [e.text for e in timeline if e.kind.value == "customer_message"] == [
        "The label says B2411.", "And the receipt is lost."]


def test_counter_keys_are_hashes_and_expire(client, aws, clock, limits):
    submit(client, a_complaint(customer=customer(email="li.na@example.com", phone="+86 138 0013 8000")))
    items = _rate_items(aws)
    assert {i["PK"]["S"].split("#")[1] for i in items} == {"submit_ip", "submit_customer"}
    text = json.dumps(items)
    for clear in ("127.0.0.1", "li.na@example.com", "13800138000", "8613800138000"):
        assert clear not in text
    assert all(int(i["expires_at"]["N"]) > T0.timestamp() for i in items)


def _rate_items(aws) -> list[dict]:
    """The counters (test code may scan; the application only updates and gets them by key)."""
    out = boto3.client("dynamodb").scan(TableName=aws["TABLE_NAME"], FilterExpression="begins_with(PK, :r)",
                                        ExpressionAttributeValues={":r": {"S": "RATE#"}})
    return out["Items"]


def test_a_failing_counter_store_lets_complaints_through(client, aws, clock, limits, monkeypatch):
    from shared.rate_limits import RateLimitStore

    def broken(*args, **kwargs):
        raise RuntimeError("throttled")

    monkeypatch.setattr(RateLimitStore, "count", broken)
    limits(rate_limit_submit_ip="1/hour")
    assert [submit(client).status_code for _ in range(3)] == [201, 201, 201]


def test_loopback_clients_are_not_limited_by_default(client, aws, clock, monkeypatch):
    monkeypatch.setenv("RATE_LIMIT_SUBMIT_IP", "1/hour")
    assert [submit(client).status_code for _ in range(3)] == [201, 201, 201]


# -- tracking tokens ----------------------------------------------------------------------------------------
def test_wrong_tokens_lock_the_number_with_a_growing_backoff(client, aws, clock, limits):
    receipt = json.loads(submit(client).body)
    number, token = receipt["complaint_id"], receipt["tracking_token"]
    for _ in range(4):
        assert track(client, number, "guess").status_code == 404  # exactly like an unknown number
    assert refused(track(client, number, "guess")) == 15 * 60  # the fifth wrong token locks it
    assert refused(track(client, number, token)) == 15 * 60  # the right token too, while it holds
    answer = post_json(client, f"/complaints/{number}/messages", {"text": "Let me in"}, {"X-Tracking-Token": token})
    refused(answer)

    later(clock, minutes=15)
    opened = track(client, number, token)
    assert opened.status_code == 200 and "Retry-After" not in opened.headers
    assert set(json.loads(opened.body)) == set(json.loads(track(client, number, token).body))  # nothing about locks

    for _ in range(4):
        assert track(client, number, "guess again").status_code == 404
    assert refused(track(client, number, "guess again")) == 30 * 60  # the next lock is twice as long
    later(clock, minutes=30)
    for _ in range(5):
        track(client, number, "and again")
    assert refused(track(client, number, token)) == 60 * 60


def test_unknown_numbers_lock_alike(client, aws, clock, limits):
    from shared.identifiers import new_complaint_number

    nobody = new_complaint_number(T0)
    answers = [track(client, nobody, "guess").status_code for _ in range(5)]
    assert answers == [404, 404, 404, 404, 429]


def test_a_lock_is_capped_and_forgotten_after_a_quiet_day(client, aws, clock, limits):
    from shared.identifiers import new_complaint_number

    limits(tracking_lock_seconds="3600", tracking_lock_max_seconds="7200")
    number = new_complaint_number(T0)
    for expected in (3600, 7200, 7200):
        for _ in range(4):
            track(client, number, "guess")
        assert refused(track(client, number, "guess")) == expected
        later(clock, seconds=expected)
    later(clock, days=1)
    for _ in range(4):
        track(client, number, "guess")
    assert refused(track(client, number, "guess")) == 3600


# -- the form's honeypot and challenge ----------------------------------------------------------------------
def test_a_filled_honeypot_is_rejected_and_nothing_is_stored(client, aws, app_logs):
    res = submit(client, a_complaint(website="http://cheap-pills.example"))
    refused(res, 400, "rejected")
    assert cases_stored(aws) == 0
    lines = [json.loads(line) for line in app_logs.getvalue().splitlines() if "submission refused" in line]
    assert [line["guard"] for line in lines] == ["honeypot"]
    assert "cheap-pills" not in app_logs.getvalue() and "li.wei" not in app_logs.getvalue()
    assert submit(client, a_complaint(website="")).status_code == 201  # empty: a person


def test_the_form_page_has_the_honeypot_hidden_from_people(client):
    page = client.http.get("/").body.decode()
    field = page[page.index('<div class="hp-field"'):]
    field = field[:field.index("</div>")]
    assert 'aria-hidden="true"' in field
    assert 'name="website"' in field and 'tabindex="-1"' in field and 'autocomplete="off"' in field
    assert "cf-turnstile" not in page  # no challenge unless configured


class FakeVerifier:
    name = "fake"

    def __init__(self, outcome: str = "pass"):
        self.outcome, self.calls = outcome, []

    def verify(self, token, remote_ip):
        from shared.challenge import ChallengeResult

        self.calls.append((token, remote_ip))
        if self.outcome == "unavailable":
            return ChallengeResult(False, "unavailable")
        return ChallengeResult(True) if token == "good-token" else ChallengeResult(False, "refused")


def test_the_challenge_hook_refuses_a_missing_or_bad_token(client, aws, monkeypatch):
    from shared import challenge

    fake = FakeVerifier()
    monkeypatch.setattr(challenge, "challenge_verifier", lambda env=None: fake)
    refused(submit(client, a_complaint()), 400, "challenge_failed")
    refused(submit(client, a_complaint(challenge_token="forged")), 400, "challenge_failed")
    assert cases_stored(aws) == 0
    body = a_complaint(challenge_token="good-token")
    first = submit(client, body, key="retry-me")
    assert first.status_code == 201
    assert fake.calls[-1] == ("good-token", "127.0.0.1")
    # a lost answer's retry: the token is spent, the complaint is stored - the receipt is replayed
    calls = len(fake.calls)
    again = submit(client, body, key="retry-me")
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true" and len(fake.calls) == calls
    # channels can be left out of the challenge
    monkeypatch.setenv("CHALLENGE_CHANNELS", "web")
    assert submit(client, a_complaint(channel="hotline")).status_code == 201
    fake.outcome = "unavailable"
    refused(submit(client, a_complaint(challenge_token="good-token")), 503, "challenge_unavailable")
    assert cases_stored(aws) == 2


def test_turnstile_verifier_posts_the_token_and_fails_closed():
    from shared.challenge import TURNSTILE_URL, TurnstileVerifier, challenge_verifier

    posts = []

    def post(url, fields):
        posts.append((url, fields))
        return {"success": fields["response"] == "ok", "error-codes": []}

    verifier = TurnstileVerifier(lambda: "secret-key", post)
    assert verifier.verify("ok", "203.0.113.9").passed
    assert posts == [(TURNSTILE_URL, {"secret": "secret-key", "response": "ok", "remoteip": "203.0.113.9"})]
    assert verifier.verify("nope", None).reason == "refused"
    assert verifier.verify("", None).reason == "missing" and len(posts) == 2  # no call without a token

    def down(url, fields):
        raise TimeoutError("no answer")

    assert TurnstileVerifier(lambda: "secret-key", down).verify("ok", None).reason == "unavailable"
    assert challenge_verifier({}).name == "none"
    assert challenge_verifier({"CHALLENGE_PROVIDER": "turnstile"}).name == "turnstile"
    with pytest.raises(ValueError):
        challenge_verifier({"CHALLENGE_PROVIDER": "recaptcha-v1"})


def test_the_form_shows_the_widget_when_a_challenge_is_on(client, monkeypatch):
    monkeypatch.setenv("CHALLENGE_PROVIDER", "turnstile")
    monkeypatch.setenv("CHALLENGE_SITE_KEY", "0x4AAAA-site")
    res = client.http.get("/")
    page = res.body.decode()
    assert 'class="challenge cf-turnstile" data-sitekey="0x4AAAA-site"' in page
    assert 'data-response-field-name="challenge_token"' in page
    csp = res.headers["Content-Security-Policy"]
    assert "script-src 'self' https://challenges.cloudflare.com" in csp and "frame-src https://challenges.cloudflare.com" in csp
