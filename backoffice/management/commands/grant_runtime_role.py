"""``manage.py grant_runtime_role``: the database role the web and Celery processes run as.

Migrations run as the owner of the tables. The running app connects as another role that owns
nothing, so it cannot TRUNCATE a table, ALTER it, DROP or disable a trigger: the append-only
trail then holds against the app's own credentials, not only against its ORM. On the tables
that are append-only it may only INSERT and SELECT (on notices, also UPDATE the e-mail delivery
columns); on every other table it has SELECT, INSERT, UPDATE and DELETE.

Run it as the owner (``DATABASE_URL`` of ``migrate``) after every ``migrate``. It grants from
the tables that exist at that moment, so a new table is covered by running it again. Default
privileges (``ALTER DEFAULT PRIVILEGES``) are deliberately not used: they would give every new
table full DML, a new append-only table included, until someone noticed.

1. Refuse on anything but PostgreSQL, and when not connected as the owner of the tables.
2. Create the role if it is missing (its password from the environment, sent hashed), or check
   an existing one's attributes; drop any role membership it has (a member can ``SET ROLE``).
3. Revoke everything it holds in the schema, then grant again, table by table.
4. Check the result with ``has_table_privilege`` and friends, which also count what PUBLIC
   holds, and refuse (rolling everything back) when the role can do more than it should.

All of it runs in one transaction: the running app never sees its grants half revoked.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from django.core.management import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError, connection, transaction
from psycopg import sql

ROLE_VARIABLE = "DATABASE_RUNTIME_USER"
PASSWORD_VARIABLE = "DATABASE_RUNTIME_PASSWORD"

# What the role may do as a login role: no privilege beyond its grants, and not even the
# privileges of roles it might be made a member of later (NOINHERIT).
ROLE_ATTRIBUTES = {
    "rolcanlogin": ("LOGIN", True),
    "rolsuper": ("NOSUPERUSER", False),
    "rolcreatedb": ("NOCREATEDB", False),
    "rolcreaterole": ("NOCREATEROLE", False),
    "rolinherit": ("NOINHERIT", False),
    "rolreplication": ("NOREPLICATION", False),
    "rolbypassrls": ("NOBYPASSRLS", False),
}

FULL_DML = ("SELECT", "INSERT", "UPDATE", "DELETE")
APPEND_ONLY = ("SELECT", "INSERT")
READ_ONLY = ("SELECT",)
TABLE_PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER")

# Only ``migrate`` writes the migration history, and it runs as the owner.
READ_ONLY_TABLES = frozenset({"django_migrations"})


def append_only_tables() -> dict[str, tuple[str, ...]]:
    """Append-only table → the columns the runtime role may still UPDATE (none: INSERT and SELECT).

    - audit events: the trail (its triggers refuse UPDATE and DELETE even from the owner);
    - every model built on ``AppendOnlyModel`` (the seal's checkpoints and verifications), and the
      checkpoints' table by name, so it is covered whichever way it is declared;
    - notices: what a merchant was told; only the e-mail delivery may change;
    - listing versions: the content a decision judged and an appeal restores (only ever inserted);
    - statement batches: what was sent to the DSA Transparency Database and what came back
      (only ever inserted; the statements' own rows change as they are submitted);
    - the marketplaces' outbox: its events are ``AppendOnlyModel`` rows (above); their webhook
      deliveries may change only their delivery state (status, attempts, the last answer), never
      which event goes to which endpoint, and are never deleted.
    """
    from django.apps import apps

    from moderation.models import AuditEvent, Notice, StatementBatch, WebhookDelivery, audit
    from moderation.models.notices import DELIVERY_FIELDS
    from moderation.models.outbox import DELIVERY_STATE_FIELDS
    from sellers.models import ListingVersion

    tables: dict[str, tuple[str, ...]] = {AuditEvent._meta.db_table: (), "moderation_auditcheckpoint": ()}
    base = getattr(audit, "AppendOnlyModel", None)
    if base is not None:
        tables.update((model._meta.db_table, ()) for model in apps.get_models() if issubclass(model, base))
    tables[Notice._meta.db_table] = tuple(Notice._meta.get_field(name).column for name in DELIVERY_FIELDS)
    tables[ListingVersion._meta.db_table] = ()
    tables[StatementBatch._meta.db_table] = ()
    tables[WebhookDelivery._meta.db_table] = tuple(
        WebhookDelivery._meta.get_field(name).column for name in DELIVERY_STATE_FIELDS
    )
    return tables


@dataclass
class Grants:
    """What the role gets on each table of the schema, worked out from the tables that exist."""

    full: list[str] = field(default_factory=list)
    append_only: dict[str, tuple[str, ...]] = field(default_factory=dict)
    read_only: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    @classmethod
    def for_tables(cls, tables: list[str], views: list[str]) -> Grants:
        grants = cls(read_only=sorted(views))
        for table, columns in append_only_tables().items():
            if table in tables:
                grants.append_only[table] = columns
            else:
                grants.missing.append(table)
        for table in tables:
            if table in READ_ONLY_TABLES:
                grants.read_only.append(table)
            elif table not in grants.append_only:
                grants.full.append(table)
        return grants

    def expected(self, table: str) -> tuple[str, ...]:
        if table in self.append_only:
            return APPEND_ONLY
        if table in self.read_only:
            return READ_ONLY
        return FULL_DML


class Command(BaseCommand):
    help = (
        "Create or check the role the web and Celery processes connect as, and grant it what they need: "
        "SELECT and INSERT only on the append-only tables (plus the delivery columns of notices), "
        "SELECT, INSERT, UPDATE and DELETE on the others, no TRUNCATE, no DDL, nothing owned. "
        "Run it as the owner of the tables after every migrate."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--role",
            default=None,
            help=f"The runtime role's name (default: ${ROLE_VARIABLE}).",
        )
        parser.add_argument(
            "--password-env",
            default=PASSWORD_VARIABLE,
            help=f"The environment variable holding its password (default {PASSWORD_VARIABLE}); read only to "
            "create the role: an existing role keeps its password. Never on the command line, where `ps` shows it.",
        )

    def handle(self, *args, role: str | None, password_env: str, **options) -> None:
        if connection.vendor != "postgresql":
            raise CommandError(
                f"grant_runtime_role needs PostgreSQL: {connection.vendor} has no database roles "
                "(DATABASE_URL must be postgres://… the owner of the tables)."
            )
        role = (role if role is not None else os.environ.get(ROLE_VARIABLE, "")).strip()
        if not role:
            raise CommandError(f"Name the runtime role: --role or {ROLE_VARIABLE}.")
        password = os.environ.get(password_env, "")
        self.verbose = options["verbosity"] >= 1
        with transaction.atomic(), connection.cursor() as cursor:
            self.cursor = cursor
            self.role = role
            self.run(password)

    def run(self, password: str) -> None:
        # 1. Who we are, what is there.
        owner, schema, database = self.one("SELECT current_user, current_schema(), current_database()")
        if schema is None:
            raise CommandError("No schema on the search_path: nothing to grant.")
        if self.role == owner:
            raise CommandError(
                f"{owner} is the role this command connects as: the runtime role must be another one "
                "(run migrate and this command with the owner's DATABASE_URL)."
            )
        tables, views, not_owned = self.relations(schema)
        if not tables:
            raise CommandError(f"No tables in schema {schema}: run migrate first (as the owner), then this command.")
        if not_owned:
            raise CommandError(
                f"{owner} does not own {', '.join(not_owned[:5])}{' …' if len(not_owned) > 5 else ''}: "
                "run this command as the owner of the tables (the DATABASE_URL that migrate runs with)."
            )
        grants = Grants.for_tables(tables, views)

        # 2. The role.
        self.ensure_role(password)
        self.leave_other_roles()
        self.refuse_if_it_owns_something(database)

        # 3. Revoke, then grant.
        self.revoke_everything(schema)
        self.grant(schema, database, grants)

        # 4. Check.
        problems = self.verify(schema, grants)
        if problems:
            raise CommandError(
                f"{self.role} could still do more than it should (nothing was changed):\n  " + "\n  ".join(problems)
            )
        self.report(schema, grants)

    # --- 1. who we are, what is there -------------------------------------------------------

    def relations(self, schema: str) -> tuple[list[str], list[str], list[str]]:
        """The schema's tables and views, and those the current role does not own (through membership either)."""
        self.cursor.execute(
            """
            SELECT c.relname, c.relkind IN ('v', 'm'), pg_has_role(current_user, c.relowner, 'USAGE')
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = %s AND c.relkind IN ('r', 'p', 'v', 'm')
            ORDER BY c.relname
            """,
            [schema],
        )
        rows = self.cursor.fetchall()
        tables = [name for name, is_view, _owned in rows if not is_view]
        views = [name for name, is_view, _owned in rows if is_view]
        return tables, views, [name for name, _is_view, owned in rows if not owned]

    # --- 2. the role ---------------------------------------------------------------------------

    def ensure_role(self, password: str) -> None:
        found = self.one(
            f"SELECT {', '.join(ROLE_ATTRIBUTES)} FROM pg_roles WHERE rolname = %s",
            [self.role],
            optional=True,
        )
        attributes = " ".join(keyword for keyword, _value in ROLE_ATTRIBUTES.values())
        if found is None:
            if not password:
                raise CommandError(
                    f"Role {self.role} does not exist: set its password in the environment variable named by "
                    f"--password-env (default {PASSWORD_VARIABLE}) to create it."
                )
            # Hashed here (SCRAM, as the server's password_encryption says), so the password
            # itself never reaches the server's statement log.
            hashed = connection.connection.pgconn.encrypt_password(password.encode(), self.role.encode(), None)
            statement = sql.SQL("CREATE ROLE {} WITH " + attributes + " PASSWORD {}").format(
                sql.Identifier(self.role), sql.Literal(hashed.decode())
            )
            self.privileged(
                statement.as_string(connection.connection),
                refusal=f"Role {self.role} does not exist and {self.current_user()} may not create roles. "
                f"Create it as an administrator: CREATE ROLE {self.quoted()} {attributes} PASSWORD '…';",
            )
            self.did(f"Created role {self.role} ({attributes}).")
            return
        wrong = [
            keyword
            for (keyword, wanted), actual in zip(ROLE_ATTRIBUTES.values(), found, strict=True)
            if actual != wanted
        ]
        if wrong:
            fix = f"ALTER ROLE {self.quoted()} {' '.join(wrong)};"
            self.privileged(
                fix,
                refusal=f"Role {self.role} lacks {', '.join(wrong)} and {self.current_user()} may not change it. "
                f"As an administrator: {fix}",
            )
            self.did(f"Role {self.role}: set {' '.join(wrong)}.")
        else:
            self.did(f"Role {self.role} exists ({attributes}); its password is left as it is.")

    def leave_other_roles(self) -> None:
        """A member of another role can ``SET ROLE`` to it whatever NOINHERIT says: no memberships."""
        self.cursor.execute(
            """
            SELECT g.rolname FROM pg_auth_members m
            JOIN pg_roles g ON g.oid = m.roleid JOIN pg_roles r ON r.oid = m.member
            WHERE r.rolname = %s ORDER BY g.rolname
            """,
            [self.role],
        )
        for (group,) in self.cursor.fetchall():
            revoke = f"REVOKE {sql.Identifier(group).as_string(connection.connection)} FROM {self.quoted()};"
            self.privileged(
                revoke,
                refusal=f"Role {self.role} is a member of {group} (it could SET ROLE {group}) and "
                f"{self.current_user()} may not revoke that. As an administrator: {revoke}",
            )
            self.did(f"Revoked {self.role}'s membership of {group}.")

    def refuse_if_it_owns_something(self, database: str) -> None:
        """An owner may ALTER, DROP and TRUNCATE what it owns, whatever was revoked."""
        owned = self.one(
            """
            SELECT array(
                SELECT 'database ' || datname FROM pg_database WHERE datdba = r.oid AND datname = %s
                UNION ALL SELECT 'schema ' || nspname FROM pg_namespace WHERE nspowner = r.oid
                UNION ALL SELECT 'relation ' || relname FROM pg_class WHERE relowner = r.oid
                UNION ALL SELECT 'function ' || proname FROM pg_proc WHERE proowner = r.oid
                UNION ALL SELECT 'type ' || typname FROM pg_type WHERE typowner = r.oid
                LIMIT 6)
            FROM pg_roles r WHERE r.rolname = %s
            """,
            [database, self.role],
        )[0]
        if owned:
            raise CommandError(
                f"Role {self.role} owns {', '.join(owned[:5])}{' …' if len(owned) > 5 else ''} in this database: "
                f"an owner can drop and truncate whatever is revoked. Give them to the owner first: "
                f"REASSIGN OWNED BY {self.quoted()} TO {self.current_user()};"
            )

    # --- 3. revoke, then grant -----------------------------------------------------------------

    def revoke_everything(self, schema: str) -> None:
        ident = self.quoted()
        in_schema = sql.Identifier(schema).as_string(connection.connection)
        for statement in (
            # Column privileges go with the table's (PostgreSQL revokes both).
            f"REVOKE ALL ON ALL TABLES IN SCHEMA {in_schema} FROM {ident}",
            f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA {in_schema} FROM {ident}",
            f"REVOKE ALL ON ALL FUNCTIONS IN SCHEMA {in_schema} FROM {ident}",
            f"REVOKE ALL ON SCHEMA {in_schema} FROM {ident}",
            # Default privileges this owner may have set for the role earlier: a table made by the
            # next migrate would get them before this command runs again.
            f"ALTER DEFAULT PRIVILEGES REVOKE ALL ON TABLES FROM {ident}",
            f"ALTER DEFAULT PRIVILEGES REVOKE ALL ON SEQUENCES FROM {ident}",
            f"ALTER DEFAULT PRIVILEGES IN SCHEMA {in_schema} REVOKE ALL ON TABLES FROM {ident}",
            f"ALTER DEFAULT PRIVILEGES IN SCHEMA {in_schema} REVOKE ALL ON SEQUENCES FROM {ident}",
            # PostgreSQL 15 no longer lets everyone create tables in public; older clusters and
            # restored dumps still may. Nobody but the owner creates objects here.
            f"REVOKE CREATE ON SCHEMA {in_schema} FROM PUBLIC",
        ):
            self.cursor.execute(statement)

    def grant(self, schema: str, database: str, grants: Grants) -> None:
        ident = self.quoted()
        in_schema = sql.Identifier(schema).as_string(connection.connection)

        def tables(names) -> str:
            return ", ".join(sql.Identifier(schema, name).as_string(connection.connection) for name in names)

        if not self.one("SELECT has_database_privilege(%s, current_database(), 'CONNECT')", [self.role])[0]:
            on_database = sql.Identifier(database).as_string(connection.connection)
            self.cursor.execute(f"GRANT CONNECT ON DATABASE {on_database} TO {ident}")
        self.cursor.execute(f"GRANT USAGE ON SCHEMA {in_schema} TO {ident}")
        if grants.full:
            self.cursor.execute(f"GRANT {', '.join(FULL_DML)} ON {tables(grants.full)} TO {ident}")
        if grants.append_only:
            self.cursor.execute(f"GRANT {', '.join(APPEND_ONLY)} ON {tables(grants.append_only)} TO {ident}")
        for table, columns in grants.append_only.items():
            if columns:
                listed = ", ".join(sql.Identifier(column).as_string(connection.connection) for column in columns)
                self.cursor.execute(f"GRANT UPDATE ({listed}) ON {tables([table])} TO {ident}")
        if grants.read_only:
            self.cursor.execute(f"GRANT SELECT ON {tables(grants.read_only)} TO {ident}")
        # nextval() for the tables' ids; not UPDATE (setval), which would let it move an id back.
        self.cursor.execute(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {in_schema} TO {ident}")

    # --- 4. check ------------------------------------------------------------------------------

    def verify(self, schema: str, grants: Grants) -> list[str]:
        """What the role can do in effect (its grants, PUBLIC's, any role's it inherits) against what it should."""
        problems = []
        self.cursor.execute(
            f"""
            SELECT t.name, {", ".join(f"has_table_privilege(%s, t.oid, '{p}')" for p in TABLE_PRIVILEGES)}
            FROM (SELECT c.relname AS name, c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                  WHERE n.nspname = %s AND c.relkind IN ('r', 'p', 'v', 'm')) t
            ORDER BY t.name
            """,
            [self.role] * len(TABLE_PRIVILEGES) + [schema],
        )
        for name, *held in self.cursor.fetchall():
            has = {privilege for privilege, yes in zip(TABLE_PRIVILEGES, held, strict=True) if yes}
            wanted = set(grants.expected(name))
            if has != wanted:
                extra, lacking = sorted(has - wanted), sorted(wanted - has)
                problems.append(
                    f"{name}: "
                    + "; ".join(
                        part
                        for part in (
                            f"may also {', '.join(extra)}" if extra else "",
                            f"lacks {', '.join(lacking)}" if lacking else "",
                        )
                        if part
                    )
                )
        for table, columns in grants.append_only.items():
            self.cursor.execute(
                """
                SELECT attname FROM pg_attribute
                WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped
                  AND has_column_privilege(%s, attrelid, attnum, 'UPDATE')
                ORDER BY attnum
                """,
                [sql.Identifier(schema, table).as_string(connection.connection), self.role],
            )
            updatable = {name for (name,) in self.cursor.fetchall()}
            if updatable != set(columns):
                problems.append(
                    f"{table}: may UPDATE {', '.join(sorted(updatable)) or 'no column'}, "
                    f"should {', '.join(columns) or 'none'}"
                )
        if self.one("SELECT has_schema_privilege(%s, %s, 'CREATE')", [self.role, schema])[0]:
            problems.append(f"schema {schema}: may CREATE (its owner can: REVOKE CREATE ON SCHEMA … FROM PUBLIC)")
        # Another role's default privileges (this one's were revoked above) would grant the next new table.
        self.cursor.execute(
            """
            SELECT DISTINCT owner.rolname FROM pg_default_acl d
            JOIN pg_roles owner ON owner.oid = d.defaclrole, aclexplode(d.defaclacl) a
            WHERE a.grantee = (SELECT oid FROM pg_roles WHERE rolname = %s)
            """,
            [self.role],
        )
        for (owner,) in self.cursor.fetchall():
            problems.append(f"default privileges of {owner} grant it new objects (ALTER DEFAULT PRIVILEGES FOR ROLE …)")
        return problems

    # --- helpers -------------------------------------------------------------------------------

    def report(self, schema: str, grants: Grants) -> None:
        self.did(f"Schema {schema}: USAGE only (CREATE revoked from PUBLIC); earlier grants to {self.role} revoked.")
        for table, columns in grants.append_only.items():
            extra = f", UPDATE of {', '.join(columns)}" if columns else ""
            self.did(f"Append-only: {table}: {', '.join(APPEND_ONLY)}{extra}.")
        for table in grants.missing:
            self.did(f"Append-only: {table}: not created yet (run this command again after the migrate that makes it).")
        if grants.read_only:
            self.did(f"Read only (SELECT): {', '.join(grants.read_only)}.")
        self.did(f"{', '.join(FULL_DML)} (no TRUNCATE): {len(grants.full)} other tables.")
        self.did("Sequences: USAGE, SELECT.")
        self.did(
            f"Checked: {self.role} owns nothing, belongs to no role, and can truncate, alter or "
            "drop no table, nor disable or drop a trigger."
        )

    def did(self, line: str) -> None:
        if self.verbose:
            self.stdout.write(line)

    def one(self, query: str, params=None, *, optional: bool = False):
        self.cursor.execute(query, params)
        row = self.cursor.fetchone()
        if row is None and not optional:
            raise CommandError(f"No answer from the database to: {query.strip().splitlines()[0]}")
        return row

    def quoted(self) -> str:
        return sql.Identifier(self.role).as_string(connection.connection)

    def current_user(self) -> str:
        return self.one("SELECT current_user")[0]

    def privileged(self, statement: str, *, refusal: str) -> None:
        """Run a statement only an administrator may run, with a clear refusal when we are not one."""
        try:
            with transaction.atomic():
                self.cursor.execute(statement)
        except DatabaseError as error:
            raise CommandError(f"{refusal}\n({error})") from error
