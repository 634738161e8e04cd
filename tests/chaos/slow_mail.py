"""A file e-mail backend that takes a little time per message, as an SMTP server does.

The chaos tests kill a worker while it sends a batch of notices: with a local file write per
message the batch can end before the kill lands, and the test would exercise nothing. A few
milliseconds a message keeps the batch open long enough to be interrupted, every run.
"""

from __future__ import annotations

import time

from django.core.mail.backends.filebased import EmailBackend

SECONDS_PER_MESSAGE = 0.02


class SlowFileBackend(EmailBackend):
    def write_message(self, message):
        time.sleep(SECONDS_PER_MESSAGE)
        super().write_message(message)
