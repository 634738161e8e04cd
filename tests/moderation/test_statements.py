"""Statements of reasons for the DSA Transparency Database: the export, and the submitter against a local
server that answers as the documented API does (201; 422 on a duplicate puid or an invalid field)."""

from __future__ import annotations

import itertools
import json
import re
import threading
import uuid
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django_celery_beat.models import PeriodicTask

from moderation.models import AuditEvent, AuditVerb, Notice, StatementBatch, StatementSubmission
from moderation.services import statements as statement_services
from moderation.services.notices import NoticeDraft, create_notices
from moderation.services.sanctions import run_escalation
from moderation.services.statements import (
    DSA_FIELDS,
    STATEMENT_LEASE,
    export_statements,
    queue_statements,
    statement_of,
    submit_pending_statements,
)
from moderation.services.transparency import VISIBILITY_REMOVED, statement_fields
from moderation.tasks import submit_statements
from sellers.models import Listing
from tests.concurrency import race
from tests.moderation.conftest import AFTER_GRACE
from tests.moderation.sanctions_fixtures import *  # noqa: F403

TOKEN = "X|test-token-for-the-transparency-database"
REQUIRED = [
    "decision_ground",
    "content_type",
    "category",
    "content_date",
    "application_date",
    "decision_facts",
    "source_type",
    "automated_detection",
    "automated_decision",
    "puid",
]
RESTRICTIONS = ["decision_visibility", "decision_monetary", "decision_provision", "decision_account"]
DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
PUID = re.compile(r"^[A-Za-z0-9_-]{1,500}$")


# --- A Transparency Database on 127.0.0.1 ------------------------------------------------


class TransparencyDatabase:
    """The statement API as dsa.md documents it, in memory, with switches for the failure tests.

    ``fail_with``: answer every POST with this status. ``lose_answers``: store the statements,
    then never answer (the client times out). ``terse``: a batch's 422 names no statement.
    """

    def __init__(self) -> None:
        self.accepted: dict[str, dict] = {}
        self.requests: list[dict] = []
        self.fail_with: int | None = None
        self.lose_answers = False
        self.terse = False
        self.released = threading.Event()
        self.lock = threading.Lock()

    @property
    def batches(self) -> list[list[dict]]:
        return [r["statements"] for r in self.requests if r["path"] == "/api/v1/statements"]

    def problems(self, statement: dict) -> dict[str, list[str]]:
        found: dict[str, list[str]] = {}
        for name in REQUIRED:
            if statement.get(name) in (None, "", []):
                found[name] = [f"The {name.replace('_', ' ')} field is required."]
        if statement.get("decision_ground") not in (
            None,
            "DECISION_GROUND_ILLEGAL_CONTENT",
            "DECISION_GROUND_INCOMPATIBLE_CONTENT",
        ):
            found["decision_ground"] = ["The selected decision ground is invalid."]
        if statement.get("decision_ground") == "DECISION_GROUND_INCOMPATIBLE_CONTENT":
            for name in ("incompatible_content_ground", "incompatible_content_explanation"):
                if not statement.get(name):
                    found[name] = [f"The {name.replace('_', ' ')} field is required."]
        for name in ("content_date", "application_date"):
            if statement.get(name) and not DAY.match(str(statement[name])):
                found[name] = [f"The {name.replace('_', ' ')} does not match the format Y-m-d."]
        if len(statement.get("decision_facts") or "") > 5000:
            found["decision_facts"] = ["The decision facts must not be greater than 5000 characters."]
        if statement.get("automated_detection") not in (None, "Yes", "No"):
            found["automated_detection"] = ["The selected automated detection is invalid."]
        if statement.get("puid") and not PUID.match(str(statement["puid"])):
            found["puid"] = ["The puid format is invalid."]
        if not any(statement.get(name) for name in RESTRICTIONS):
            found["decision_visibility"] = ["A decision_visibility, _monetary, _provision or _account is required."]
        return found

    def store_many(self, statements) -> tuple[int, dict]:
        if not isinstance(statements, list) or not 1 <= len(statements) <= 100:
            return 422, {"message": "Between 1 and 100 statements.", "errors": {"statements": ["1 to 100."]}}
        errors = {
            f"statements.{index}.{name}": messages
            for index, statement in enumerate(statements)
            for name, messages in self.problems(statement).items()
        }
        if errors:
            return 422, self.refusal("The given data was invalid.", errors, len(statements))
        puids = [s["puid"] for s in statements]
        if len(set(puids)) != len(puids):
            return 422, self.refusal("Not all unique within this call.", {"puid": ["Not unique in this call."]}, 2)
        existing = [puid for puid in puids if puid in self.accepted]
        if existing:
            message = "The platform identifier(s) given are not all unique within this platform."
            return 422, self.refusal(message, {"puid": [message], "existing_puids": existing}, len(statements))
        for statement in statements:
            self.accepted[statement["puid"]] = statement
        return 201, {"statements": [{"uuid": str(uuid.uuid4()), "puid": s["puid"]} for s in statements]}

    def refusal(self, message: str, errors: dict, size: int) -> dict:
        return {"message": message} if self.terse and size > 1 else {"message": message, "errors": errors}


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):  # quiet test output
        pass

    def do_POST(self):
        api: TransparencyDatabase = self.server.api
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        payload = json.loads(raw or b"{}")
        with api.lock:
            api.requests.append(
                {"path": self.path, "headers": dict(self.headers), "statements": payload.get("statements")}
            )
        if self.headers.get("Authorization") != f"Bearer {TOKEN}":
            return self.reply(401, {"message": "Unauthenticated."})
        if api.fail_with:
            return self.reply(api.fail_with, {"message": "Server Error"})
        if self.path != "/api/v1/statements":
            return self.reply(404, {"message": "Not found."})
        with api.lock:
            status, body = api.store_many(payload.get("statements"))
        if api.lose_answers:
            api.released.wait(10)  # stored, but the answer never comes back in time
            return None
        return self.reply(status, body)

    def do_GET(self):
        api: TransparencyDatabase = self.server.api
        prefix = "/api/v1/statement/existing-puid/"
        if self.path.startswith(prefix):
            known = self.path.removeprefix(prefix) in api.accepted
            return self.reply(302 if known else 404, {"message": "found" if known else "statement of reason not found"})
        return self.reply(404, {"message": "Not found."})

    def reply(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def transparency_db(settings):
    """The API on a free port of 127.0.0.1, and the settings pointing at it."""
    api = TransparencyDatabase()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.api = api
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings.DSA_TRANSPARENCY_URL = f"http://127.0.0.1:{server.server_port}/api/v1/statements"
    settings.DSA_TRANSPARENCY_TOKEN = TOKEN
    settings.DSA_TRANSPARENCY_TIMEOUT = 5
    settings.DSA_TRANSPARENCY_MAX_ATTEMPTS = 4
    settings.DSA_TRANSPARENCY_RETRY_MINUTES = 5
    try:
        yield api
    finally:
        api.released.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


# --- Statements to submit ------------------------------------------------------------------


@pytest.fixture
def make_statements(announced_policy, merchant_a):
    """``make_statements(n, merchant=…, drop=(…))``: n restricting notices with their statement fields,
    written through ``create_notices`` as the services write them; ``drop`` leaves fields out."""
    counter = itertools.count(1)
    clause = announced_policy.clauses.order_by("number").first()

    def make(count: int, *, merchant=None, drop=()) -> list[Notice]:
        merchant = merchant or merchant_a
        fields = statement_fields(
            policy=announced_policy,
            clause=clause,
            facts="3 of your listings in Blockchain Miners were removed because the category was closed.",
            content_date=AFTER_GRACE,
            application_date=AFTER_GRACE,
            automated_detection=True,
            automated_decision="AUTOMATED_DECISION_PARTIALLY",
            visibility=[VISIBILITY_REMOVED],
        )
        for name in drop:
            fields.pop(name)
        keys = [f"test-statement:{next(counter)}" for _ in range(count)]
        create_notices(
            NoticeDraft(
                merchant_id=merchant.pk,
                kind=Notice.Kind.LISTINGS_DELISTED,
                dedupe_key=key,
                policy=announced_policy,
                clause=clause,
                restricts=True,
                appeal_deadline=announced_policy.appeal_deadline(AFTER_GRACE),
                context={"listings": 3, "categories": "Blockchain Miners"},
                transparency=fields,
            )
            for key in keys
        )
        return list(Notice.objects.filter(dedupe_key__in=keys).order_by("id"))

    return make


def rows(**filters) -> list[StatementSubmission]:
    return list(StatementSubmission.objects.filter(**filters).order_by("id"))


def submitted_events():
    return AuditEvent.objects.filter(verb=AuditVerb.STATEMENTS_SUBMITTED).order_by("id")


# --- The export ---------------------------------------------------------------------------


def test_the_export_holds_the_dsa_fields_of_each_statement_and_its_puid(travel, make_statements):
    travel.to(AFTER_GRACE)
    [notice] = make_statements(1)

    statement = statement_of(notice)

    assert statement["puid"] == notice.puid and PUID.match(statement["puid"])
    assert set(REQUIRED) <= set(statement)
    assert set(statement) <= set(DSA_FIELDS) | {"puid"}
    assert statement["decision_visibility"] == [VISIBILITY_REMOVED]
    assert statement["end_date_visibility_restriction"] is None
    assert statement["decision_ground"] == "DECISION_GROUND_INCOMPATIBLE_CONTENT"
    assert statement["incompatible_content_ground"].startswith("Virtual currency mining machines, clause 1")
    assert statement["category"] == "STATEMENT_CATEGORY_UNSAFE_AND_PROHIBITED_PRODUCTS"
    assert statement["content_type"] == ["CONTENT_TYPE_PRODUCT"]
    assert (statement["content_date"], statement["application_date"]) == ("2021-10-20", "2021-10-20")
    assert statement["source_type"] == "SOURCE_VOLUNTARY"
    assert (statement["automated_detection"], statement["automated_decision"]) == (
        "Yes",
        "AUTOMATED_DECISION_PARTIALLY",
    )
    assert "DE" in statement["territorial_scope"] and "CN" not in statement["territorial_scope"]


def test_the_export_holds_no_personal_data(travel, announced_policy, merchant_a, merchant_user_a, merchant_b, violate):
    merchant_user_a.first_name, merchant_user_a.last_name = "Wei", "Zhang"
    merchant_user_a.email = "wei.zhang@hashpower.example"
    merchant_user_a.save()
    travel.to(AFTER_GRACE)
    violate(merchant_a, 8)  # two take-downs by a moderator: their facts quote the listings' titles
    violate(merchant_b, 4)
    run_escalation()  # merchant A's 8 points: a warning, another statement
    notices = list(Notice.objects.filter(restricts=True).order_by("id"))
    assert len(notices) == 4
    titles = list(Listing.objects.values_list("title", flat=True))
    assert any(title in notices[0].transparency["decision_facts"] for title in titles)  # what the scrub is for

    exported = list(export_statements())
    text = json.dumps(exported, ensure_ascii=False).lower()

    assert [s["puid"] for s in exported] == [n.puid for n in notices]
    for personal in [
        merchant_a.store_name,
        merchant_a.company_name,
        merchant_a.contact_email,
        merchant_b.store_name,
        merchant_b.company_name,
        merchant_b.contact_email,
        merchant_user_a.username,
        merchant_user_a.email,
        "Wei",
        "Zhang",
        *titles,
    ]:
        assert not re.search(rf"(?<!\w){re.escape(personal.lower())}(?!\w)", text), personal
    take_down = exported[0]["decision_facts"]
    assert "[redacted]" in take_down and "was reviewed by a moderator and removed" in take_down
    for statement in exported:
        assert set(statement) <= set(DSA_FIELDS) | {"puid"}
        assert not {"merchant", "store_name", "contact_email", "title", "source_identity"} & set(statement)


def test_the_export_leaves_out_fields_that_are_not_the_databases(travel, make_statements):
    travel.to(AFTER_GRACE)
    [notice] = make_statements(1)
    # Notices are frozen in the database: an in-memory copy stands for one written with extra keys.
    notice.transparency = {**notice.transparency, "merchant_id": 7, "source_identity": "Jane Doe", "title": "x"}

    statement = statement_of(notice)

    assert not {"merchant_id", "source_identity", "title"} & set(statement)


def test_the_export_covers_a_period_of_restricting_notices_only(travel, make_statements, merchant_a):
    travel.to(datetime(2021, 10, 20, tzinfo=UTC))
    october = make_statements(2)
    travel.to(datetime(2021, 11, 5, tzinfo=UTC))
    november = make_statements(1)
    create_notices(
        [NoticeDraft(merchant_id=merchant_a.pk, kind=Notice.Kind.LISTINGS_DELISTED, dedupe_key="no-restriction")]
    )

    assert [
        s["puid"] for s in export_statements(datetime(2021, 10, 1, tzinfo=UTC), datetime(2021, 11, 1, tzinfo=UTC))
    ] == [n.puid for n in october]
    assert [s["puid"] for s in export_statements()] == [n.puid for n in october + november]


# --- Queueing -----------------------------------------------------------------------------


def test_queueing_is_set_based_and_queues_each_statement_once(travel, make_statements, django_assert_num_queries):
    travel.to(AFTER_GRACE)
    notices = make_statements(5)

    with django_assert_num_queries(1):
        assert queue_statements() == 5
    assert queue_statements() == 0
    make_statements(1)
    assert queue_statements() == 1
    queued = rows()
    assert [(r.notice_id, r.puid, r.status, r.attempts) for r in queued[:5]] == [
        (n.pk, n.puid, "pending", 0) for n in notices
    ]
    assert all(r.next_attempt_at == AFTER_GRACE for r in queued)


# --- Submitting ---------------------------------------------------------------------------


def test_it_posts_250_statements_in_three_batches_of_at_most_100(travel, transparency_db, make_statements):
    travel.to(AFTER_GRACE)
    notices = make_statements(250)

    result = submit_pending_statements()

    assert [len(batch) for batch in transparency_db.batches] == [100, 100, 50]
    assert set(transparency_db.accepted) == {n.puid for n in notices}
    assert result == {
        "configured": True,
        "queued": 250,
        "requests": 3,
        "submitted": 250,
        "duplicates": 0,
        "invalid": 0,
        "retry_later": 0,
        "gave_up": 0,
        "stopped_on_error": False,
    }
    assert {(r.status, r.attempts, r.response_status, r.duplicate) for r in rows()} == {("submitted", 1, 201, False)}
    assert all(r.submitted_at == AFTER_GRACE and r.claimed_until is None for r in rows())


def test_it_sends_the_bearer_token_and_json(transparency_db, make_statements):
    make_statements(1)

    submit_pending_statements()

    [request] = transparency_db.requests
    assert request["headers"]["Authorization"] == f"Bearer {TOKEN}"
    assert request["headers"]["Content-Type"] == "application/json"
    assert request["headers"]["Accept"] == "application/json"


def test_it_records_each_batch_it_sent_with_an_audit_event(settings, travel, transparency_db, make_statements):
    travel.to(AFTER_GRACE)
    make_statements(150)

    submit_pending_statements()

    batches = list(StatementBatch.objects.order_by("id"))
    assert [(b.size, b.http_status, b.submitted, b.sent_at) for b in batches] == [
        (100, 201, 100, AFTER_GRACE),
        (50, 201, 50, AFTER_GRACE),
    ]
    assert batches[0].puids == [r.puid for r in rows()[:100]]
    assert batches[0].endpoint == settings.DSA_TRANSPARENCY_URL
    assert all(r.batch_id == batches[1].pk for r in rows()[100:])
    events = list(submitted_events())
    assert [(e.target_id, e.actor_name, e.after["statements"], e.after["http_status"]) for e in events] == [
        (batches[0].pk, "task:submit_statements", 100, 201),
        (batches[1].pk, "task:submit_statements", 50, 201),
    ]
    assert events[0].after["submitted"] == 100 and events[0].after["invalid"] == 0
    assert TOKEN not in json.dumps([e.after for e in events])


def test_a_second_run_sends_nothing(transparency_db, make_statements):
    make_statements(3)
    submit_pending_statements()

    again = submit_pending_statements()

    assert (again["queued"], again["requests"]) == (0, 0)
    assert len(transparency_db.requests) == 1
    assert StatementBatch.objects.count() == 1


def test_a_statement_the_database_already_has_is_recorded_as_done(travel, transparency_db, make_statements):
    travel.to(AFTER_GRACE)
    notices = make_statements(3)
    transparency_db.accepted[notices[1].puid] = {"puid": notices[1].puid}  # sent before, answer lost

    result = submit_pending_statements()

    # The whole batch is refused naming the known puid; the other two go again and are accepted.
    assert [[s["puid"] for s in batch] for batch in transparency_db.batches] == [
        [n.puid for n in notices],
        [notices[0].puid, notices[2].puid],
    ]
    assert (result["submitted"], result["duplicates"], result["requests"]) == (2, 1, 2)
    known = StatementSubmission.objects.get(notice=notices[1])
    assert (known.status, known.duplicate, known.response_status, known.submitted_at) == (
        "submitted",
        True,
        422,
        AFTER_GRACE,
    )
    assert [(b.http_status, b.duplicates, b.submitted) for b in StatementBatch.objects.order_by("id")] == [
        (422, 1, 0),
        (201, 0, 2),
    ]


def test_an_invalid_statement_fails_and_the_rest_of_its_batch_goes_through(travel, transparency_db, make_statements):
    travel.to(AFTER_GRACE)
    good = make_statements(2)
    [bad] = make_statements(1, drop=["decision_ground"])
    transparency_db.accepted[good[1].puid] = {"puid": good[1].puid}

    result = submit_pending_statements()

    # Fields are checked before puids: the invalid one is named first, then the duplicate.
    assert [len(batch) for batch in transparency_db.batches] == [3, 2, 1]
    assert (result["invalid"], result["duplicates"], result["submitted"]) == (1, 1, 1)
    failed = StatementSubmission.objects.get(notice=bad)
    assert (failed.status, failed.response_status, failed.attempts) == ("failed", 422, 1)
    assert "decision_ground" in failed.last_error and "required" in failed.last_error
    assert bad.puid not in transparency_db.accepted
    assert StatementSubmission.objects.get(notice=good[0]).status == "submitted"


def test_a_422_that_names_no_statement_sends_the_batch_one_at_a_time(travel, transparency_db, make_statements):
    travel.to(AFTER_GRACE)
    transparency_db.terse = True
    good = make_statements(2)
    [bad] = make_statements(1, drop=["content_type"])
    transparency_db.accepted[good[1].puid] = {"puid": good[1].puid}

    result = submit_pending_statements()

    assert [len(batch) for batch in transparency_db.batches] == [3, 1, 1, 1]
    assert (result["submitted"], result["duplicates"], result["invalid"]) == (1, 1, 1)
    assert [r.status for r in rows()] == ["submitted", "submitted", "failed"]
    assert [r.duplicate for r in rows()] == [False, True, False]
    assert "content_type" in rows()[2].last_error


def test_a_server_error_backs_off_exponentially_then_gives_up(travel, transparency_db, make_statements):
    moment = travel.to(AFTER_GRACE)
    make_statements(3)
    transparency_db.fail_with = 500

    first = submit_pending_statements()

    assert (first["retry_later"], first["stopped_on_error"]) == (3, True)
    assert {(r.status, r.attempts, r.next_attempt_at, r.response_status) for r in rows()} == {
        ("pending", 1, moment + timedelta(minutes=5), 500)
    }
    assert "HTTP 500" in rows()[0].last_error
    assert submit_pending_statements()["requests"] == 0  # not before its time

    travel.to(moment + timedelta(minutes=5))
    submit_pending_statements()
    assert {(r.attempts, r.next_attempt_at) for r in rows()} == {(2, moment + timedelta(minutes=15))}

    travel.to(moment + timedelta(minutes=15))
    submit_pending_statements()
    assert {(r.attempts, r.next_attempt_at) for r in rows()} == {(3, moment + timedelta(minutes=35))}

    travel.to(moment + timedelta(minutes=35))
    last = submit_pending_statements()  # the fourth attempt is the last (DSA_TRANSPARENCY_MAX_ATTEMPTS)
    assert (last["gave_up"], last["retry_later"]) == (3, 0)
    assert {(r.status, r.attempts) for r in rows()} == {("failed", 4)}
    assert all("HTTP 500" in r.last_error for r in rows())
    assert submitted_events().last().after["gave_up"] == 3

    transparency_db.fail_with = None
    travel.by(timedelta(days=1))
    assert submit_pending_statements()["requests"] == 0  # failed statements wait for a person
    assert len(transparency_db.requests) == 4


def test_a_failing_run_stops_at_the_first_bad_answer(transparency_db, make_statements):
    make_statements(150)
    transparency_db.fail_with = 503

    submit_pending_statements()

    assert len(transparency_db.requests) == 1
    assert sorted(r.attempts for r in rows()) == [0] * 50 + [1] * 100
    assert StatementSubmission.objects.filter(status="sending").count() == 0


def test_a_lost_answer_is_retried_and_the_duplicate_counts_as_done(settings, travel, transparency_db, make_statements):
    moment = travel.to(AFTER_GRACE)
    notices = make_statements(2)
    settings.DSA_TRANSPARENCY_TIMEOUT = 0.3
    transparency_db.lose_answers = True

    first = submit_pending_statements()

    assert first["retry_later"] == 2
    assert set(transparency_db.accepted) == {n.puid for n in notices}  # stored, but we never heard
    assert {(r.status, r.attempts, r.response_status) for r in rows()} == {("pending", 1, None)}
    assert "no answer" in rows()[0].last_error
    assert StatementBatch.objects.get().http_status is None

    transparency_db.lose_answers = False
    travel.to(moment + timedelta(minutes=5))
    second = submit_pending_statements()

    assert second["duplicates"] == 2
    assert {(r.status, r.duplicate, r.attempts) for r in rows()} == {("submitted", True, 2)}


def test_a_wrong_token_is_a_failed_attempt(settings, transparency_db, make_statements):
    make_statements(1)
    settings.DSA_TRANSPARENCY_TOKEN = "not-the-token"

    result = submit_pending_statements()

    assert (result["submitted"], result["retry_later"]) == (0, 1)
    assert rows()[0].response_status == 401 and "HTTP 401" in rows()[0].last_error


def test_a_batch_whose_worker_died_is_sent_after_its_lease(travel, transparency_db, make_statements):
    moment = travel.to(AFTER_GRACE)
    make_statements(3)
    queue_statements()
    assert statement_services._claim(100) is not None  # a worker claimed them, then died

    assert submit_pending_statements()["requests"] == 0
    travel.to(moment + STATEMENT_LEASE + timedelta(seconds=1))
    assert submit_pending_statements()["submitted"] == 3


def test_without_a_url_it_sends_nothing_and_says_so(settings, make_statements, caplog):
    settings.DSA_TRANSPARENCY_URL = ""
    make_statements(2)

    with caplog.at_level("INFO", logger="moderation.services.statements"):
        result = submit_pending_statements()

    assert result == {"configured": False, "queued": 0, "requests": 0}
    assert "DSA_TRANSPARENCY_URL is not set" in caplog.text
    assert not StatementSubmission.objects.exists() and not StatementBatch.objects.exists()


def test_a_batch_size_above_the_apis_limit_is_refused(transparency_db):
    with pytest.raises(ValueError, match="between 1 and 100"):
        submit_pending_statements(batch_size=101)


@pytest.mark.postgres
def test_two_workers_never_claim_the_same_statement(transactional_db, announced_policy, make_statements):
    make_statements(150)
    queue_statements()

    claims, errors = race(statement_services._claim, [(100,), (100,)])

    assert errors == [None, None]
    first, second = (set(claim.rows) for claim in claims)
    assert not first & second
    assert sorted([len(first), len(second)]) == [50, 100]


# --- The task, the beat schedule and the command ------------------------------------------


def test_the_task_submits_what_is_due(transparency_db, make_statements):
    make_statements(3)

    result = submit_statements.delay().get()

    assert (result["submitted"], result["requests"]) == (3, 1)
    assert submitted_events().get().actor_name == "task:submit_statements"


def test_the_beat_runs_the_task_every_five_minutes(db):
    task = PeriodicTask.objects.get(task="moderation.submit_statements")
    assert (task.interval.every, task.interval.period, task.enabled) == (300, "seconds", True)


def test_the_command_dry_run_counts_and_sends_nothing(transparency_db, make_statements):
    make_statements(3)
    out = StringIO()

    call_command("submit_statements", "--dry-run", stdout=out)

    assert "Statements that would be sent: 3." in out.getvalue()
    assert transparency_db.requests == [] and not StatementSubmission.objects.exists()


def test_the_command_submits(transparency_db, make_statements):
    make_statements(3)
    out = StringIO()

    call_command("submit_statements", stdout=out)

    assert "requests: 1; accepted: 3" in out.getvalue()
    assert len(transparency_db.accepted) == 3
    assert submitted_events().get().actor_name == "task:submit_statements"


def test_the_command_without_a_url_says_so(settings, make_statements):
    settings.DSA_TRANSPARENCY_URL = ""
    make_statements(1)
    out = StringIO()

    call_command("submit_statements", stdout=out)

    assert "DSA_TRANSPARENCY_URL is not set" in out.getvalue()


def test_the_command_exports_a_period_as_json_lines(tmp_path, travel, make_statements):
    travel.to(datetime(2021, 10, 20, tzinfo=UTC))
    october = make_statements(2)
    travel.to(datetime(2021, 11, 5, tzinfo=UTC))
    make_statements(1)
    path = tmp_path / "statements.jsonl"
    out = StringIO()

    call_command("submit_statements", export=str(path), since="2021-10-01", until="2021-11-01", stdout=out)

    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert [line["puid"] for line in lines] == [n.puid for n in october]
    assert lines[0] == statement_of(october[0])
    assert f"Statements exported: 2 to {path}." in out.getvalue()
    assert not StatementSubmission.objects.exists()  # an export submits nothing


def test_the_command_exports_to_standard_output(travel, make_statements):
    travel.to(AFTER_GRACE)
    [notice] = make_statements(1)
    out, err = StringIO(), StringIO()

    call_command("submit_statements", export="-", stdout=out, stderr=err)

    assert json.loads(out.getvalue()) == statement_of(notice)
    assert "Statements exported: 1" in err.getvalue()


def test_the_command_refuses_a_bad_date(tmp_path):
    with pytest.raises(CommandError, match="Not a date"):
        call_command("submit_statements", export=str(tmp_path / "x"), since="last tuesday")
