"""A moderator's saved views of the review queue: named filters, private or shared with every moderator."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Lower
from django.utils.timezone import now


class SavedQueueView(models.Model):
    """The queue's filters under a name: opening it opens the queue with ``query``.

    ``query`` holds only the queue's filter keys, each value validated and bounded, as
    ``moderation.selectors.saved_views.clean_queue_query`` wrote it: it is put into a link
    as it is, so it must never carry anything else. Names are unique per owner whatever
    their case (a database constraint; the service says so on the field first).
    """

    NAME_MAX_LENGTH = 80
    # Views one person may keep: enough for every queue they work, few enough to list on each queue page.
    MAX_PER_OWNER = 50
    # Every filter key with its longest value, percent-encoded (a 200-character search in
    # four-byte characters is 2,400): what clean_queue_query can write, with room.
    QUERY_MAX_LENGTH = 4000

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saved_queue_views")
    name = models.CharField(max_length=NAME_MAX_LENGTH)
    query = models.CharField(max_length=QUERY_MAX_LENGTH, blank=True)
    shared = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=now, editable=False)
    updated_at = models.DateTimeField(default=now)

    class Meta:
        ordering = [Lower("name"), "id"]
        constraints = [
            # Also the index of "my views": its first column is the owner.
            models.UniqueConstraint(F("owner"), Lower("name"), name="saved_view_name_unique_per_owner"),
        ]
        indexes = [
            # "Shared views", read on every queue page beside the owner's own.
            models.Index(fields=["name"], condition=Q(shared=True), name="saved_view_shared_idx"),
        ]

    def __str__(self) -> str:
        return self.name

    def may_be_changed_by(self, user) -> bool:
        """Only its owner renames or deletes a view; a shared one also a superuser, to tidy up
        after a colleague who left (the back office has no role above senior moderator)."""
        return self.owner_id == user.pk or (self.shared and user.is_superuser)
