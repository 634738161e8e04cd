"""Notices: render the statement of reasons in the merchant's language, store it, e-mail it.

Notices are written in bulk (a removal may notify tens of thousands of merchants) and
de-duplicated on ``dedupe_key``, so a task delivered twice writes each notice once. The
e-mail goes out from a task queued after commit; a beat sweep picks up anything left.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.mail import EmailMessage, get_connection
from django.db import connection, models, transaction
from django.db.models import F, prefetch_related_objects
from django.template.base import FilterExpression, TextNode, Variable, VariableDoesNotExist, VariableNode
from django.template.context import make_context
from django.template.defaulttags import AutoEscapeControlNode, ForNode, IfNode, TemplateLiteral
from django.template.loader import get_template
from django.template.smartif import TokenBase
from django.utils import timezone, translation
from django.utils.safestring import SafeString

from backoffice.text import email_subject, neutralise_text, one_line
from moderation.models import AuditEvent, AuditVerb, Notice, Policy, PolicyClause
from moderation.services.audit import SystemActor, actor_label
from sellers.models import Merchant

# 1,000 notices are about 2 MB of rendered text in memory at once.
NOTICE_BATCH_SIZE = 1000
EMAIL_BATCH_SIZE = 200
# Longer than a task may live (hard time limit): a claim never lapses while its worker sends.
EMAIL_LEASE = timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 60)
# Each notice is marked sent as soon as the mail server took it: a worker killed mid-batch
# e-mails again, once its lease lapses, only the one message it sent and had not marked yet
# (marking every 20 re-sent up to 19: the chaos tests saw it). One UPDATE per message is
# well under an SMTP round trip.
MARK_SENT_EVERY = 1
EMAIL_MAX_ATTEMPTS = 5
EMAIL_RETRY_BASE = timedelta(minutes=1)
NOTICE_ACTOR = SystemActor("notices")


@dataclass
class NoticeDraft:
    """What a service wants to tell one merchant; ``create_notices`` renders and stores it."""

    merchant_id: int
    kind: str
    dedupe_key: str
    policy: Policy | None = None
    clause: PolicyClause | None = None
    context: dict[str, Any] = field(default_factory=dict)
    restricts: bool = False
    appeal_deadline: datetime | None = None
    transparency: dict[str, Any] = field(default_factory=dict)


def _notice_context(merchant: Merchant, draft: NoticeDraft, zone) -> dict[str, Any]:
    policy = draft.policy
    return {
        "merchant": merchant,
        "policy": policy,
        "clause": draft.clause,
        "appeal_deadline": draft.appeal_deadline.astimezone(zone) if draft.appeal_deadline else None,
        "effective_at": policy.local(policy.effective_at) if policy else None,
        "enforcement_starts_at": policy.local(policy.enforcement_starts_at) if policy else None,
        "announced_at": policy.local(policy.announced_at) if policy else None,
        "timezone": str(zone),
        **draft.context,
    }


def _split(text: str) -> tuple[str, str]:
    """Subject and body of a rendered notice, as they may be stored and e-mailed (``backoffice.text``).

    The subject is the first line: one line of at most SUBJECT_MAX_LENGTH characters. Control
    characters and bidi overrides, which a merchant can put in a listing's title or a store's
    name to make a notice read otherwise than it says, leave both.
    """
    subject, _, body = text.strip().partition("\n")
    return email_subject(subject.removeprefix("Subject:")), neutralise_text(body).strip() + "\n"


# --- The subject line --------------------------------------------------------------------------------
#
# A notice template's first line is its subject. A value printed there may hold a line break (a
# listing's title may: the limits allow them in texts), which would end the subject in the middle
# of the value and start the body with the rest of it ("\r\nBcc: x@evil.example" in a title). So
# each value printed on that line is put on one line before it is printed: the text around it, which
# is ours, decides where the subject ends.


def _printed_on_one_line(value):
    """A filter for the values of the subject line: text on one line, dates and numbers as they are."""
    if value is None or isinstance(value, int | float | Decimal | date | datetime | time):
        return value  # printed by the template's own localisation, which writes no line break
    return one_line(str(value))


_printed_on_one_line.is_safe = True  # it only takes characters out


def _subject_kept_on_its_line(template):
    """``template``, every value printed on its first line passed through ``_printed_on_one_line``.

    The compiled template is the cached one, changed once: its nodes remember their line.
    """
    base = getattr(template, "template", template)  # the backend's wrapper, or a base Template
    if getattr(base, "subject_on_one_line", False):
        return template
    for node in base.nodelist.get_nodes_by_type(VariableNode):
        token = getattr(node, "token", None)
        filters = node.filter_expression.filters
        if token is not None and token.lineno == 1 and (_printed_on_one_line, []) not in filters:
            filters.append((_printed_on_one_line, []))
    base.subject_on_one_line = True
    return template


def render_notice(*, merchant: Merchant, draft: NoticeDraft) -> tuple[str, str]:
    """Subject and body from ``templates/notices/<language>/<kind>.txt``."""
    return render_notices([(merchant, draft)])[0]


def render_notices(pairs: list[tuple[Merchant, NoticeDraft]]) -> list[tuple[str, str]]:
    """Render many notices: language, timezone and template are set up once per group.

    Dates print in the policy's timezone, the one its dates are meant in. Switching the
    active language and timezone per notice cost more than the rendering itself; a group
    of notices is rendered as one ``TemplateBatch`` (what they share is rendered once).
    """
    results: list[tuple[str, str] | None] = [None] * len(pairs)
    groups: dict[tuple[str, str, str], list[int]] = {}
    for index, (merchant, draft) in enumerate(pairs):
        zone = draft.policy.timezone if draft.policy else "UTC"
        groups.setdefault((merchant.language, draft.kind, zone), []).append(index)
    for (language, kind, zone_name), indexes in groups.items():
        zone = ZoneInfo(zone_name)
        with translation.override(language), timezone.override(zone):
            template = _subject_kept_on_its_line(get_template(f"notices/{language}/{kind}.txt"))
            contexts = [_notice_context(*pairs[index], zone) for index in indexes]
            for index, text in zip(indexes, TemplateBatch(template).render(contexts), strict=True):
                results[index] = _split(text)
    return results


# --- Rendering a batch of notices from one template ----------------------------------------------
#
# A sweep writes thousands of notices from one template that differ in a few places (the
# store's name, the sanction's number, the violations listed) and agree on the rest (the
# measure, its dates, the ground, the ladder). Django renders a notice in about 2 ms,
# most of it resolving variables and formatting dates that every notice shares. So a
# batch is rendered in two layers: per *shape* (the values of the variables that few
# notices differ in), the template once, leaving holes where the other variables are
# read; per notice, only the nodes in the holes. The text is what ``template.render``
# gives, by construction:
#
# - a node is rendered once per shape only if every variable it reads (found by walking
#   its compiled nodes) is part of the shape; anything the walk does not understand (a
#   tag other than if/for/autoescape, an unknown condition) is rendered per notice;
# - values are compared by type and value for scalars, and by identity for anything
#   else (model instances, dicts), so two notices share a shape only when the template
#   reads the very same things from them;
# - an ``{% if %}`` whose condition differs between notices is decided per notice, and
#   the branch it takes is compiled the same way. (A ``{% for %}`` over what differs, the
#   violations listed, is rendered whole per notice: compiling its body per kind of line
#   saved no time, reading each line's kind cost what rendering it did.)
# - which variables make the shape is decided from a sample of the batch: those whose
#   values repeat enough that the number of shapes stays small. A wrong guess costs
#   time, never text: a shape the sample did not foresee is compiled when it comes.

_UNDECIDED = object()
_SCALARS = frozenset({str, int, bool, float, Decimal, date, datetime, timedelta, type(None), SafeString})
# One shape per this many notices at most: more shapes would render most of the template per notice anyway.
NOTICES_PER_SHAPE = 8
# How many notices of a batch are looked at to find what they share.
SHAPE_SAMPLE = 64


def _expression_paths(expression) -> frozenset[str] | None:
    """The variables (dotted paths) a ``{{ }}`` expression or an ``{% if %}`` condition reads; None if unknown."""
    if expression is None:
        return frozenset()
    if isinstance(expression, FilterExpression):
        variables = [expression.var, *(arg for _, args in expression.filters for lookup, arg in args if lookup)]
        return frozenset(v.var for v in variables if isinstance(v, Variable) and v.lookups is not None)
    if isinstance(expression, TemplateLiteral):
        return _expression_paths(expression.value)
    if isinstance(expression, TokenBase) and expression.first is not None:  # and, or, not, ==, in, …
        first, second = _expression_paths(expression.first), _expression_paths(expression.second)
        return None if first is None or second is None else first | second
    return None


def _fingerprint(value, alive: list):
    """What a value is, for the template: equal fingerprints render alike."""
    kind = type(value)
    if kind in _SCALARS:
        return kind, value, getattr(value, "tzinfo", None)
    if kind is list or kind is tuple:
        return kind, tuple(_fingerprint(item, alive) for item in value)
    alive.append(value)  # its id stays its own while the batch renders (see TemplateBatch.render)
    return kind, id(value)


class TemplateBatch:
    """One compiled template rendered for many contexts, each shared part once (see above)."""

    def __init__(self, template) -> None:
        self.template = getattr(template, "template", template)  # the backend's wrapper, or a base Template
        self.autoescape = self.template.engine.autoescape
        # What each node outside loops reads, by id; None: not known, it is rendered per notice.
        self.paths: dict[int, frozenset[str] | None] = {}
        self.conditions: dict[int, frozenset[str] | None] = {}
        self.variables: dict[str, Variable] = {}  # what the template reads from the context
        self._walk(self.template.nodelist, frozenset())

    def _walk(self, nodelist, local: frozenset[str]) -> frozenset[str] | None:
        """The variables the nodes read, minus loop variables (``local``); records each node's, outside loops."""
        found: set[str] = set()
        known = True
        for node in nodelist:
            paths = self._node_paths(node, local)
            if not local:
                self.paths[id(node)] = paths
            if paths is None:
                known = False
            else:
                found |= paths
        return frozenset(found) if known else None

    def _node_paths(self, node, local: frozenset[str]) -> frozenset[str] | None:
        if isinstance(node, TextNode):
            return frozenset()
        if isinstance(node, VariableNode):
            paths = self._note(_expression_paths(node.filter_expression), local)
        elif isinstance(node, IfNode):
            paths = frozenset()
            for condition, nodelist in node.conditions_nodelists:
                reads = self._note(_expression_paths(condition), local)
                if not local:
                    self.conditions[id(condition)] = reads
                inner = self._walk(nodelist, local)
                paths = None if paths is None or reads is None or inner is None else paths | reads | inner
        elif isinstance(node, ForNode):
            reads = self._note(_expression_paths(node.sequence), local)
            inner_local = local | {*node.loopvars, "forloop"}
            loop, empty = self._walk(node.nodelist_loop, inner_local), self._walk(node.nodelist_empty, inner_local)
            paths = None if reads is None or loop is None or empty is None else reads | loop | empty
        elif isinstance(node, AutoEscapeControlNode):
            paths = self._walk(node.nodelist, local)
        else:
            return None
        if paths is None:
            return None
        return frozenset(path for path in paths if path.split(".", 1)[0] not in local)

    def _note(self, paths: frozenset[str] | None, local: frozenset[str]) -> frozenset[str] | None:
        """Keep a compiled Variable for each path read from the context (not a loop's own)."""
        for path in paths or ():
            if path not in self.variables and path.split(".", 1)[0] not in local:
                self.variables[path] = Variable(path)
        return paths

    # --- rendering ---

    def render(self, contexts: list[dict[str, Any]]) -> list[str]:
        """The texts ``template.render(context)`` gives for each context."""
        if len(contexts) == 1:
            return [self.template.render(make_context(contexts[0], autoescape=self.autoescape))]
        prepared = [make_context(context, autoescape=self.autoescape) for context in contexts]
        # Whatever was fingerprinted by identity stays alive while the batch renders: a freed
        # object's id could be another's.
        alive: list = []
        seen: dict[tuple, dict] = {}
        # Which variables make the shape, judged on a sample: it decides only how much is shared.
        # Drawn at random (the same each time for a batch of this size): a fixed stride could
        # fall in step with a pattern in the batch and see one value where there are many.
        picks = random.Random(len(prepared)).sample(range(len(prepared)), min(SHAPE_SAMPLE, len(prepared)))
        sample = [prepared[index] for index in sorted(picks)]
        everything = self._by_root(self.variables)
        prints = [self._fingerprints(context, everything, seen, alive) for context in sample]
        shared = _shared_paths(self.variables, prints, limit=max(1, len(sample) // NOTICES_PER_SHAPE))
        self.volatile = frozenset(self.variables) - shared
        by_root = self._by_root(shared)
        order = sorted(shared)
        programs: dict[tuple, list] = {}
        texts = []
        for context in prepared:
            values = self._fingerprints(context, by_root, seen, alive)
            key = tuple(values[path] for path in order)
            with context.render_context.push_state(self.template), context.bind_template(self.template):
                context.template_name = self.template.name
                program = programs.get(key)
                if program is None:
                    program = programs[key] = self._compile(
                        self.template.nodelist, context, self.autoescape, self.volatile
                    )
                texts.append(self._run(program, context))
        return texts

    def _by_root(self, paths) -> list[tuple[str, list[tuple[str, Variable]]]]:
        grouped: dict[str, list[tuple[str, Variable]]] = {}
        for path in sorted(paths):
            grouped.setdefault(path.split(".", 1)[0], []).append((path, self.variables[path]))
        return list(grouped.items())

    @staticmethod
    def _fingerprints(context, by_root, seen: dict, alive: list) -> dict[str, Any]:
        """The fingerprints of the variables in ``by_root`` for one context.

        Variables are grouped by their first name: a notice whose ``policy`` (or ``ladder``,
        ``clause``, a date) is the very object an earlier one had reads the same values from
        it, so they are resolved once per object (templates read facts, not the clock). A
        variable that raises gets a fingerprint of its own: its notice renders it alone, and
        raises where ``template.render`` would.
        """
        values: dict[str, Any] = {}
        for root, variables in by_root:
            raw = context.get(root, _UNDECIDED)
            key = None if callable(raw) else (root, id(variables), _fingerprint(raw, alive))
            known = seen.get(key) if key else None
            if known is None:
                known = {path: _resolved(variable, context, alive) for path, variable in variables}
                if key:
                    seen[key] = known
            values.update(known)
        return values

    def _compile(self, nodelist, context, autoescape: bool, volatile: frozenset[str]) -> list:
        """The nodes for one shape: text where they render alike for the whole shape, holes elsewhere.

        A hole is a node rendered per notice, ``(node, autoescape)``, or an ``{% if %}`` whose
        condition reads what differs between notices: its branches are compiled in turn.
        """
        parts: list = []
        context.autoescape = autoescape
        self._compile_nodes(nodelist, context, parts, volatile)
        merged: list = []
        for part in parts:
            if type(part) is str and merged and type(merged[-1]) is str:
                merged[-1] += part
            else:
                merged.append(part)
        return merged

    def _compile_nodes(self, nodelist, context, parts: list, volatile: frozenset[str]) -> None:
        for node in nodelist:
            paths = self.paths.get(id(node))
            if paths is not None and paths.isdisjoint(volatile):
                parts.append(str.__str__(node.render_annotated(context)))
            elif isinstance(node, AutoEscapeControlNode):
                before, context.autoescape = context.autoescape, node.setting
                self._compile_nodes(node.nodelist, context, parts, volatile)
                context.autoescape = before
            elif isinstance(node, IfNode):
                branch = self._branch(node, context, volatile)
                if branch is _UNDECIDED:
                    parts.append(_IfHole(node, context.autoescape, volatile))
                elif branch is not None:
                    self._compile_nodes(branch, context, parts, volatile)
            else:
                parts.append((node, context.autoescape))

    def _branch(self, node: IfNode, context, volatile: frozenset[str]):
        """The branch an ``{% if %}`` takes for the whole shape, None for none, or _UNDECIDED."""
        for condition, nodelist in node.conditions_nodelists:
            if condition is None:
                return nodelist
            reads = self.conditions.get(id(condition))
            if reads is None or not reads.isdisjoint(volatile):
                return _UNDECIDED
            try:
                match = condition.eval(context)
            except VariableDoesNotExist:  # as IfNode.render
                match = None
            if match:
                return nodelist
        return None

    def _run(self, program: list, context) -> str:
        """One notice's text from its shape's program."""
        texts = []
        for part in program:
            kind = type(part)
            if kind is str:
                texts.append(part)
            elif kind is tuple:
                node, context.autoescape = part
                texts.append(node.render_annotated(context))
            else:
                texts.append(part.run(self, context))
        return "".join(texts)


def _resolved(variable: Variable, context, alive: list):
    try:
        return _fingerprint(variable.resolve(context), alive)
    except VariableDoesNotExist:
        return _UNDECIDED
    except Exception:  # noqa: BLE001 - a fingerprint of its own (see TemplateBatch._fingerprints)
        return object()


def _shared_paths(variables, prints: list[dict], *, limit: int) -> frozenset[str]:
    """The variables a shape is made of: the most repeated first, while the shapes stay within ``limit``."""
    counts = {path: len({values[path] for values in prints}) for path in variables}
    shared = set()
    keys = [0] * len(prints)
    for path in sorted(counts, key=lambda path: (counts[path], path)):
        candidate = [hash((key, values[path])) for key, values in zip(keys, prints, strict=True)]
        if len(set(candidate)) <= limit:
            shared.add(path)
            keys = candidate
    return frozenset(shared)


class _IfHole:
    """An ``{% if %}`` decided per notice; the branch it takes is compiled once per shape."""

    def __init__(self, node: IfNode, autoescape: bool, volatile: frozenset[str]) -> None:
        self.node, self.autoescape, self.volatile = node, autoescape, volatile
        self.programs: dict[int, list] = {}

    def run(self, batch: TemplateBatch, context) -> str:
        context.autoescape = self.autoescape
        for index, (condition, nodelist) in enumerate(self.node.conditions_nodelists):
            if condition is not None:  # as IfNode.render
                try:
                    match = condition.eval(context)
                except VariableDoesNotExist:
                    match = None
            else:
                match = True
            if match:
                program = self.programs.get(index)
                if program is None:
                    program = self.programs[index] = batch._compile(nodelist, context, self.autoescape, self.volatile)
                return batch._run(program, context)
        return ""


def create_notices(drafts: Iterable[NoticeDraft]) -> int:
    """Store one notice per draft whose ``dedupe_key`` is new, with its audit event; mail after commit.

    Call inside the service's transaction. Returns how many notices were new.
    """
    created = 0
    batch: list[NoticeDraft] = []
    prefetched: set[int] = set()
    for draft in drafts:
        if draft.policy is not None and id(draft.policy) not in prefetched:
            # Templates list the clauses and categories: fetch them once per policy, not per notice.
            prefetch_related_objects([draft.policy], "clauses", "categories")
            prefetched.add(id(draft.policy))
        batch.append(draft)
        if len(batch) >= NOTICE_BATCH_SIZE:
            created += _create_batch(batch)
            batch = []
    if batch:
        created += _create_batch(batch)
    if created:
        from moderation.tasks import send_pending_notices

        transaction.on_commit(send_pending_notices.delay)
    return created


def _create_batch(drafts: list[NoticeDraft]) -> int:
    existing = set(
        Notice.objects.filter(dedupe_key__in=[d.dedupe_key for d in drafts]).values_list("dedupe_key", flat=True)
    )
    drafts = [d for d in drafts if d.dedupe_key not in existing]
    if not drafts:
        return 0
    merchants = Merchant.objects.select_related("marketplace").in_bulk([d.merchant_id for d in drafts])
    now = timezone.now()
    rows = []
    rendered = render_notices([(merchants[draft.merchant_id], draft) for draft in drafts])
    for draft, (subject, body) in zip(drafts, rendered, strict=True):
        puid = f"notice-{uuid.uuid4().hex}"
        rows.append(
            {
                "merchant_id": draft.merchant_id,
                "kind": draft.kind,
                "policy_id": draft.policy.pk if draft.policy else None,
                "clause_id": draft.clause.pk if draft.clause else None,
                "language": merchants[draft.merchant_id].language,
                "subject": subject,
                "body": body,
                "restricts": draft.restricts,
                "appeal_deadline": draft.appeal_deadline,
                "transparency": {**draft.transparency, "puid": puid} if draft.transparency else {},
                "puid": puid,
                "dedupe_key": draft.dedupe_key,
                "created_at": now,
            }
        )
    by_key = {row["dedupe_key"]: row for row in rows}
    notice_type = ContentType.objects.get_for_model(Notice)
    inserted = insert_rows(Notice, rows, returning=("id", "dedupe_key"))
    insert_rows(
        AuditEvent,
        [
            {
                "occurred_at": now,
                "actor_id": None,
                "actor_name": actor_label(NOTICE_ACTOR),
                "verb": AuditVerb.NOTICE_CREATED,
                "target_type_id": notice_type.pk,
                "target_id": notice_id,
                "target_repr": by_key[key]["subject"][:200],
                "merchant_id": by_key[key]["merchant_id"],
                "policy_id": by_key[key]["policy_id"],
                "after": {"kind": by_key[key]["kind"], "dedupe_key": key, "restricts": by_key[key]["restricts"]},
            }
            for notice_id, key in inserted
        ],
    )
    return len(inserted)


# --- Writing many rows -----------------------------------------------------------------------


def _json_value(value):
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, (Decimal, uuid.UUID)):
        return str(value)
    raise TypeError(f"{type(value).__name__} cannot travel in a row")


def insert_rows(
    model: type[models.Model], rows: list[dict[str, Any]], *, returning: tuple[str, ...] = (), skip_existing: str = ""
) -> list[tuple]:
    """INSERT rows of ``model`` in one statement; the ``returning`` columns of each row inserted.

    A row maps field attnames to values; a field it leaves out takes the model's default,
    as in ``model(**row)``. ``skip_existing`` names a unique field: a row whose value is
    taken already (by a concurrent or repeated run) is skipped and not returned.

    On PostgreSQL the rows travel as one JSON document that the server unpacks
    (``jsonb_to_recordset``: as ``json`` the document was parsed twice, by the cast and the read):
    ``bulk_create`` binds each value of each row on the client (psycopg quotes every
    element of its UNNEST arrays in Python), which cost more than the inserts themselves
    for a few thousand notices or audit events. Like ``bulk_create``, this sends no
    signals and does not call ``save()``.
    """
    if not rows:
        return []
    # Every column but the ones the database fills in (the id).
    columns = [column for column in model._meta.concrete_fields if not column.db_returning]
    names = {column.attname for column in columns}
    rows = [{**row} for row in rows]  # the caller's rows stay as they were
    for row in rows:
        if not names <= row.keys():
            for column in columns:
                if column.attname not in row:
                    row[column.attname] = column.get_default()
    if connection.vendor != "postgresql":
        return _insert_rows_with_orm(model, rows, returning=returning, skip_existing=skip_existing)
    for column in columns:
        if isinstance(column, models.JSONField):  # as Django stores it: through the field's own encoder
            encode, name = (column.encoder or json.JSONEncoder)().encode, column.attname
            for row in rows:
                if row[name] is not None:
                    row[name] = encode(row[name])
    quote = connection.ops.quote_name

    def unpacked(column) -> str:
        return f"r.{quote(column.attname)}" + ("::jsonb" if isinstance(column, models.JSONField) else "")

    def declared(column) -> str:
        kind = "text" if isinstance(column, models.JSONField) else column.db_type(connection)
        return f"{quote(column.attname)} {kind}"

    sql = (
        f"INSERT INTO {quote(model._meta.db_table)} ({', '.join(quote(column.column) for column in columns)}) "
        f"SELECT {', '.join(unpacked(column) for column in columns)} "
        f"FROM jsonb_to_recordset(%s::jsonb) AS r({', '.join(declared(column) for column in columns)})"
    )
    if skip_existing:
        sql += f" ON CONFLICT ({quote(model._meta.get_field(skip_existing).column)}) DO NOTHING"
    if returning:
        sql += f" RETURNING {', '.join(quote(model._meta.get_field(name).column) for name in returning)}"
    with connection.cursor() as cursor:
        cursor.execute(sql, [json.dumps(rows, default=_json_value, ensure_ascii=False)])
        return [tuple(found) for found in cursor.fetchall()] if returning else []


def _insert_rows_with_orm(model, rows: list[dict[str, Any]], *, returning, skip_existing: str) -> list[tuple]:
    """The same through ``bulk_create`` (SQLite: the demo). Its writers take turns, so reading first is enough."""
    instances = [model(**row) for row in rows]
    if skip_existing:
        taken = set(
            model.objects.filter(**{f"{skip_existing}__in": [row[skip_existing] for row in rows]}).values_list(
                skip_existing, flat=True
            )
        )
        instances = [instance for instance in instances if getattr(instance, skip_existing) not in taken]
    model.objects.bulk_create(instances)
    return [tuple(getattr(instance, name) for name in returning) for instance in instances]


def claim_unsent_notices(*, limit: int = EMAIL_BATCH_SIZE) -> list[int]:
    """Take a batch of notices to e-mail; SKIP LOCKED lets several workers share the backlog.

    A claim is a lease: a worker that dies mid-batch leaves them ``sending`` until the
    lease passes, then another worker sends them (at least once, never lost).
    """
    now = timezone.now()
    with transaction.atomic():
        ids = list(
            Notice.objects.select_for_update(skip_locked=True)
            .filter(email_status__in=[Notice.EmailStatus.PENDING, Notice.EmailStatus.SENDING])
            # Not while another worker holds it, nor before a failed one's retry time.
            .exclude(email_claimed_until__gt=now)
            .order_by("id")
            .values_list("id", flat=True)[:limit]
        )
        if ids:
            Notice.objects.filter(pk__in=ids).update(
                email_status=Notice.EmailStatus.SENDING, email_claimed_until=now + EMAIL_LEASE
            )
    return ids


def deliver_notices(notice_ids: list[int]) -> tuple[int, int]:
    """E-mail the claimed notices over one connection. Returns (sent, failed).

    Each sent notice is marked at once: a worker that dies mid-batch leaves the rest of its
    batch ``sending`` and their lease brings them back (e-mail is at least once: at most the
    one message sent but not yet marked goes out twice).
    """
    sent_ids: list[int] = []
    sent = failed = 0
    notices = Notice.objects.filter(pk__in=notice_ids, email_status=Notice.EmailStatus.SENDING).select_related(
        "merchant"
    )
    with get_connection() as connection:
        try:
            for notice in notices:
                message = EmailMessage(
                    # Stored neutralised (``_split``); again here for notices stored before that.
                    subject=email_subject(notice.subject),
                    body=neutralise_text(notice.body),
                    from_email=settings.DEFAULT_FROM_EMAIL,
                    to=[notice.merchant.contact_email],
                    connection=connection,
                    headers={"X-Notice-Id": notice.puid},
                )
                try:
                    message.send()
                except SoftTimeLimitExceeded:
                    raise  # the task's time is up: the rest of the batch waits for its lease
                except Exception as error:  # noqa: BLE001 - any SMTP failure: keep the notice, retry later
                    failed += 1
                    _record_delivery_failure(notice, error)
                    continue
                sent_ids.append(notice.pk)
                sent += 1
                if len(sent_ids) >= MARK_SENT_EVERY:
                    _mark_sent(sent_ids)
                    sent_ids = []

        finally:
            # Even when the task's time runs out mid-batch: what went out is marked sent.
            _mark_sent(sent_ids)
    return sent, failed


def _mark_sent(notice_ids: list[int]) -> None:
    if not notice_ids:
        return
    Notice.objects.filter(pk__in=notice_ids, email_status=Notice.EmailStatus.SENDING).update(
        email_status=Notice.EmailStatus.SENT,
        sent_at=timezone.now(),
        email_attempts=F("email_attempts") + 1,
        email_claimed_until=None,
    )


@transaction.atomic
def _record_delivery_failure(notice: Notice, error: Exception) -> None:
    attempts = notice.email_attempts + 1
    gave_up = attempts >= EMAIL_MAX_ATTEMPTS
    Notice.objects.filter(pk=notice.pk).update(
        email_status=Notice.EmailStatus.FAILED if gave_up else Notice.EmailStatus.PENDING,
        email_attempts=attempts,
        # Back off before the next try (1, 2, 4, 8 minutes): a mail server that is down
        # now should not use up every attempt within one sweep.
        email_claimed_until=None if gave_up else timezone.now() + EMAIL_RETRY_BASE * 2 ** (attempts - 1),
        last_error=str(error)[:2000],
    )
    if gave_up:
        AuditEvent.objects.create(
            actor_name=actor_label(NOTICE_ACTOR),
            verb=AuditVerb.NOTICE_DELIVERY_FAILED,
            target_type=ContentType.objects.get_for_model(Notice),
            target_id=notice.pk,
            target_repr=notice.subject[:200],
            merchant_id=notice.merchant_id,
            policy_id=notice.policy_id,
            reason=f"Gave up after {attempts} attempts: {error}",
        )


def send_pending_notices(*, limit_batches: int = 50) -> int:
    """Claim and send batches until none is left (or ``limit_batches``, so a task stays short)."""
    total = 0
    for _ in range(limit_batches):
        ids = claim_unsent_notices()
        if not ids:
            break
        sent, _failed = deliver_notices(ids)
        total += sent
    return total
