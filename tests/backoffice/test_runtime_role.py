"""The role the app runs as: rows yes, the schema and the append-only tables' history no.

The refusals run on connections of their own as the runtime role, one transaction each, so a
refused statement cannot poison the test's connection. They need the runtime role the suite
was granted (``TEST_DATABASE_RUNTIME_USER``, as ``bash .ci/run`` sets it) and are skipped
without it. The command's own tests run as the owner; run as a single role, they use a
throwaway role when that role may create one (it goes with the test's transaction).
"""

from __future__ import annotations

import io
import os
from unittest import mock

import psycopg
import psycopg.sql
import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from moderation.models import AuditEvent, Notice
from sellers import services as catalog
from sellers.models import Listing
from tests.conftest import ROLES, DatabaseLogin, connect_as, runs_as_runtime_role

NEEDS_RUNTIME_ROLE = (
    "needs the runtime role: set TEST_DATABASE_RUNTIME_USER and TEST_DATABASE_RUNTIME_PASSWORD (bash .ci/run does)"
)


@pytest.fixture
def runtime(django_db_setup) -> DatabaseLogin:
    if ROLES.runtime is None:
        pytest.skip(NEEDS_RUNTIME_ROLE)
    return ROLES.runtime


def refusal(login: DatabaseLogin, statement: str) -> str:
    """Run one statement as ``login`` in a transaction of its own and return why it was refused."""
    with connect_as(login) as own, own.cursor() as cursor:
        # The refusals come before any lock is taken; this is in case one ever did not.
        cursor.execute("SET lock_timeout = '5s'")
        with pytest.raises(psycopg.errors.InsufficientPrivilege) as refused:
            cursor.execute(statement)
        own.rollback()
    return str(refused.value)


# --- What the runtime role may not do --------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("statement", "because"),
    [
        ("TRUNCATE moderation_auditevent", "permission denied for table moderation_auditevent"),
        ("TRUNCATE moderation_notice CASCADE", "permission denied for table moderation_notice"),
        ("TRUNCATE sellers_listing", "permission denied for table sellers_listing"),
        (
            "ALTER TABLE moderation_auditevent DISABLE TRIGGER moderation_auditevent_append_only",
            "must be owner of table moderation_auditevent",
        ),
        ("ALTER TABLE moderation_notice DISABLE TRIGGER ALL", "must be owner of table moderation_notice"),
        (
            "DROP TRIGGER moderation_auditevent_append_only ON moderation_auditevent",
            "must be owner of relation moderation_auditevent",
        ),
        ("DROP TABLE moderation_auditevent", "must be owner of table moderation_auditevent"),
        ("ALTER TABLE sellers_listing ADD COLUMN sneaky text", "must be owner of table sellers_listing"),
        ("CREATE TABLE sneaky (id int)", "permission denied for schema public"),
        ("UPDATE moderation_auditevent SET reason = 'rewritten'", "permission denied for table moderation_auditevent"),
        ("DELETE FROM moderation_auditevent", "permission denied for table moderation_auditevent"),
        ("UPDATE moderation_notice SET subject = 'Rewritten'", "permission denied for table moderation_notice"),
        ("DELETE FROM moderation_notice", "permission denied for table moderation_notice"),
        ("UPDATE sellers_listingversion SET title = 'clean'", "permission denied for table sellers_listingversion"),
        ("DELETE FROM django_migrations", "permission denied for table django_migrations"),
    ],
)
def test_the_runtime_role_is_refused(runtime, statement, because):
    assert because in refusal(runtime, statement)


@pytest.mark.postgres
def test_the_runtime_role_may_neither_update_nor_delete_any_append_only_table(runtime):
    from backoffice.management.commands.grant_runtime_role import append_only_tables

    with connect_as(runtime) as own:
        existing = {row[0] for row in own.execute("SELECT relname FROM pg_class WHERE relkind = 'r'")}
    tables = [table for table in append_only_tables() if table in existing]
    assert {"moderation_auditevent", "moderation_notice", "sellers_listingversion"} <= set(tables)
    for table in tables:
        assert f"permission denied for table {table}" in refusal(runtime, f"DELETE FROM {table}")
        assert f"permission denied for table {table}" in refusal(runtime, f"UPDATE {table} SET id = id")


# --- What it does all day ----------------------------------------------------------------------


@pytest.mark.postgres
def test_the_app_writes_audit_rows_and_listings_as_the_runtime_role(runtime, system, merchant_a, miners):
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user")
        assert cursor.fetchone()[0] == runtime.user
    assert runs_as_runtime_role()
    events = AuditEvent.objects.count()

    listing = catalog.create_listing(
        actor=system, merchant=merchant_a, category=miners, title="USB desk fan", price="12.00"
    )
    catalog.edit_listing(actor=system, listing=listing, title="USB desk fan, quiet")
    Listing.objects.filter(pk=listing.pk).update(price="11.50")
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM sellers_listing WHERE id = -1")  # DELETE is granted: nothing to delete

    listing.refresh_from_db()
    assert (listing.title, str(listing.price), listing.version) == ("USB desk fan, quiet", "11.50", 2)
    assert AuditEvent.objects.count() == events + 2  # created, edited: inserted as the runtime role
    assert listing.versions.count() == 2


@pytest.mark.postgres
def test_the_runtime_role_updates_a_notices_delivery_but_not_its_content(runtime, merchant_a):
    notice = Notice.objects.create(
        merchant=merchant_a, kind=Notice.Kind.WARNING, subject="Warning", body="…", puid="p-1", dedupe_key="k-1"
    )

    assert Notice.objects.filter(pk=notice.pk).update(email_attempts=3, last_error="bounced") == 1
    with connection.cursor() as cursor:
        cursor.execute("UPDATE moderation_notice SET email_status = 'sent', sent_at = now() WHERE id = %s", [notice.pk])
        assert cursor.rowcount == 1
    assert "permission denied for table moderation_notice" in refusal(
        runtime, f"UPDATE moderation_notice SET body = 'Rewritten' WHERE id = {notice.pk}"
    )

    notice.refresh_from_db()
    assert (notice.email_status, notice.email_attempts, notice.last_error) == ("sent", 3, "bounced")
    assert (notice.subject, notice.body) == ("Warning", "…")


@pytest.mark.postgres
@pytest.mark.broker
def test_a_worker_process_connects_as_the_runtime_role(runtime, celery_worker_process):
    from moderation.tasks import ping

    assert ping.delay().get(timeout=20)["audit_events"] == 0
    # The worker's ping counts audit events: take SELECT on them from the runtime role alone,
    # and the worker is refused.
    role = psycopg.sql.Identifier(runtime.user)
    with connect_as(ROLES.owner, autocommit=True) as owner:
        owner.execute(psycopg.sql.SQL("REVOKE SELECT ON moderation_auditevent FROM {}").format(role))
    try:
        with pytest.raises(Exception, match="permission denied for table moderation_auditevent"):
            ping.delay().get(timeout=20)
    finally:
        with connect_as(ROLES.owner, autocommit=True) as owner:
            owner.execute(psycopg.sql.SQL("GRANT SELECT ON moderation_auditevent TO {}").format(role))
    assert ping.delay().get(timeout=20)["audit_events"] == 0


# --- The command -------------------------------------------------------------------------------


def grant(role: str, **options) -> str:
    out = io.StringIO()
    call_command("grant_runtime_role", role=role, stdout=out, **options)
    return out.getvalue()


def one(query: str, params=None):
    with connection.cursor() as cursor:
        cursor.execute(query, params)
        return cursor.fetchone()[0]


@pytest.fixture
def role(db, monkeypatch) -> str:
    """The role to grant, from a test running as the owner: the suite's runtime role, or else a
    throwaway one the command creates in the test's transaction (so it goes at the end)."""
    if ROLES.runtime is not None:
        return ROLES.runtime.user
    if not one("SELECT rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user"):
        pytest.skip(f"{NEEDS_RUNTIME_ROLE}, or a DATABASE_URL role that may create roles")
    monkeypatch.setenv("DATABASE_RUNTIME_PASSWORD", "throwaway")
    return f"test_runtime_{os.getpid()}"


def privileges(role: str) -> set[tuple[str, ...]]:
    """What the role was granted on the schema's tables, columns and sequences, as rows."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT c.relname, '', a.privilege_type
            FROM pg_class c, aclexplode(c.relacl) a
            WHERE c.relnamespace = current_schema()::regnamespace AND a.grantee = %(role)s::regrole
            UNION ALL
            SELECT c.relname, att.attname, a.privilege_type
            FROM pg_attribute att JOIN pg_class c ON c.oid = att.attrelid, aclexplode(att.attacl) a
            WHERE c.relnamespace = current_schema()::regnamespace AND a.grantee = %(role)s::regrole
            """,
            {"role": role},
        )
        return set(cursor.fetchall())


def may(role: str, table: str, privilege: str) -> bool:
    return one("SELECT has_table_privilege(%s, %s, %s)", [role, table, privilege])


@pytest.mark.postgres
@pytest.mark.database_owner
def test_running_it_again_changes_nothing(role):
    first = grant(role)
    granted = privileges(role)
    second = grant(role)

    assert privileges(role) == granted
    assert ("moderation_auditevent", "", "INSERT") in granted
    assert ("moderation_auditevent", "", "UPDATE") not in granted
    assert ("moderation_notice", "email_status", "UPDATE") in granted
    assert ("moderation_notice", "subject", "UPDATE") not in granted
    assert {("sellers_listing", "", p) for p in ("SELECT", "INSERT", "UPDATE", "DELETE")} <= granted
    assert not {row for row in granted if row[2] in {"TRUNCATE", "TRIGGER", "REFERENCES"}}
    assert f"Role {role} exists" in second and "Created" not in second
    assert "Append-only: moderation_auditevent: SELECT, INSERT." in first
    assert "Checked:" in first and "Checked:" in second


@pytest.mark.postgres
@pytest.mark.database_owner
def test_it_grants_a_table_created_after_it_last_ran(role):
    grant(role, verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE moderation_madelater (id bigserial PRIMARY KEY, note text)")
    assert not may(role, "moderation_madelater", "SELECT")

    grant(role, verbosity=0)

    for privilege in ("SELECT", "INSERT", "UPDATE", "DELETE"):
        assert may(role, "moderation_madelater", privilege), privilege
    for privilege in ("TRUNCATE", "TRIGGER", "REFERENCES"):
        assert not may(role, "moderation_madelater", privilege), privilege
    assert one("SELECT has_sequence_privilege(%s, 'moderation_madelater_id_seq', 'USAGE')", [role])


@pytest.mark.postgres
@pytest.mark.database_owner
def test_it_takes_back_what_was_granted_by_hand(role):
    grant(role, verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute(f'GRANT ALL ON moderation_auditevent, sellers_listing TO "{role}"')
        cursor.execute(f'GRANT CREATE ON SCHEMA public TO "{role}"')
    assert may(role, "moderation_auditevent", "TRUNCATE")

    grant(role, verbosity=0)

    assert may(role, "moderation_auditevent", "INSERT")
    assert not may(role, "moderation_auditevent", "UPDATE")
    assert not may(role, "moderation_auditevent", "TRUNCATE")
    assert not may(role, "sellers_listing", "TRUNCATE")
    assert not one("SELECT has_schema_privilege(%s, 'public', 'CREATE')", [role])


@pytest.mark.postgres
@pytest.mark.database_owner
def test_it_refuses_and_changes_nothing_when_everyone_may_truncate_a_table(role):
    grant(role, verbosity=0)
    granted = privileges(role)
    with connection.cursor() as cursor:
        cursor.execute("GRANT TRUNCATE ON sellers_listing TO PUBLIC")
        cursor.execute(f'GRANT UPDATE ON moderation_auditevent TO "{role}"')

    with pytest.raises(CommandError, match="sellers_listing: may also TRUNCATE") as refused:
        grant(role)

    assert "nothing was changed" in str(refused.value)
    assert privileges(role) == granted | {("moderation_auditevent", "", "UPDATE")}


@pytest.mark.postgres
def test_it_refuses_to_run_as_the_runtime_role_which_owns_no_table(runtime, db):
    with pytest.raises(CommandError, match=f"{runtime.user} does not own .*run this command as the owner"):
        grant("someone_else")


@pytest.mark.postgres
@pytest.mark.database_owner
def test_it_refuses_the_role_it_connects_as(db):
    owner = one("SELECT current_user")
    with pytest.raises(CommandError, match="the runtime role must be another one"):
        grant(owner)


@pytest.mark.postgres
@pytest.mark.database_owner
def test_it_needs_a_password_to_create_a_missing_role(db, monkeypatch):
    monkeypatch.delenv("DATABASE_RUNTIME_PASSWORD", raising=False)
    with pytest.raises(CommandError, match="Role no_such_runtime_role does not exist: set its password"):
        grant("no_such_runtime_role")


@pytest.mark.postgres
def test_it_needs_the_role_name(monkeypatch):
    monkeypatch.delenv("DATABASE_RUNTIME_USER", raising=False)
    with pytest.raises(CommandError, match="Name the runtime role: --role or DATABASE_RUNTIME_USER"):
        call_command("grant_runtime_role")


def test_it_refuses_sqlite_which_has_no_roles():
    with (
        mock.patch("backoffice.management.commands.grant_runtime_role.connection", vendor="sqlite"),
        pytest.raises(CommandError, match="needs PostgreSQL: sqlite has no database roles"),
    ):
        grant("anyone")
