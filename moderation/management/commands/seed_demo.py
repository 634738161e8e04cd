"""``manage.py seed_demo``: the reference case (the 2021 mining-machine ban) as demo data.

Thin on purpose: the seeding lives in ``moderation.demo`` so the benchmark runs the same code.
"""

from django.core.management import BaseCommand, CommandError, CommandParser

from moderation import demo


class Command(BaseCommand):
    help = (
        "Seed the demo: five marketplaces, the category tree with the banned categories, merchants, "
        "listings in English and Chinese, and the back office's users. Deterministic for a --seed."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--listings",
            type=int,
            default=demo.DEFAULT_LISTINGS,
            help=f"How many listings in all (default {demo.DEFAULT_LISTINGS:,}; "
            "a million takes minutes on PostgreSQL).",
        )
        parser.add_argument(
            "--seed",
            type=int,
            default=demo.DEFAULT_SEED,
            help=f"Random seed: the same seed gives the same data (default {demo.DEFAULT_SEED}).",
        )
        parser.add_argument(
            "--password",
            default=demo.DEMO_PASSWORD,
            help=f"Password of every demo user (default {demo.DEMO_PASSWORD!r}).",
        )
        parser.add_argument(
            "--historical",
            action="store_true",
            help="Keep the reference policy's real dates (2021-09-27, 2021-10-08, 2021-10-15) instead of "
            "placing them relative to now.",
        )
        parser.add_argument(
            "--reset",
            action="store_true",
            help="Delete the catalog, enforcement data and demo users first (other users are kept).",
        )

    def handle(self, *args, listings: int, seed: int, password: str, reset: bool, historical: bool, **options) -> None:
        if listings < 0:
            raise CommandError("--listings must be zero or more.")
        if not password:
            raise CommandError("--password must not be empty.")
        verbose = options["verbosity"] >= 1

        def progress(message: str) -> None:
            if verbose:
                self.stdout.write(f"  {message}")

        try:
            summary = demo.seed_reference_case(
                seed=seed,
                listings=listings,
                password=password,
                reset=reset,
                historical=historical,
                progress=progress,
            )
        except (demo.DemoDataPresentError, LookupError) as error:
            raise CommandError(str(error)) from error

        if not verbose:
            return
        self.stdout.write(self.style.SUCCESS("Seeded the reference case:"))
        for line in summary.lines():
            self.stdout.write(f"  {line}")
        self.stdout.write(
            "\nBack office: http://127.0.0.1:8000/backoffice/   admin: http://127.0.0.1:8000/admin/\n"
            f"Logins (password {summary.password!r}):"
        )
        width = max(len(user.username) for user in summary.users)
        for user in summary.users:
            self.stdout.write(f"  {user.username:<{width}}  {user.description}")
