"""Input hygiene: text of only invisible characters is refused where text is required, what we e-mail
is neutralised, and the hostile inputs that once were server errors are answered as the user's mistake.
"""

from __future__ import annotations

from decimal import Decimal
from urllib.parse import urlencode

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.urls import reverse

from backoffice.text import (
    INVISIBLE_ONLY_MESSAGE,
    SUBJECT_MAX_LENGTH,
    email_subject,
    has_visible_text,
    neutralise_text,
    one_line,
)
from moderation import forms as moderation_forms
from moderation.models import Appeal, Notice, ReviewItem, Violation
from moderation.services import notices as notice_services
from moderation.services.appeals import file_appeal
from moderation.services.queue import take_down_listing
from sellers import services as catalog
from sellers.models import Listing
from tests.api.conftest import decisions_of, token_client  # noqa: F401
from tests.moderation.conftest import (  # noqa: F401
    draft_policy,
    mining_rules,
    open_item,
    travel,
)
from tests.moderation.sanctions_fixtures import announced_policy, take_down  # noqa: F401

INVISIBLE = "\u200b" * 25  # what the appeal was filed with: 25 zero-width spaces
MESSAGE = str(INVISIBLE_ONLY_MESSAGE)
HOSTILE_TITLE = "RTX 3080\r\nBcc: x@evil.example \u202egnp.exe"

# Each of these shows nothing to a reader, and passes str.strip().
INVISIBLE_TEXTS = [
    INVISIBLE,
    "\u200c\u200d\u2060\ufeff",  # joiners, word joiner, byte-order mark
    "\u202e\u202a\u2066\u2069",  # bidi overrides and isolates
    "\u00ad\u180e\u034f\ufe0f",  # soft hyphen, Mongolian vowel separator, grapheme joiner, variation selector
    "\u3164\u115f\u2800",  # Hangul fillers, braille blank
    "\u0301\u0308",  # combining marks with nothing to sit on
    "\u00a0\u2003\u3000\u200b",  # spaces of other widths, and a zero-width one
]


# --- the one test of visible text ------------------------------------------------------------------


@pytest.mark.parametrize("text", INVISIBLE_TEXTS)
def test_text_of_only_invisible_characters_has_no_visible_text(text):
    assert text.strip() != ""  # what the length and required checks saw
    assert not has_visible_text(text)


@pytest.mark.parametrize("text", ["a", "\u200b" * 30 + "a", "比特币", "e\u0301", "👍", "١٢", "\u202eabc"])
def test_text_with_one_character_a_reader_sees_has_visible_text(text):
    assert has_visible_text(text)


# --- appeal grounds --------------------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.parametrize("grounds", INVISIBLE_TEXTS)
def test_an_appeal_with_invisible_grounds_is_refused_on_the_field_and_nothing_is_filed(
    grounds,
    decisions_of,  # noqa: F811
    merchant_a,
    merchant_user_a,
):
    (mine,) = decisions_of(merchant_a)
    response = token_client(merchant_user_a).post(
        "/api/v1/appeals/", {"decision": mine.keys[1], "grounds": grounds * 20}, format="json"
    )

    assert response.status_code == 400, response.content
    assert response.json() == {"grounds": [MESSAGE]}
    assert not Appeal.objects.exists()


@pytest.mark.postgres
def test_the_appeal_service_refuses_invisible_grounds_and_plans_itself(
    decisions_of,  # noqa: F811
    merchant_a,
    merchant_user_a,
):
    (mine,) = decisions_of(merchant_a)
    with pytest.raises(ValidationError) as refused:
        file_appeal(
            actor=merchant_user_a,
            merchant=merchant_a,
            kind="sanction",
            object_id=mine.sanction.pk,
            grounds=INVISIBLE,
            plan_root_cause="\u2060" * 30,
        )

    assert refused.value.message_dict == {"grounds": [MESSAGE], "plan_root_cause": [MESSAGE]}
    assert not Appeal.objects.exists()


# --- moderators' reasons -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("form_class", "field", "data"),
    [
        (moderation_forms.DismissForm, "reason", {}),
        (moderation_forms.EscalateForm, "note", {}),
        (moderation_forms.NoteForm, "text", {}),
        (moderation_forms.AppealDecisionForm, "reason", {}),
        (moderation_forms.LiftSanctionForm, "reason", {}),
        (moderation_forms.CancelRemovalForm, "reason", {"confirm": "on"}),
        (moderation_forms.ReasonForm, "reason", {}),
        (moderation_forms.BulkDecisionForm, "reason", {"decision": "dismissed"}),
    ],
)
@pytest.mark.parametrize("text", [INVISIBLE_TEXTS[0], INVISIBLE_TEXTS[2], INVISIBLE_TEXTS[4]])
def test_a_reason_of_only_invisible_characters_is_refused_on_its_field(db, form_class, field, data, text):
    form = form_class({**data, field: text * 10})  # longer than any minimum: only one thing is wrong

    assert not form.is_valid()
    assert form.errors[field] == [MESSAGE]


def test_every_text_field_of_every_back_office_form_refuses_invisible_text(db, announced_policy, merchant_a):  # noqa: F811
    extra = {
        moderation_forms.TakeDownForm: {"policy": announced_policy},
        moderation_forms.DetectionRuleForm: {"policy": announced_policy},
        moderation_forms.SanctionForm: {"merchant": merchant_a},
    }
    checked = []
    for form_class in vars(moderation_forms).values():
        if not (isinstance(form_class, type) and issubclass(form_class, moderation_forms.forms.BaseForm)):
            continue
        if form_class.__module__ != moderation_forms.__name__ or form_class is moderation_forms.ClauseForm:
            continue
        text_fields = [
            name
            for name, field in form_class.base_fields.items()
            if isinstance(field, moderation_forms.forms.CharField)
        ]
        for name in text_fields:
            form = form_class({name: INVISIBLE}, **extra.get(form_class, {}))
            assert not form.is_valid()
            assert MESSAGE in form.errors.get(name, []), (form_class.__name__, name, form.errors)
            checked.append(f"{form_class.__name__}.{name}")
    assert {"TakeDownForm.reason", "DismissForm.reason", "EscalateForm.note", "RemovalForm.override_reason"} <= set(
        checked
    )
    assert {"AppealDecisionForm.reason", "CancelRemovalForm.reason", "SanctionForm.reason"} <= set(checked)


@pytest.mark.postgres
def test_a_dismissal_with_an_invisible_reason_is_refused_and_the_item_stays_open(
    client,
    moderator,
    open_item,  # noqa: F811
    make_listing,
    merchant_a,
    miners,  # noqa: F811
):
    item = open_item(make_listing(merchant_a, miners))
    client.force_login(moderator)

    response = client.post(reverse("backoffice:queue-item-action", args=[item.pk, "dismiss"]), {"reason": INVISIBLE})

    assert response.status_code == 400
    assert MESSAGE in response.context["dismiss_form"].errors["reason"]
    item.refresh_from_db()
    assert item.status == ReviewItem.Status.OPEN


@pytest.mark.postgres
def test_a_take_down_note_of_only_invisible_characters_is_refused_and_nothing_is_taken_down(
    client,
    moderator,
    open_item,  # noqa: F811
    make_listing,
    merchant_a,
    miners,  # noqa: F811
):
    item = open_item(make_listing(merchant_a, miners))
    client.force_login(moderator)
    clause = item.policy.clauses.get(number=1)

    response = client.post(
        reverse("backoffice:queue-item-action", args=[item.pk, "take-down"]),
        {"clause": clause.pk, "kind": "prohibited_listing", "reason": "\u2066\u2069" * 5},
    )

    assert response.status_code == 400
    assert MESSAGE in response.context["take_down_form"].errors["reason"]
    assert not Violation.objects.exists()


# --- listing titles ----------------------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.parametrize("title", INVISIBLE_TEXTS)
def test_a_listing_titled_with_invisible_characters_only_is_refused_on_the_title(
    title, merchant_a, merchant_user_a, graphics_cards
):
    response = token_client(merchant_user_a).post(
        "/api/v1/listings/", {"title": title, "price": "499.00", "category": graphics_cards.slug}, format="json"
    )

    assert response.status_code == 400, response.content
    assert response.json() == {"title": ["The title cannot be only invisible characters."]}
    assert not Listing.objects.exists()


def test_the_catalog_service_refuses_an_invisible_title_and_an_invisible_attribute_name(
    db, system, merchant_a, graphics_cards
):
    with pytest.raises(ValidationError) as refused:
        catalog.create_listing(
            actor=system,
            merchant=merchant_a,
            category=graphics_cards,
            title="\ufeff\u200d",
            price=Decimal("1.00"),
            attributes={"\u200b": "black"},
        )

    assert refused.value.message_dict == {
        "title": ["The title cannot be only invisible characters."],
        "attributes": ["Attribute name 1 cannot be only invisible characters."],
    }


# --- what we e-mail ------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", [HOSTILE_TITLE, "a\u2028b\u2029c\x85d\x0be\x0cf", "tab\there\x00\x1b[31m"])
def test_a_subject_is_one_line_without_control_or_bidi_characters(text):
    subject = email_subject(text)

    assert subject.splitlines() == [subject]
    assert not any(character in subject for character in "\r\n\u2028\u2029\x85\x0b\x0c\x00\x1b\u202e\t")
    assert subject == subject.strip() and "  " not in subject


def test_a_subject_is_cut_at_its_length_with_an_ellipsis():
    subject = email_subject("word " * 100)

    assert len(subject) == SUBJECT_MAX_LENGTH
    assert subject.endswith("…")


def test_a_body_keeps_its_lines_and_tabs_and_loses_control_and_bidi_characters():
    body = neutralise_text("Dear merchant,\r\n\tyour listing “\u202egnp.exe\u202c” \x1b[2J(#12)\u2028was removed.\n")

    assert body == "Dear merchant,\n\tyour listing “gnp.exe” [2J(#12)\nwas removed.\n"
    assert one_line("a\r\n\r\nb") == "a b"


@pytest.mark.postgres
@pytest.mark.parametrize("merchant_name", ["merchant_a", "merchant_b"], ids=["zh-hans", "en"])
def test_a_hostile_title_neither_cuts_the_subject_nor_reorders_the_notice(
    request,
    merchant_name,
    moderator,
    open_item,  # noqa: F811
    make_listing,
    miners,
    django_capture_on_commit_callbacks,  # noqa: F811
):
    merchant = request.getfixturevalue(merchant_name)
    listing = make_listing(merchant, miners, title=HOSTILE_TITLE)
    item = open_item(listing)

    with django_capture_on_commit_callbacks(execute=True):
        take_down_listing(actor=moderator, item=item)

    notice = Notice.objects.get(merchant=merchant, kind=Notice.Kind.LISTING_TAKEN_DOWN)
    (message,) = [message for message in mail.outbox if message.extra_headers["X-Notice-Id"] == notice.puid]
    assert "\n" not in notice.subject and "\r" not in notice.subject
    assert "Bcc: x@evil.example gnp.exe" in notice.subject  # the title, on the subject's line
    for text in (notice.subject, notice.body):
        assert "\u202e" not in text and "\r" not in text
    assert "RTX 3080\nBcc: x@evil.example gnp.exe" in notice.body  # the body keeps the title's line break

    assert message.subject == notice.subject and message.body == notice.body
    assert message.bcc == [] and message.to == [merchant.contact_email]
    sent = message.message()
    assert sent["Bcc"] is None
    assert "\n" not in str(sent["Subject"]).replace("\n ", "")  # folded, never broken
    assert "\u202e" not in sent.as_string()


def test_every_notice_template_has_its_subject_on_its_first_line():
    from pathlib import Path

    from django.conf import settings

    templates = sorted(Path(settings.BASE_DIR, "templates", "notices").glob("*/*.txt"))
    assert len(templates) >= 22
    for template in templates:
        first = template.read_text().splitlines()[0]
        assert "Subject:" in first, template


@pytest.mark.postgres
def test_a_notice_stored_before_the_neutralising_is_neutralised_when_it_is_sent(merchant_b):
    # As a notice rendered before subjects were kept on one line could be stored.
    Notice.objects.create(
        merchant=merchant_b,
        kind=Notice.Kind.WARNING,
        subject="Formal warning: “RTX\r\nBcc: x@evil.example”",
        body="Your listing “\u202egnp.exe” was removed.\n",
        puid="notice-stored-before",
        dedupe_key="stored-before",
    )

    assert notice_services.send_pending_notices() == 1
    (message,) = mail.outbox
    assert message.subject == "Formal warning: “RTX Bcc: x@evil.example”"
    assert message.body == "Your listing “gnp.exe” was removed.\n"
    assert message.message()["Bcc"] is None


# --- the server errors of the probe, now the user's mistake -----------------------------------------


@pytest.mark.postgres
def test_the_rules_test_box_answers_a_text_that_matches_nothing(client, policy_admin, moderator, announced_policy):  # noqa: F811
    for user in (policy_admin, moderator):
        client.force_login(user)
        response = client.get(reverse("backoffice:rule-index", args=[announced_policy.pk]), {"text": "hello world"})
        assert response.status_code == 200
        assert b'id="test-highlight">hello world</p>' in response.content


@pytest.mark.postgres
@pytest.mark.parametrize(
    "body",
    [
        '{"title": "RTX", "price": "1", "category": %s}' % ("[" * 700 + "]" * 700),
        '{"title": "RTX", "price": "1", "category": "graphics-cards", "attributes": {"\\ud800": "x"}}',
        '{"title": "RTX", "price": "1", "category": "graphics-cards", "attributes": {"a": %s}}'
        % ("[" * 900 + "]" * 900),
        '{"title": "RTX", "price": "1", "category": "\\ud800"}',
    ],
    ids=[
        "category-nested-700-deep",
        "attribute-name-lone-surrogate",
        "attributes-nested-900-deep",
        "category-surrogate",
    ],
)
def test_a_hostile_listing_is_refused_on_its_field_not_a_server_error(
    body, merchant_a, merchant_user_a, graphics_cards, make_listing
):
    listing = make_listing(merchant_a, graphics_cards, title="RTX 3080")
    client = token_client(merchant_user_a)
    client.raise_request_exception = False
    for method, url in ((client.post, "/api/v1/listings/"), (client.patch, f"/api/v1/listings/{listing.pk}/")):
        response = method(url, body, content_type="application/json")
        assert response.status_code == 400, response.content
        assert set(response.json()) <= {"category", "attributes"}
    assert Listing.objects.get() == listing


@pytest.mark.postgres
def test_a_form_posted_listing_with_attributes_nested_too_deep_is_refused(merchant_a, merchant_user_a, graphics_cards):
    client = token_client(merchant_user_a)
    client.raise_request_exception = False
    form = {
        "title": "RTX",
        "price": "1",
        "category": graphics_cards.slug,
        "attributes": '{"a": %s}' % ("[" * 900 + "]" * 900),
    }
    for response in (
        client.post("/api/v1/listings/", form, format="multipart"),
        client.post("/api/v1/listings/", urlencode(form), content_type="application/x-www-form-urlencoded"),
    ):
        assert response.status_code == 400
        assert set(response.json()) == {"attributes"}
    assert not Listing.objects.exists()


@pytest.mark.postgres
@pytest.mark.parametrize(
    "query",
    [
        {"until": "0001-01-01"},
        {"since": "9999-12-31"},
        {"since": "0001-01-01", "until": "0001-01-02"},
    ],
)
def test_the_dashboard_refuses_a_day_at_the_end_of_the_calendar_on_its_field(
    client,
    policy_admin,
    announced_policy,  # noqa: F811
    query,
):
    client.force_login(policy_admin)
    response = client.get(reverse("backoffice:home"), query)

    assert response.status_code == 200
    errors = response.context["form"].errors
    assert set(errors) == set(query)
    assert errors[next(iter(query))] == ["Choose a date from 2000-01-01 to 2999-12-31."]


@pytest.mark.postgres
def test_a_policy_posted_with_thousands_of_clauses_is_refused_without_building_them(client, policy_admin, marketplace):
    client.force_login(policy_admin)
    response = client.post(
        reverse("backoffice:policy-create"),
        {"clauses-TOTAL_FORMS": "100000", "clauses-INITIAL_FORMS": "0", "slug": "x", "title": "x"},
    )

    assert response.status_code == 200
    assert len(response.context["formset"].forms) <= moderation_forms.CLAUSES_MAX
    assert response.context["formset"].non_form_errors()


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("path", "query", "field"),
    [
        ("/api/v1/notices/", {"policy": "1.5"}, "policy"),
        ("/api/v1/decisions/", {"policy": "1e3"}, "policy"),
        ("/api/v1/notices/", {"restricts": "maybe"}, "restricts"),
        ("/api/v1/sanctions/", {"created_before": ""}, "created_before"),
        ("/api/v1/appeals/", {"kind": ""}, "kind"),
        ("/api/v1/listings/", {"ordering": ","}, "ordering"),
        ("/api/v1/listings/", {"page": ""}, "page"),
        ("/api/v1/appeals/", "policy=1&policy=2", "policy"),
        ("/api/v1/notices/", "page=1&page=2", "page"),
    ],
)
def test_a_list_refuses_a_parameter_its_schema_does_not_describe_on_the_parameter(
    merchant_a, merchant_user_a, path, query, field
):
    client = token_client(merchant_user_a)
    response = client.get(f"{path}?{query}") if isinstance(query, str) else client.get(path, query)

    assert response.status_code == 400, response.content
    assert set(response.json()) == {field}


@pytest.mark.postgres
@pytest.mark.parametrize(
    "query",
    [
        {"policy": "99999999999999999999999999"},
        {"policy": "-" + "9" * 5000},
        {"created_after": "0001-01-01T00:00:00+01:00"},
        {"created_before": "9999-12-31T23:59:59-01:00"},
        {"category": "graphics\x00cards"},
        {"category": ""},
        {"restricts": "false"},
    ],
)
def test_a_list_answers_every_value_its_schema_allows(merchant_a, merchant_user_a, query):
    path = "/api/v1/listings/" if "category" in query else "/api/v1/notices/"
    response = token_client(merchant_user_a).get(path, query)

    assert response.status_code == 200, response.content
