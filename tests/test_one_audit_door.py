"""The audit trail has one door: ``moderation/services/audit.py`` (``record_event``, ``record_events``,
``events_insert_sql``). Any other write to ``AuditEvent`` in the project's source is a second door
that a change to the trail's columns or its seal would miss.

Read as text, not imported: a write hidden in a branch that no test runs is found too. The
benchmarks (bench/) are left out on purpose: their baselines are the hand-written SQL the real
code path is measured against.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOOR = ROOT / "moderation" / "services" / "audit.py"
# Not the project's source: the tests, the benchmarks, migrations, and anything installed.
SKIPPED_DIRECTORIES = {"tests", "bench", "migrations", "node_modules", "var", "build", "dist"}

# Each a way to put a row into the trail other than through the door.
SECOND_DOORS = {
    "an AuditEvent built by hand": re.compile(r"(?<!class )\bAuditEvent\s*\("),
    "AuditEvent.objects writing": re.compile(
        r"\bAuditEvent\s*\.\s*objects\s*\.\s*a?(?:create|bulk_create|get_or_create|update_or_create)\b"
    ),
    "the JSON bulk insert of AuditEvent": re.compile(r"\binsert_rows\s*\(\s*AuditEvent\b"),
    "SQL into the trail's table": re.compile(
        r"\b(?:INSERT\s+INTO|COPY)\s+[\"`]?moderation_auditevent\b", re.IGNORECASE
    ),
    "the trail's table by its model in SQL": re.compile(r"\bAuditEvent\s*\.\s*_meta\s*\.\s*db_table\b"),
}
# Reading the table name is not writing: the grants of the runtime role name the table.
ALLOWED = {
    ("backoffice/management/commands/grant_runtime_role.py", "the trail's table by its model in SQL"),
}


def project_sources() -> list[Path]:
    sources = []
    for path in sorted(ROOT.rglob("*.py")):
        parts = path.relative_to(ROOT).parts
        if any(part.startswith(".") or part in SKIPPED_DIRECTORIES or part.endswith(".egg-info") for part in parts):
            continue
        sources.append(path)
    return sources


def second_doors(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    relative = path.relative_to(ROOT).as_posix()
    found = []
    for name, pattern in SECOND_DOORS.items():
        if (relative, name) in ALLOWED:
            continue
        for match in pattern.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            found.append(f"{relative}:{line}: {name}: {match.group(0)!r}")
    return found


def test_every_audit_write_goes_through_the_door():
    sources = project_sources()
    assert DOOR in sources and len(sources) > 50, "the walk found the project's source"
    found = [hit for path in sources if path != DOOR for hit in second_doors(path)]
    assert not found, "audit rows written outside moderation/services/audit.py:\n" + "\n".join(found)


def test_the_patterns_catch_each_way_round_the_door(tmp_path):
    """The check itself: every form a second door took before it was closed is caught."""
    sample = tmp_path / "sample.py"
    sample.write_text(
        "\n".join(
            [
                "AuditEvent.objects.create(actor_name='x')",
                "AuditEvent.objects.bulk_create(AuditEvent(verb=1) for _ in rows)",
                "insert_rows(\n    AuditEvent,\n    rows,\n)",
                'cursor.execute("""\n    INSERT INTO moderation_auditevent\n    (occurred_at) SELECT 1""")',
                "class AuditEvent(models.Model):",
            ]
        ),
        encoding="utf-8",
    )
    text = sample.read_text(encoding="utf-8")
    caught = {name for name, pattern in SECOND_DOORS.items() if pattern.search(text)}
    assert caught == set(SECOND_DOORS) - {"the trail's table by its model in SQL"}
    assert len(SECOND_DOORS["an AuditEvent built by hand"].findall(text)) == 1  # not the class statement
    assert SECOND_DOORS["SQL into the trail's table"].search('insert into "moderation_auditevent" (id)')


def test_the_door_is_what_the_services_import():
    """``record_event``, ``record_events`` and the INSERT … SELECT form are all defined at the door."""
    tree = ast.parse(DOOR.read_text(encoding="utf-8"))
    defined = {node.name for node in tree.body if isinstance(node, ast.FunctionDef)}
    assert {"record_event", "record_events", "events_insert_sql", "record_events_from_select"} <= defined
