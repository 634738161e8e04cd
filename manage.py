#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backoffice.settings")
    if "SECRET_KEY" not in os.environ and "DEBUG" not in os.environ:
        # A developer's shell: manage.py works out of the box. The web server (wsgi.py)
        # and the Celery processes still refuse to start without a SECRET_KEY.
        os.environ["DEBUG"] = "1"
        print("manage.py: no SECRET_KEY in the environment, so DEBUG=1 (development).", file=sys.stderr)
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
