"""The complaint form's bot challenge: a hook that is off by default, and one real implementation.

``CHALLENGE_PROVIDER`` chooses the :class:`ChallengeVerifier`:

* ``none`` (default): :class:`NoChallenge`, every submission passes (the honeypot field and the rate
  limits still apply);
* ``turnstile``: :class:`TurnstileVerifier`, Cloudflare Turnstile. The form page then shows the widget
  (site key ``CHALLENGE_SITE_KEY``), which puts a one-time token in the form; the form sends it as
  ``challenge_token`` and the intake checks it with Cloudflare's ``siteverify`` endpoint, with the
  secret key read from Secrets Manager (``CHALLENGE_SECRET_NAME``, default
  ``complaints/<stage>/challenge``). It fails closed: no token, a refused token, or no answer from
  Cloudflare (or no secret) refuses the submission.

Every ``POST /complaints`` is challenged while a provider is on, whatever ``channel`` it claims (a bot
would claim the one left open). ``CHALLENGE_CHANNELS=web`` (a comma list) limits it to those channels,
for an app or hotline client that cannot show the widget - knowing that it opens that door. Email
never passes through the form API and is not challenged (it has its own per-sender cap).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any, Callable, Protocol

TURNSTILE_URL = "https://challenges.cloudflare.com/turnstile/v0/siteverify"
TOKEN_MAX = 2048  # Turnstile's tokens are at most 2048 characters
PROVIDERS = ("none", "turnstile")


@dataclass(frozen=True)
class ChallengeResult:
    passed: bool
    reason: str = ""  # missing | refused | unavailable (never the provider's raw answer)


class ChallengeVerifier(Protocol):
    name: str

    def verify(self, token: str | None, remote_ip: str | None) -> ChallengeResult: ...


class NoChallenge:
    name = "none"

    def verify(self, token: str | None, remote_ip: str | None) -> ChallengeResult:
        return ChallengeResult(True)


class TurnstileVerifier:
    """Cloudflare Turnstile's ``siteverify`` (one form POST, a few seconds at most)."""

    name = "turnstile"

    def __init__(self, secret: Callable[[], str], post: Callable[[str, dict[str, str]], dict[str, Any]] | None = None):
        self._secret, self._post = secret, post or _post_form

    def verify(self, token: str | None, remote_ip: str | None) -> ChallengeResult:
        if not token or len(token) > TOKEN_MAX:
            return ChallengeResult(False, "missing")
        try:
            answer = self._post(TURNSTILE_URL, {"secret": self._secret(), "response": token,
                                                **({"remoteip": remote_ip} if remote_ip else {})})
        except Exception as exc:  # noqa: BLE001 - no answer is no pass (fail closed)
            from shared.observability import logger

            logger().warning("challenge not verified: provider unavailable", extra={"error": type(exc).__name__})
            return ChallengeResult(False, "unavailable")
        return ChallengeResult(True) if answer.get("success") is True else ChallengeResult(False, "refused")


def _post_form(url: str, fields: dict[str, str], timeout: float = 5.0) -> dict[str, Any]:
    from urllib.parse import urlencode
    from urllib.request import Request, urlopen

    if not url.startswith("https://"):
        raise ValueError("the challenge provider must be called over HTTPS")
    request = Request(url, data=urlencode(fields).encode(), method="POST",
                      headers={"Content-Type": "application/x-www-form-urlencoded"})
    with urlopen(request, timeout=timeout) as response:  # nosec B310  # a fixed https:// URL, checked above
        return json.loads(response.read(64 * 1024).decode("utf-8"))


def challenge_verifier(env: dict[str, str] | None = None) -> ChallengeVerifier:
    """The verifier ``CHALLENGE_PROVIDER`` names (``none`` when unset); ValueError for an unknown one."""
    env = os.environ if env is None else env
    provider = (env.get("CHALLENGE_PROVIDER") or "none").strip().lower()
    if provider == "none":
        return NoChallenge()
    if provider == "turnstile":
        name = env.get("CHALLENGE_SECRET_NAME") or f"complaints/{env.get('STAGE', 'dev')}/challenge"

        def secret() -> str:
            from shared.secrets import secret_store

            return secret_store().get(name)

        return TurnstileVerifier(secret)
    raise ValueError(f"CHALLENGE_PROVIDER must be one of {', '.join(PROVIDERS)}, not {provider!r}")


def site_key(env: dict[str, str] | None = None) -> str | None:
    """The public site key the form page shows the widget with, when a provider is on."""
    env = os.environ if env is None else env
    if (env.get("CHALLENGE_PROVIDER") or "none").strip().lower() == "none":
        return None
    return env.get("CHALLENGE_SITE_KEY") or None


def challenged(channel: str, env: dict[str, str] | None = None) -> bool:
    """Whether a submission claiming ``channel`` must pass the challenge (``CHALLENGE_CHANNELS``, default all)."""
    env = os.environ if env is None else env
    listed = [c.strip().lower() for c in (env.get("CHALLENGE_CHANNELS") or "").split(",") if c.strip()]
    return not listed or channel in listed
