"""The README's demo section, run as written on a freshly seeded demo.

The curl commands are read from the README itself, so an example that stops working, or a
README edited without its example, fails here. The demo is seeded with ``--reset``, as a
first ``make run`` finds it: the ids restart at 1 (on PostgreSQL ``TRUNCATE … RESTART
IDENTITY``, which only the tables' owner may run, hence ``database_owner``; seeding is an
administrator's command, run as the owner like migrate, so every test that seeds is marked so).
"""

from __future__ import annotations

import io
import json
import os
import re
import shlex
import subprocess
import sys
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

from moderation import tasks
from moderation.models import Appeal, CategoryRemoval, Policy
from moderation.selectors.removals import removal_dry_run
from sellers.models import Category, Listing
from tests.conftest import ROOT
from tests.moderation import conftest as moderation_fixtures

travel = moderation_fixtures.travel

README = (ROOT / "README.md").read_text(encoding="utf-8")
DEMO_SECTION = README.split("### What you see after `make run`", 1)[1].split("\n## ", 1)[0]
TWO_COMMANDS = README.split("## Two commands", 1)[1].split("### ", 1)[0]
HOST = "http://127.0.0.1:8000"


def seed_fresh_demo(**options) -> str:
    out = io.StringIO()
    call_command("seed_demo", listings=options.pop("listings", 300), reset=True, stdout=out, **options)
    return out.getvalue()


def readme_curl_commands() -> list[list[str]]:
    """Every ``curl`` of the demo section's shell blocks, continuation lines joined."""
    commands = []
    for block in re.findall(r"```sh\n(.*?)```", DEMO_SECTION, flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            if line.strip().startswith("curl "):
                commands.append(line)
    return commands


def run_curl(client: APIClient, line: str, *, token: str | None):
    """What ``curl`` would send, through the test client: -d makes it a POST, as curl does."""
    if token is not None:
        line = line.replace("$TOKEN", token)
    argv = shlex.split(line)
    assert argv[0] == "curl"
    headers, data, url = {}, [], None
    words = iter(argv[1:])
    for word in words:
        if word == "-H":
            name, _, value = next(words).partition(": ")
            headers[name] = value
        elif word == "-d":
            data.append(next(words))
        else:
            assert word.startswith(HOST), f"an option this runner does not know: {word}"
            url = word.removeprefix(HOST)
    kwargs = {"headers": {k: v for k, v in headers.items() if k != "Content-Type"}}
    if not data:
        return client.get(url, **kwargs)
    if headers.get("Content-Type") == "application/json":
        (body,) = data
        return client.post(url, data=body, content_type="application/json", **kwargs)
    form = dict(item.split("=", 1) for item in data)
    return client.post(url, data=form, **kwargs)


@pytest.fixture
def demo_after_the_removal(db, travel, django_capture_on_commit_callbacks):
    """A fresh demo, a minute after its removal's time: beat started it, the worker ran it."""
    output = seed_fresh_demo()
    removal = CategoryRemoval.objects.get()
    travel.to(removal.scheduled_for + timedelta(minutes=1))
    with django_capture_on_commit_callbacks(execute=True):
        tasks.start_due_removals()
    removal.refresh_from_db()
    assert removal.status == CategoryRemoval.Status.COMPLETED
    return output


@pytest.mark.database_owner
def test_the_readme_curl_examples_answer_as_it_says_on_the_demo(demo_after_the_removal):
    commands = readme_curl_commands()
    assert [shlex.split(c.replace("$TOKEN", "t"))[-1].removeprefix(HOST) for c in commands] == [
        "/api/v1/auth/token/",
        "/api/v1/decisions/",
        "/api/v1/notices/",
        "/api/v1/sanctions/",
        "/api/v1/listings/",
        "/api/v1/appeals/",
    ]
    client = APIClient()
    issued = run_curl(client, commands[0], token=None)
    assert issued.status_code == 200, issued.content
    token = issued.json()["token"]
    assert token.startswith("bo_")  # as the README writes TOKEN=bo_…

    answers = {}
    for line in commands[1:-1]:
        answer = run_curl(client, line, token=token)
        assert answer.status_code == 200, (line, answer.content)
        answers[line.split()[-1].removeprefix(HOST)] = answer.json()

    # "its decisions include delisting-1: listing #1, its Antminer S19 Pro …, delisted by the removal"
    decisions = {row["id"]: row for row in answers["/api/v1/decisions/"]["results"]}
    assert "delisting-1" in decisions
    first = Listing.objects.get(pk=1)
    assert first.merchant.user.username == "merchant-a"
    assert first.title.startswith("Antminer S19 Pro 110TH/s Bitcoin miner")
    assert first.status == Listing.Status.DELISTED
    assert {row["id"] for row in answers["/api/v1/listings/"]["results"]} >= {1}
    assert answers["/api/v1/notices/"]["results"], "merchant-a was notified of the announcement and the removal"
    assert "results" in answers["/api/v1/sanctions/"]

    appealed = run_curl(client, commands[-1], token=token)
    assert appealed.status_code == 201, appealed.content
    assert appealed.json()["decision"] == "delisting-1"
    assert Appeal.objects.get().listing == first

    # The same appeal again is refused as a conflict, not a missing decision.
    assert run_curl(client, commands[-1], token=token).status_code == 409


@pytest.mark.database_owner
def test_the_readme_decision_id_needs_the_removal_to_have_run(db):
    seed_fresh_demo()
    client = APIClient()
    commands = readme_curl_commands()
    token = run_curl(client, commands[0], token=None).json()["token"]

    answer = run_curl(client, commands[-1], token=token)

    # Before the removal merchant-a has no decision: the README says "once the removal has run".
    assert answer.status_code == 404
    assert not Appeal.objects.exists()


@pytest.mark.database_owner
def test_the_readme_logins_and_pages_open_on_the_demo(db, client):
    output = seed_fresh_demo()
    logins = re.search(r"the logins, all with the password `(\w+)`: (.*?)\.\n", DEMO_SECTION, flags=re.S)
    password, names = logins.group(1), re.findall(r"`([\w-]+)`", logins.group(2))
    assert names == ["admin", "policyadmin", "moderator", "senior", "merchant-a", "merchant-b"]
    for username in names:
        assert username in output
        assert User.objects.get(username=username).check_password(password), username

    removal = CategoryRemoval.objects.get()
    watch = re.search(r"watch it on (/backoffice/removals/\d+/)", output).group(1)
    assert watch == f"/backoffice/removals/{removal.pk}/"
    pages = {"admin": ["/admin/", "/backoffice/"], "policyadmin": ["/backoffice/", watch, "/backoffice/policies/"]}
    for username, urls in pages.items():
        client.force_login(User.objects.get(username=username))
        for url in urls:
            assert client.get(url).status_code == 200, (username, url)
        client.logout()
    assert client.get("/api/docs/").status_code == 200


@pytest.mark.database_owner
def test_the_readme_policy_and_removal_are_what_the_demo_seeds(db):
    seed_fresh_demo()
    policy = Policy.objects.get(slug="virtual-currency-mining")
    removal = CategoryRemoval.objects.get()

    assert f'"{policy.title}"' in " ".join(DEMO_SECTION.split())
    assert "with its four clauses" in DEMO_SECTION and policy.clauses.count() == 4
    rules = int(re.search(r"its (\d+) detection rules", DEMO_SECTION).group(1))
    assert policy.detection_rules.count() == rules
    # "the removal of the two banned categories is scheduled a few minutes ahead"
    assert sorted(removal.categories.values_list("name", flat=True)) == [
        "Blockchain Miner Accessories",
        "Blockchain Miners",
    ]
    assert timedelta(minutes=1) < removal.scheduled_for - timezone.now() < timedelta(minutes=10)


@pytest.mark.database_owner
def test_the_readme_scan_text_example_scores_one_text_per_line(db, monkeypatch):
    seed_fresh_demo()
    command = re.search(r"`python manage.py (scan_text --policy [\w-]+)`", DEMO_SECTION).group(1).split()
    monkeypatch.setattr("sys.stdin", io.StringIO("Antminer S19 Pro 110TH/s\nData Mining: Concepts and Techniques\n"))
    out = io.StringIO()

    call_command(*command, stdout=out)

    miner, book = (json.loads(line) for line in out.getvalue().splitlines())
    assert miner["flagged"] and not book["flagged"]


@pytest.mark.database_owner
def test_the_readme_historical_seed_makes_the_removal_overdue(db):
    command = re.search(r"`python manage.py (seed_demo --reset --historical)`", DEMO_SECTION).group(1).split()

    call_command(*command, listings=300, stdout=io.StringIO())

    removal = CategoryRemoval.objects.get()
    assert removal.scheduled_for < timezone.now()
    assert removal.scheduled_for.year == 2021


# --- The demo's figures agree -----------------------------------------------------------------


@pytest.mark.database_owner
def test_the_seed_prints_the_figure_the_removal_dry_run_counts(db):
    output = seed_fresh_demo(listings=2_000)

    printed = re.search(r"([\d,]+) in the banned categories \(.*?\)(?::|, all live)", output)
    removal = CategoryRemoval.objects.get()
    banned = Category.objects.filter(slug__in=["blockchain-miners", "blockchain-miner-accessories"])
    live = removal.dry_run["listings"]
    assert live == removal_dry_run(list(banned))["listings"]
    removed_by_sellers = Listing.objects.filter(category__in=banned, status=Listing.Status.REMOVED_BY_SELLER).count()
    if removed_by_sellers:
        assert f": {live:,} live, which the removal will delist, and {removed_by_sellers:,} their sellers" in output
    else:
        assert int(printed.group(1).replace(",", "")) == live
    assert int(printed.group(1).replace(",", "")) == live + removed_by_sellers
    assert f"removal #{removal.pk} of {live} listings" in output


@pytest.mark.database_owner
def test_the_seed_says_how_many_banned_listings_their_sellers_had_removed(db, monkeypatch):
    # A seed where some sellers removed banned listings themselves: every fifth listing.
    monkeypatch.setattr("moderation.demo.seeder.REMOVED_BY_SELLER_SHARE", 0.2)
    output = seed_fresh_demo(listings=600)

    removal = CategoryRemoval.objects.get()
    removed = Listing.objects.filter(
        category__slug__in=["blockchain-miners", "blockchain-miner-accessories"],
        status=Listing.Status.REMOVED_BY_SELLER,
    ).count()
    assert removed > 0
    total = Listing.objects.filter(category__slug__in=["blockchain-miners", "blockchain-miner-accessories"]).count()
    assert (
        f"{total:,} in the banned categories (Blockchain Miners, Blockchain Miner Accessories): "
        f"{removal.dry_run['listings']:,} live, which the removal will delist, "
        f"and {removed:,} their sellers had removed already"
    ) in output


# --- make test's summary ----------------------------------------------------------------------


def test_make_tests_summary_names_each_test_skipped_for_lack_of_postgresql(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REQUIRE_POSTGRES"}}
    env = {k: v for k, v in env.items() if not k.startswith("TEST_DATABASE_RUNTIME")}
    selected = [
        "tests/moderation/test_removals.py",
        "-m",
        "postgres",
        "-p",
        "no:cacheprovider",
        f"--basetemp={tmp_path / 'inner'}",
    ]

    result = subprocess.run(
        [sys.executable, "-m", "pytest", *selected], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )

    out = result.stdout
    assert "skipped tests, by reason" in out, out
    count = int(re.search(r"(\d+) skipped: needs PostgreSQL", out).group(1))
    named = re.findall(r"^  (tests/moderation/test_removals\.py::\S+)$", out, flags=re.M)
    assert count >= 1 and len(named) == count
    # Then pytest's own folded line, as the README says.
    assert re.search(rf"SKIPPED \[{count}\] tests/conftest.py:\d+: needs PostgreSQL", out)
    assert out.index("skipped tests, by reason") < out.index(f"SKIPPED [{count}]")
    assert "skipped tests, by reason" in TWO_COMMANDS
