"""The detection rules' pages: policy admins edit, moderators read and try the test box."""

from __future__ import annotations

import pytest
from django.urls import reverse

from moderation.models import AuditEvent, AuditVerb, DetectionRule


@pytest.fixture
def admin_client(client, policy_admin):
    client.force_login(policy_admin)
    return client


def test_a_moderator_reads_the_rules_and_tries_the_test_box(client, moderator, announced_policy, mining_rules):
    client.force_login(moderator)
    response = client.get(
        reverse("backoffice:rule-index", args=[announced_policy.pk]), {"text": "Ａｎｔｍｉｎｅｒ S19"}
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "would be queued for review" in html
    assert "<mark" in html
    assert "New rule" not in html  # editing is for policy admins


@pytest.mark.parametrize("name", ["rule-create", "rule-toggle"])
def test_a_moderator_cannot_change_rules(client, moderator, announced_policy, mining_rules, name):
    client.force_login(moderator)
    args = [announced_policy.pk] if name == "rule-create" else [announced_policy.pk, mining_rules[0].pk]
    assert client.post(reverse(f"backoffice:{name}", args=args)).status_code == 403
    assert DetectionRule.objects.filter(is_active=True).count() == len(mining_rules)


def test_an_anonymous_user_is_sent_to_sign_in(client, announced_policy):
    response = client.get(reverse("backoffice:rule-index", args=[announced_policy.pk]))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_a_policy_admin_adds_a_rule_through_the_form(admin_client, announced_policy):
    response = admin_client.post(
        reverse("backoffice:rule-create", args=[announced_policy.pk]),
        {
            "kind": "phrase",
            "clause": "1",
            "pattern": "mining rig",
            "weight": "8",
            "fields": ["title", "description"],
            "exclusions": "oil mining rig\n\n gold mining rig ",
            "note": "Frames for GPUs.",
            "is_active": "on",
        },
    )
    assert response.status_code == 302
    rule = DetectionRule.objects.get(pattern="mining rig")
    assert (rule.kind, rule.weight, rule.fields) == ("phrase", 8, ["title", "description"])
    assert rule.exclusions == ["oil mining rig", "gold mining rig"]
    assert AuditEvent.objects.filter(verb=AuditVerb.DETECTION_RULE_CHANGED, target_id=rule.pk).exists()


def test_a_bad_regex_gets_a_field_error_and_nothing_is_saved(admin_client, announced_policy):
    response = admin_client.post(
        reverse("backoffice:rule-create", args=[announced_policy.pk]),
        {"kind": "regex", "pattern": "(unclosed", "label": "X", "clause": "1", "weight": "5", "fields": ["title"]},
    )
    assert response.status_code == 200
    assert 'data-field="pattern"' in response.content.decode()
    assert not DetectionRule.objects.exists()


def test_a_policy_admin_edits_and_disables_a_rule(admin_client, announced_policy, mining_rules):
    rule = mining_rules[0]
    response = admin_client.post(
        reverse("backoffice:rule-edit", args=[announced_policy.pk, rule.pk]),
        {
            "kind": rule.kind,
            "pattern": rule.pattern,
            "clause": "1",
            "weight": "3",
            "fields": ["title"],
            "is_active": "on",
        },
    )
    assert response.status_code == 302
    rule.refresh_from_db()
    assert (rule.weight, rule.fields) == (3, ["title"])

    admin_client.post(reverse("backoffice:rule-toggle", args=[announced_policy.pk, rule.pk]))
    rule.refresh_from_db()
    assert rule.is_active is False
    assert AuditEvent.objects.filter(verb=AuditVerb.DETECTION_RULE_CHANGED, target_id=rule.pk).count() == 3


def test_another_policys_rule_is_not_found_under_this_policy(
    admin_client, announced_policy, mining_rules, draft_policy
):
    from moderation.services.policies import new_policy_version

    other = new_policy_version(actor=announced_policy.created_by or mining_rules[0].created_by, policy=announced_policy)
    url = reverse("backoffice:rule-edit", args=[other.pk, mining_rules[0].pk])
    assert admin_client.get(url).status_code == 404


def test_a_rule_must_cite_a_clause_of_its_policy(admin_client, announced_policy):
    response = admin_client.post(
        reverse("backoffice:rule-create", args=[announced_policy.pk]),
        {"kind": "keyword", "pattern": "bitmain", "weight": "10", "fields": ["title"]},
    )
    assert response.status_code == 200
    assert response.context["form"].errors["clause"]
    assert not DetectionRule.objects.exists()
