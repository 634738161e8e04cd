"""The migrations match the models, and the data they carry is there."""

from __future__ import annotations

from io import StringIO

from django.contrib.auth.models import Group
from django.core.management import call_command

from backoffice.roles import Role


def test_the_models_have_no_changes_missing_a_migration(db):
    output = StringIO()
    # --check exits with status 1 (SystemExit) when a migration is missing.
    call_command("makemigrations", "--check", "--dry-run", stdout=output, stderr=output)
    assert "No changes detected" in output.getvalue()


def test_the_role_groups_exist(db):
    assert set(Group.objects.values_list("name", flat=True)) >= {role.value for role in Role}
    assert {role.value for role in Role} == {"moderator", "senior moderator", "policy admin"}


def test_the_roles_carry_the_permissions_of_their_work(db):
    from django.contrib.auth.models import Group

    def codenames(name):
        return set(Group.objects.get(name=name).permissions.values_list("codename", flat=True))

    assert {"view_reviewitem", "change_reviewitem", "add_violation"} <= codenames("moderator")
    assert {"view_reviewitem", "change_reviewitem"} <= codenames("senior moderator")
    assert {"add_policy", "change_policy", "add_categoryremoval", "add_detectionrule"} <= codenames("policy admin")
    assert "add_policy" not in codenames("moderator")
    assert not {"delete_auditevent", "change_auditevent", "delete_notice"} & (
        codenames("moderator") | codenames("senior moderator") | codenames("policy admin")
    )
