"""The DSA Transparency Database's statement API, as a client: one POST, and what its answer means.

No database here: ``moderation.services.statements`` claims the statements, sends them through
``post_statements``, and records what ``judge_answer`` makes of the answer. The API's behaviour
(dsa.md): 201 for a stored batch; 422 refusing the whole batch, naming the statements at fault
(a duplicate puid, an invalid field) when it can; anything else is the database in trouble.
"""

from __future__ import annotations

import http.client
import json
import re
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder

# The API's limit for one request. 100 statements are at most about 800 KB of JSON (facts
# ≤ 5,000 characters, explanation ≤ 2,000), usually a tenth of that.
MAX_BATCH_SIZE = 100
# Where the API's 422 names a statement of a batch: "statements.3.decision_ground" or "statement_3".
STATEMENT_ERROR_KEY = re.compile(r"^statements?[._](\d+)(?:\.([\w.]+))?$")
DUPLICATE_WORDS = ("unique", "already", "exist", "taken", "duplicate")


@dataclass(frozen=True)
class Answer:
    status: int | None  # None: no answer at all
    body: Any
    text: str

    def describe(self) -> str:
        if self.status is None:
            return self.text
        return f"HTTP {self.status}: {self.text[:1000]}".strip()


@dataclass
class Verdict:
    """What one answer means for each statement of the request."""

    submitted: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    invalid: dict[str, str] = field(default_factory=dict)
    resend: list[list[str]] = field(default_factory=list)  # groups to post again in this run
    back_off: list[str] = field(default_factory=list)
    error: str = ""


def post_statements(url: str, token: str, statements: list[dict[str, Any]]) -> Answer:
    """One POST of ``{"statements": [...]}``; never raises for what the network or the server does."""
    payload = json.dumps({"statements": statements}, cls=DjangoJSONEncoder, ensure_ascii=False).encode()
    request = urllib.request.Request(
        url,
        data=payload,
        method="POST",
        headers={
            "Authorization": f"Bearer {token}",
            "Accept": "application/json",
            "Content-Type": "application/json",
            "User-Agent": "ban-enforcement-backoffice (DSA statements of reasons)",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=settings.DSA_TRANSPARENCY_TIMEOUT) as response:  # noqa: S310 - the URL is ours
            return _answer(response.status, response.read())
    except urllib.error.HTTPError as error:  # 4xx and 5xx: an answer, with a body to read
        try:
            raw = error.read()
        except (OSError, http.client.HTTPException):
            raw = b""
        finally:
            error.close()
        return _answer(error.code, raw)
    except (OSError, http.client.HTTPException) as error:  # timeouts, refused connections, broken answers
        return Answer(status=None, body=None, text=f"no answer: {error!r}"[:2000])


def _answer(status: int, raw: bytes) -> Answer:
    text = raw.decode("utf-8", "replace")
    try:
        body = json.loads(text) if text else None
    except ValueError:
        body = None
    return Answer(status=status, body=body, text=text[:2000])


def judge_answer(answer: Answer, puids: list[str]) -> Verdict:
    if answer.status is not None and 200 <= answer.status < 300:
        return Verdict(submitted=list(puids))
    if answer.status != 422:
        return Verdict(back_off=list(puids), error=answer.describe())
    if len(puids) == 1:
        return _judge_one(answer, puids[0])
    named = _named_in_422(answer.body, puids)
    if named is None:
        # The answer does not say which statements it refuses: one at a time, a 422 can only mean that one.
        return Verdict(resend=[[puid] for puid in puids], error=answer.describe())
    duplicates, invalid = named
    settled = set(duplicates) | set(invalid)
    rest = [puid for puid in puids if puid not in settled]
    # The API refuses a batch whole, so the statements it did not name were not stored: send them again.
    return Verdict(duplicates=duplicates, invalid=invalid, resend=[rest] if rest else [], error=answer.describe())


def _judge_one(answer: Answer, puid: str) -> Verdict:
    body = answer.body if isinstance(answer.body, dict) else {}
    errors = body.get("errors")
    if not isinstance(errors, dict):
        errors = {}
    named = _named_in_422(body, [puid])
    if named is not None and named[0]:
        return Verdict(duplicates=[puid])
    if body.get("existing") or any(_says_duplicate(message) for message in _messages(errors.get("puid"))):
        return Verdict(duplicates=[puid])
    reason = "; ".join(_messages(errors)) or str(body.get("message") or "") or answer.text or "no reason given"
    return Verdict(invalid={puid: f"422: {reason}"[:2000]}, error=answer.describe())


def _named_in_422(body: Any, puids: list[str]) -> tuple[list[str], dict[str, str]] | None:
    """The duplicates and invalid statements a batch's 422 names, or None when it names none.

    The API lists known puids under ``errors.existing_puids`` and field errors under
    ``errors["statements.<i>.<field>"]`` (or ``errors["statement_<i>"]``), <i> the index in the batch.
    """
    errors = body.get("errors") if isinstance(body, dict) else None
    if not isinstance(errors, dict):
        return None
    sent = set(puids)
    duplicates = [puid for puid in _messages(errors.get("existing_puids")) if puid in sent]
    problems: dict[str, list[str]] = {}
    for key, value in errors.items():
        match = STATEMENT_ERROR_KEY.match(str(key))
        if not match or int(match[1]) >= len(puids):
            continue
        puid, name = puids[int(match[1])], match[2] or ""
        messages = _messages(value)
        if name == "puid" and any(_says_duplicate(message) for message in messages):
            duplicates.append(puid)
        else:
            problems.setdefault(puid, []).extend(f"{name}: {message}" if name else message for message in messages)
    duplicates = [puid for puid in puids if puid in set(duplicates)]
    invalid = {puid: ("422: " + "; ".join(found))[:2000] for puid, found in problems.items() if puid not in duplicates}
    if not duplicates and not invalid:
        return None
    return duplicates, invalid


def _messages(value: Any) -> list[str]:
    """Error messages however the API nests them: a string, a list, or a mapping of field to messages."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [f"{key}: {message}" for key, inner in value.items() for message in _messages(inner)]
    if isinstance(value, list | tuple):
        return [message for item in value for message in _messages(item)]
    return [str(value)]


def _says_duplicate(message: str) -> bool:
    return any(word in message.lower() for word in DUPLICATE_WORDS)
