"""``make run``: migrate, seed the demo once, then web server + Celery worker + beat together.

One Ctrl-C stops all three; if one of them dies the others are stopped too, so the demo
never runs half-alive.
"""

import signal
import subprocess
import sys
import time

from django.conf import settings
from django.core.management import BaseCommand, call_command

from sellers.models import Marketplace


class Command(BaseCommand):
    help = "Run the demo: web server, Celery worker and Celery beat in one terminal."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--host", default="127.0.0.1")

    def handle(self, *args, host: str, port: int, **options):
        call_command("migrate", verbosity=0)
        # The demo marketplace's webhook endpoint is a page of this server: the seed points it here.
        settings.DEMO_WEBHOOK_BASE_URL = f"http://{host}:{port}"
        if not Marketplace.objects.exists():
            self.stdout.write("Empty database: seeding the reference case…")
            call_command("seed_demo")
        else:
            self.stdout.write("Demo data already present (python manage.py seed_demo --reset starts over).")
        python = sys.executable
        commands = {
            "web": [python, "manage.py", "runserver", f"{host}:{port}", "--noreload"],
            "worker": [
                python,
                "-m",
                "celery",
                "-A",
                "backoffice",
                "worker",
                "--loglevel=INFO",
                "--concurrency=2",
                "-n",
                "demo@%h",
            ],
            "beat": [
                python,
                "-m",
                "celery",
                "-A",
                "backoffice",
                "beat",
                "--loglevel=INFO",
                f"--pidfile={settings.VAR_DIR / 'beat.pid'}",
            ],
        }
        processes = {name: subprocess.Popen(argv, cwd=settings.BASE_DIR) for name, argv in commands.items()}
        self.stdout.write(
            self.style.SUCCESS(
                f"\nBack office: http://{host}:{port}/backoffice/   admin: http://{host}:{port}/admin/\n"
                "Logins (password 'demo'): admin (superuser), policyadmin, moderator, senior, merchant-a, merchant-b\n"
                "Ctrl-C stops the web server, the worker and beat.\n"
            )
        )
        try:
            while all(process.poll() is None for process in processes.values()):
                time.sleep(0.5)
            dead = [name for name, process in processes.items() if process.poll() is not None]
            self.stderr.write(f"{', '.join(dead)} stopped; stopping the rest.")
        except KeyboardInterrupt:
            self.stdout.write("\nStopping…")
        finally:
            for process in processes.values():
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)
            for process in processes.values():
                try:
                    process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    process.kill()
