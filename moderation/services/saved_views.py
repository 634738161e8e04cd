"""Saving, renaming and deleting a moderator's named views of the review queue, each audited."""

from __future__ import annotations

import unicodedata

from django.contrib.auth import get_user_model
from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Value
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext as _

from backoffice.text import has_visible_text, one_line
from moderation.models import AuditVerb, SavedQueueView
from moderation.selectors.saved_views import clean_queue_query
from moderation.services.audit import record_event


def clean_view_name(name: str) -> str:
    """A view's name as it is stored and shown: one line, no control, format or bidi character.

    Format characters (zero-width spaces and joiners, bidi marks) are dropped so that two names that
    read the same are the same name; a name with nothing visible left, or too long, is refused.
    """
    text = unicodedata.normalize("NFC", name or "")
    text = "".join(character for character in text if unicodedata.category(character) != "Cf")
    text = one_line(text)
    if not has_visible_text(text):
        raise ValidationError({"name": _("Give the view a name.")})
    if len(text) > SavedQueueView.NAME_MAX_LENGTH:
        raise ValidationError(
            {
                "name": _("A view's name has at most %(limit)d characters (this one has %(length)d).")
                % {"limit": SavedQueueView.NAME_MAX_LENGTH, "length": len(text)}
            }
        )
    return text


def _refuse_a_taken_name(*, owner, name: str, exclude: int | None = None) -> None:
    # Lower() on both sides: the same folding as the unique index, which has the last word.
    taken = SavedQueueView.objects.filter(owner=owner).annotate(folded=Lower("name")).filter(folded=Lower(Value(name)))
    if exclude is not None:
        taken = taken.exclude(pk=exclude)
    if taken.exists():
        raise ValidationError({"name": _("You already have a view named “%(name)s”.") % {"name": name}})


def _lock_owner(owner) -> None:
    """Serialise one person's saves: the cap and the name check then hold against a second tab."""
    get_user_model().objects.select_for_update().filter(pk=owner.pk).first()


def _state(view: SavedQueueView) -> dict:
    return {"name": view.name, "query": view.query, "shared": view.shared}


def _save_or_refuse(view: SavedQueueView, **options) -> None:
    try:
        with transaction.atomic():  # a savepoint: the refusal leaves the outer transaction usable
            view.save(**options)
    except IntegrityError:
        # Not reached while the owner's row is locked (the check above folds as the index does);
        # the index still has the last word against a writer that takes no lock.
        raise ValidationError({"name": _("You already have a view with this name.")}) from None


@transaction.atomic
def save_queue_view(*, actor, name: str, query: str, shared: bool = False) -> SavedQueueView:
    """Save the queue's current filters under a name, private or shared with every moderator.

    1. The name is cleaned (one line, visible, at most 80 characters); the query keeps only the
       queue's filter keys, each value validated and bounded (``clean_queue_query``).
    2. Refused, changing nothing, when the owner has a view of that name (whatever its case) or
       has as many views as one may keep.
    3. Written with its audit event.
    """
    name = clean_view_name(name)
    _lock_owner(actor)
    if SavedQueueView.objects.filter(owner=actor).count() >= SavedQueueView.MAX_PER_OWNER:
        raise ValidationError(
            {
                NON_FIELD_ERRORS: _(
                    "You have %(limit)d saved views, as many as one may keep: delete one before saving another."
                )
                % {"limit": SavedQueueView.MAX_PER_OWNER}
            }
        )
    _refuse_a_taken_name(owner=actor, name=name)
    now = timezone.now()
    view = SavedQueueView(
        owner=actor, name=name, query=clean_queue_query(query), shared=bool(shared), created_at=now, updated_at=now
    )
    _save_or_refuse(view)
    record_event(actor=actor, verb=AuditVerb.SAVED_VIEW_SAVED, target=view, after=_state(view))
    return view


def _refuse_unless_allowed(*, actor, view: SavedQueueView) -> None:
    if not view.may_be_changed_by(actor):
        raise PermissionDenied(_("Only the person who saved this view may change it."))


@transaction.atomic
def rename_queue_view(*, actor, view: SavedQueueView, name: str, shared: bool) -> SavedQueueView:
    """Rename a view or change whether it is shared; its filters stay as saved."""
    _refuse_unless_allowed(actor=actor, view=view)
    name = clean_view_name(name)
    _lock_owner(view.owner)
    view = SavedQueueView.objects.select_for_update().get(pk=view.pk)
    _refuse_a_taken_name(owner=view.owner, name=name, exclude=view.pk)
    before = _state(view)
    view.name, view.shared, view.updated_at = name, bool(shared), timezone.now()
    if _state(view) == before:
        return view  # nothing changed: nothing to record
    _save_or_refuse(view, update_fields=["name", "shared", "updated_at"])
    record_event(actor=actor, verb=AuditVerb.SAVED_VIEW_SAVED, target=view, before=before, after=_state(view))
    return view


@transaction.atomic
def delete_queue_view(*, actor, view: SavedQueueView) -> None:
    """Delete a view. A view is a convenience, not a decision: the row goes, its audit event stays."""
    _refuse_unless_allowed(actor=actor, view=view)
    # Logged before the row goes: the event names the row while it still exists.
    record_event(actor=actor, verb=AuditVerb.SAVED_VIEW_DELETED, target=view, before=_state(view))
    SavedQueueView.objects.filter(pk=view.pk).delete()
