"""The rate limits' settings and keys (no store: tests/integration/test_abuse.py drives the routes)."""
from __future__ import annotations

import pytest

from shared.rate_limits import Limit, RateLimitSettings, client_ip, ip_key, is_loopback, rate_limit_settings


@pytest.mark.parametrize("text, limit", [("20/hour", Limit(20, 3600)), ("5/day", Limit(5, 86400)),
                                         ("60/minute", Limit(60, 60)), ("5/15 minutes", Limit(5, 900)),
                                         ("3 / 2h", Limit(3, 7200)), ("1/s", Limit(1, 1))])
def test_limits_read_like_what_they_mean(text, limit):
    assert Limit.parse(text) == limit


@pytest.mark.parametrize("text", ["", "20", "20/fortnight", "0/hour", "-1/hour", "20/0 hours", "lots/hour"])
def test_nonsense_limits_are_refused(text):
    with pytest.raises(ValueError):
        Limit.parse(text)


def test_windows_are_fixed_and_aligned():
    hour = Limit(20, 3600)
    assert hour.window(7200) == (7200, 10800)
    assert hour.window(7200 + 3599.9) == (7200, 10800)
    assert hour.window(10800) == (10800, 14400)


def test_settings_from_the_environment_with_defaults():
    default = rate_limit_settings({})
    assert (default.enabled, default.local) == (True, False)
    assert default.submit_ip == Limit(20, 3600) and default.submit_customer == Limit(5, 86400)
    assert default.token_failures == Limit(5, 900)
    env = {"RATE_LIMITS": "off", "RATE_LIMIT_LOCAL": "on", "RATE_LIMIT_TRACK_IP": "10/minute", "UNRELATED": "x"}
    chosen = rate_limit_settings(env)
    assert (chosen.enabled, chosen.local, chosen.track_ip) == (False, True, Limit(10, 60))
    with pytest.raises(ValueError):
        rate_limit_settings({"RATE_LIMIT_SUBMIT_IP": "often"})


def test_locks_double_up_to_the_cap():
    s = RateLimitSettings()
    assert [s.lock_duration(n) for n in (1, 2, 3, 4, 5, 6, 7, 8)] == [
        900, 1800, 3600, 7200, 14400, 28800, 57600, 86400]
    assert s.lock_duration(40) == 86400


def test_a_client_is_its_address_or_its_ipv6_network():
    assert ip_key("203.0.113.7") == "203.0.113.7"
    assert ip_key("2001:db8:1:2:aaaa::1") == ip_key("2001:db8:1:2:bbbb::9") == "2001:db8:1:2::/64"
    assert ip_key("2001:db8:1:3::1") != ip_key("2001:db8:1:2::1")
    assert ip_key("::ffff:203.0.113.7") == "203.0.113.7"
    assert ip_key(None) == ip_key("not an ip") == "unknown"
    assert is_loopback("127.0.0.1") and is_loopback("::1") and not is_loopback("203.0.113.7")
    assert not is_loopback(None)


def test_the_client_ip_is_api_gateways_never_a_header():
    class Request:
        context = {"identity": {"sourceIp": "198.51.100.4"}}
        headers = {"X-Forwarded-For": "127.0.0.1"}

    assert client_ip(Request()) == "198.51.100.4"
    Request.context = {}
    assert client_ip(Request()) is None
