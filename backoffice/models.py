from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Profile(models.Model):
    """A back-office user's own preferences. Created the first time they save one."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="profile")
    language = models.CharField(
        _("language"),
        max_length=10,
        blank=True,
        choices=settings.LANGUAGES,
        help_text=_("Empty: the browser's language."),
    )

    def __str__(self) -> str:
        return f"profile of {self.user}"


class SignInFailure(models.Model):
    """Failed sign-ins of one username from one client address within one window.

    Windows are fixed, ``AXES_COOLOFF_TIME`` long and aligned on the epoch, so that every web
    process names the same row without asking another: the unique constraint is what a
    failure increments (``backoffice.security.count_failure``). The rows of one address in the
    current window say how many usernames it failed for, which is the password-spraying rule;
    they also keep the audit trail of failures to a few rows per window (the first failure,
    the lock-out, and a summary written by the sweep once the window has closed, after which
    the row is deleted). A blocked address's tries for further usernames are counted under
    ``ANY_USERNAME``, so an address has at most (limit + 1) rows per window.
    """

    ANY_USERNAME = "*"  # no account can be named so: Django's usernames allow only letters, digits and @.+-_

    username = models.CharField(max_length=150)
    address = models.CharField(max_length=45, blank=True)  # "" when the request named none
    window_start = models.DateTimeField()
    count = models.PositiveIntegerField(default=1)
    first_at = models.DateTimeField()
    last_at = models.DateTimeField()
    # The count the audit trail last stated for this window: the sweep writes a summary only
    # when failures came after it.
    reported_count = models.PositiveIntegerField(default=0)
    # Set by the one request that writes this window's lock-out event: later ones see it set.
    locked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            # Also the index of the spraying check: one address's usernames in one window.
            models.UniqueConstraint(fields=["address", "window_start", "username"], name="signin_failure_per_window"),
        ]
        indexes = [
            # The sweep: the windows that have closed.
            models.Index(fields=["window_start"], name="signin_failure_window_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.count} failed sign-ins as {self.username} from {self.address or 'unknown'}"
