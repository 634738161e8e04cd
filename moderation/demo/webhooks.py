"""The demo's marketplace side of the webhooks: an endpoint on the demo itself, and its inbox.

``make run`` seeds the demo marketplace's endpoint (``seed_demo_endpoint``) at an address of
the demo's own web server (``/backoffice/operations/webhooks/demo-receiver/<code>/``), so a
newcomer sees a removal's events arrive. The receiver checks each message's signature as a
marketplace would (the ``standardwebhooks`` package's ``Webhook.verify``, with the endpoint's
secret), notes whether its ``webhook-id`` was seen before (a receiver processes each id
once), and keeps what it got in ``var/demo-webhooks/<code>.jsonl``, which the page lists.

Only while the demo runs (``demo_receiver_enabled``): DEBUG, or ``DEMO_WEBHOOK_RECEIVER``.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from django.conf import settings
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from moderation.models import WebhookEndpoint
from moderation.services.audit import Actor
from moderation.services.webhooks import create_endpoint
from sellers.models import Marketplace

DEMO_MARKETPLACE = "alibaba"
# Where the demo's web server listens (run_demo's default --host and --port).
DEFAULT_BASE_URL = "http://127.0.0.1:8000"
# A removal chunk's event carries at most a few thousand ids: a megabyte is plenty.
BODY_MAX_BYTES = 2 * 1024 * 1024
SHOWN = 200
_write_lock = threading.Lock()  # runserver answers in threads of one process


def demo_receiver_enabled() -> bool:
    return bool(settings.DEBUG or getattr(settings, "DEMO_WEBHOOK_RECEIVER", False))


def receiver_path(code: str) -> str | None:
    try:
        return reverse("backoffice:webhook-demo-receiver", args=[code])
    except NoReverseMatch:  # the webhook pages are not wired into the URLs
        return None


def seed_demo_endpoint(*, actor: Actor) -> WebhookEndpoint | None:
    """The demo marketplace's endpoint, pointing at the demo's receiver; None outside the demo."""
    marketplace = Marketplace.objects.filter(code=DEMO_MARKETPLACE).first()
    path = receiver_path(DEMO_MARKETPLACE)
    if not demo_receiver_enabled() or marketplace is None or path is None:
        return None
    base = getattr(settings, "DEMO_WEBHOOK_BASE_URL", DEFAULT_BASE_URL).rstrip("/")
    endpoint, _secret = create_endpoint(actor=actor, marketplace=marketplace, url=base + path)
    # A new endpoint, a new inbox: what a previous demo database sent is gone with it.
    inbox(DEMO_MARKETPLACE).unlink(missing_ok=True)
    return endpoint


def inbox(code: str) -> Path:
    return Path(settings.VAR_DIR) / "demo-webhooks" / f"{code}.jsonl"


def _read(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    entries = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            entries.append(json.loads(line))
        except ValueError:
            continue  # a line cut by a crash: the others still read
    return entries


def received(code: str) -> list[dict[str, Any]]:
    """What the receiver got, newest first (the last ``SHOWN``)."""
    return list(reversed(_read(inbox(code))[-SHOWN:]))


def receive(*, code: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, Any]]:
    """Check and keep one message as the marketplace would; (HTTP status to answer, what was noted)."""
    endpoint = WebhookEndpoint.objects.filter(marketplace__code=code).first()
    if endpoint is None:
        return 404, {}
    headers = {name.lower(): value for name, value in headers.items()}
    secrets = [endpoint.secret] + ([endpoint.previous_secret] if endpoint.previous_secret else [])
    verified, error, document = False, "", None
    for secret in secrets:
        try:
            document = Webhook(secret).verify(body, headers)
        except (WebhookVerificationError, ValueError) as refused:  # ValueError: signed, but no JSON
            error = str(refused)
        else:
            verified = True
            break
    document = document if isinstance(document, dict) else {}
    data = document.get("data") if isinstance(document.get("data"), dict) else {}
    merchants = data.get("merchants") if isinstance(data.get("merchants"), list) else []
    entry = {
        "received_at": timezone.now().isoformat(),
        "webhook_id": str(headers.get("webhook-id", ""))[:100],
        "verified": verified,
        "error": "" if verified else error[:200],
        "type": str(document.get("type", ""))[:60],
        "sequence": data.get("sequence"),
        "subject": str(data.get("subject", ""))[:100],
        "listings": len(data.get("listing_ids") or []),
        "merchants": [f"#{m.get('id')} {m.get('status')}" for m in merchants[:5] if isinstance(m, dict)],
        "reason": str(data.get("reason") or "")[:60],
    }
    path = inbox(code)
    with _write_lock:
        entry["duplicate"] = entry["verified"] and any(
            seen.get("verified") and seen.get("webhook_id") == entry["webhook_id"] for seen in _read(path)
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as file:
            file.write(json.dumps(entry, ensure_ascii=False) + "\n")
    return (204 if entry["verified"] else 400), entry
