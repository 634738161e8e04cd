"""The back office in Simplified Chinese: a complete catalogue, compiled, and pages that use it.

The catalogue is read with a small PO parser of our own (no new dependency); the messages the
templates and the code mark for translation are found the way ``makemessages`` finds them
(Django's ``templatize`` for templates, the Python AST for code), so the tests need no gettext
binaries and catch a string added without its translation.
"""

from __future__ import annotations

import ast
import gettext as gnu_gettext
import io
import re
import tokenize
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import translation
from django.utils.translation.template import templatize

from moderation.forms import DashboardForm
from moderation.models import AuditEvent, AuditVerb, SanctionKind
from moderation.services.detection import create_detection_rule
from sellers.models import Merchant
from tests.moderation.conftest import announced_policy, draft_policy, open_item  # noqa: F401

ROOT = Path(__file__).resolve().parent.parent
CATALOGUE = ROOT / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"
COMPILED = CATALOGUE.with_suffix(".mo")
# Notices have their own template per language; none of these holds translatable markup.
SKIPPED_TEMPLATES = {"notices"}
CODE_DIRS = ["backoffice", "moderation", "sellers"]
# The gettext functions makemessages looks for, and where their msgid and context are.
MARKERS = {
    "_": (0, None),
    "gettext": (0, None),
    "gettext_lazy": (0, None),
    "gettext_noop": (0, None),
    "ngettext": (0, None),
    "ngettext_lazy": (0, None),
    "pgettext": (1, 0),
    "pgettext_lazy": (1, 0),
    "npgettext": (1, 0),
    "npgettext_lazy": (1, 0),
}


# --- reading the catalogue -------------------------------------------------------------------


def parse_po(text: str) -> list[dict]:
    """The entries of a PO file: ``{"flags", "obsolete", "msgctxt", "msgid", "msgid_plural", "msgstr": [...]}``."""
    entries = []
    for block in text.strip().split("\n\n"):
        entry = {"flags": set(), "obsolete": False, "msgctxt": None, "msgid_plural": None, "msgstr": []}
        field = None
        for line in block.splitlines():
            if line.startswith("#~"):
                entry["obsolete"] = True
            elif line.startswith("#,"):
                entry["flags"] |= {flag.strip() for flag in line[2:].split(",")}
            elif line.startswith("#"):
                continue
            elif line.startswith('"'):
                value = ast.literal_eval(line)
                if field.startswith("msgstr"):
                    entry["msgstr"][-1] += value
                else:
                    entry[field] += value
            else:
                field, _, literal = line.partition(" ")
                value = ast.literal_eval(literal)
                if field.startswith("msgstr"):
                    entry["msgstr"].append(value)
                else:
                    entry[field] = value
        entries.append(entry)
    return entries


@pytest.fixture(scope="module")
def catalogue() -> list[dict]:
    return parse_po(CATALOGUE.read_text(encoding="utf-8"))


def keys_of(entries) -> set[tuple[str | None, str]]:
    return {(entry["msgctxt"], entry["msgid"]) for entry in entries if entry.get("msgid")}


# --- finding the marked messages -------------------------------------------------------------


def marked_calls(source: str) -> set[tuple[str | None, str]]:
    """``(context, msgid)`` of every gettext-like call with literal arguments in Python-like source.

    Works on ``templatize`` output too, which is a stream of such calls among blanked-out text:
    it is tokenized, not parsed.
    """
    found = set()
    flat = "\n".join(line.lstrip() for line in source.splitlines())  # indentation means nothing here
    tokens = [
        token
        for token in tokenize.generate_tokens(io.StringIO(flat).readline)
        if token.type not in {tokenize.NL, tokenize.NEWLINE, tokenize.COMMENT, tokenize.INDENT, tokenize.DEDENT}
    ]
    for index, token in enumerate(tokens[:-2]):
        if token.type != tokenize.NAME or token.string not in MARKERS or tokens[index + 1].string != "(":
            continue
        if index and tokens[index - 1].string in {".", "def"}:
            continue  # a method or a definition of that name, not the call
        arguments = []
        previous_was_string = False
        for argument in tokens[index + 2 :]:
            if argument.type == tokenize.STRING and not argument.string.lstrip("rbRB").startswith(("f", "F")):
                if arguments and isinstance(arguments[-1], str) and previous_was_string:
                    arguments[-1] += ast.literal_eval(argument.string)  # implicit concatenation
                else:
                    arguments.append(ast.literal_eval(argument.string))
                previous_was_string = True
                continue
            previous_was_string = False
            if argument.string == ",":
                continue
            arguments.append(None)  # a variable, a call: the rest is not a literal message
            break
        message_at, context_at = MARKERS[token.string]
        if len(arguments) > message_at and isinstance(arguments[message_at], str):
            context = arguments[context_at] if context_at is not None else None
            if context_at is None or isinstance(context, str):
                found.add((context, arguments[message_at]))
    return found


def template_messages() -> dict[tuple[str | None, str], str]:
    messages = {}
    for path in sorted((ROOT / "templates").rglob("*.html")):
        relative = path.relative_to(ROOT / "templates")
        if relative.parts[0] in SKIPPED_TEMPLATES:
            continue
        for key in marked_calls(templatize(path.read_text(encoding="utf-8"), origin=str(path))):
            messages.setdefault(key, str(relative))
    return messages


def code_messages() -> dict[tuple[str | None, str], str]:
    messages = {}
    for directory in CODE_DIRS:
        for path in sorted((ROOT / directory).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            for key in marked_calls(path.read_text(encoding="utf-8")):
                messages.setdefault(key, str(path.relative_to(ROOT)))
    return messages


def test_the_finder_sees_what_makemessages_sees():
    source = templatize(
        '{% load i18n %}{% translate "Apply" %} {% translate "s" context "unit" %}'
        "{% blocktranslate count n=3 %}{{ n }} day{% plural %}{{ n }} days{% endblocktranslate %}"
        '{{ x|default:_("none") }}'
    )
    assert marked_calls(source) == {(None, "Apply"), ("unit", "s"), (None, "%(n)s day"), (None, "none")}
    code = 'x = _("a " "b")\ny = pgettext_lazy("ctx", "c")\nz = ngettext("one", "many", n)\nw = _(name)\n'
    assert marked_calls(code) == {(None, "a b"), ("ctx", "c"), (None, "one")}


# --- the catalogue ---------------------------------------------------------------------------


def test_every_message_in_the_catalogue_is_translated(catalogue):
    untranslated = [entry["msgid"] for entry in catalogue[1:] if not entry["obsolete"] and not all(entry["msgstr"])]
    assert untranslated == []
    assert catalogue[0]["msgid"] == ""  # the header


def test_the_catalogue_has_no_fuzzy_or_obsolete_entry(catalogue):
    assert [entry["msgid"] for entry in catalogue if "fuzzy" in entry["flags"]] == []
    assert [entry for entry in catalogue if entry["obsolete"]] == []


def test_plural_entries_have_the_one_form_chinese_needs(catalogue):
    header = catalogue[0]["msgstr"][0]
    assert "Plural-Forms: nplurals=1; plural=0;" in header
    assert "Language: zh_Hans" in header
    for entry in catalogue[1:]:
        if entry["msgid_plural"]:
            assert len(entry["msgstr"]) == 1, entry["msgid"]


def test_every_message_in_the_templates_is_in_the_catalogue(catalogue):
    missing = {key: where for key, where in template_messages().items() if key not in keys_of(catalogue)}
    assert missing == {}, "run makemessages -l zh_Hans and translate the new entries"


def test_every_message_marked_in_the_code_is_in_the_catalogue(catalogue):
    missing = {key: where for key, where in code_messages().items() if key not in keys_of(catalogue)}
    assert missing == {}, "run makemessages -l zh_Hans and translate the new entries"


def test_the_compiled_catalogue_matches_the_catalogue(catalogue):
    """The .mo is committed (a fresh machine needs no gettext): it must say what the .po says."""
    with COMPILED.open("rb") as compiled:
        messages = gnu_gettext.GNUTranslations(compiled)._catalog
    for entry in catalogue[1:]:
        key = entry["msgid"] if entry["msgctxt"] is None else f"{entry['msgctxt']}\x04{entry['msgid']}"
        if entry["msgid_plural"]:
            assert messages.get((key, 0)) == entry["msgstr"][0], entry["msgid"]
        else:
            assert messages.get(key) == entry["msgstr"][0], entry["msgid"]


def test_translations_keep_their_placeholders(catalogue):
    placeholder = re.compile(r"%\(\w+\)[sd]|\{\w+\}|<[^>]+>")
    for entry in catalogue[1:]:
        expected = sorted(placeholder.findall(entry["msgid_plural"] or entry["msgid"]))
        for translated in entry["msgstr"]:
            assert sorted(placeholder.findall(translated)) == expected, entry["msgid"]


# --- the code speaks Chinese ---------------------------------------------------------------


def test_labels_and_form_errors_follow_the_active_language():
    with translation.override("zh-hans"):
        assert str(SanctionKind.STORE_BLOCK.label) == "店铺已封禁"
        assert str(Merchant.EnforcementStatus.ACTIVE.label) == "正常"
        assert str(AuditVerb.LISTING_TAKEN_DOWN.label) == "下架商品"
        form = DashboardForm({"since": "2021-10-10", "until": "2021-10-01"})
        assert not form.is_valid()
        assert form.errors["until"] == ["时段的结束日期必须晚于开始日期。"]
    assert str(SanctionKind.STORE_BLOCK.label) == "Store blocked"


def test_the_audit_trail_names_its_target_in_english_whoever_reads_chinese(announced_policy, policy_admin):  # noqa: F811
    with translation.override("zh-hans"):
        rule = create_detection_rule(
            actor=policy_admin, policy=announced_policy, kind="keyword", pattern="hashboard", weight=3
        )
    event = AuditEvent.objects.filter(verb=AuditVerb.DETECTION_RULE_CHANGED, target_id=rule.pk).latest("id")
    assert event.target_repr.startswith("keyword “hashboard”")


# --- pages ------------------------------------------------------------------------------------


@pytest.fixture
def chinese(client, moderator):
    """A moderator whose browser asks for Simplified Chinese (no language saved in the profile)."""
    client.force_login(moderator)
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "zh-CN,zh;q=0.9,en;q=0.5"
    return client


def test_the_queue_reads_in_chinese(chinese, announced_policy, open_item, make_listing, merchant_a, miners):  # noqa: F811
    open_item(make_listing(merchant_a, miners, title="Antminer S19 矿机"))
    page = chinese.get(reverse("backoffice:queue")).content.decode()
    assert '<html lang="zh-hans">' in page
    assert "<h1>审核队列</h1>" in page
    assert "领取下一条" in page and "筛选" in page
    assert "Antminer S19 矿机" in page  # data stays as written
    assert "Review queue" not in page


def test_the_dashboard_reads_in_chinese(chinese, announced_policy):  # noqa: F811
    page = chinese.get(reverse("backoffice:home")).content.decode()
    assert "<h1>处置看板</h1>" in page
    assert "每日违规扣分" in page and "商品目录" in page
    assert "Enforcement dashboard" not in page


def test_the_same_pages_stay_in_english_for_an_english_browser(client, moderator, announced_policy):  # noqa: F811
    client.force_login(moderator)
    page = client.get(reverse("backoffice:queue"), headers={"accept-language": "en-GB,en;q=0.8"}).content.decode()
    assert '<html lang="en">' in page
    assert "<h1>Review queue</h1>" in page
