"""Rendering many notices from one compiled template: what they share once, the rest per notice.

Why it exists (a hand-written replacement needs a measured reason): a sweep or a removal
writes thousands of notices in one transaction, and ``template.render`` takes about 2 ms a
notice, most of it resolving the variables and formatting the dates every notice of the
batch shares. The escalation benchmark (bench/escalation.py: 100,000 merchants, 20,000
sanction notices rendered and stored inside the sweep) went from 5.3x the hand-written SQL
to 1.25-1.9x with this renderer and the one-statement inserts (commit bbb28c5).
bench/retire_category.py renders one notice per merchant hit (10,000 statements of reasons
at 1,000,000 listings) in the removal's last transaction. Measured again when it moved here
(2,000 sanction notices of a sweep, warnings and store blocks in English and Chinese, each
merchant and sanction its own object; a busy 2-core machine): 0.5-0.9 ms a notice batched
against 2.0-3.5 ms with plain ``template.render`` per notice, language and template set up
once per group as here, the texts identical. So 20,000 notices cost 10-18 s instead of
40-70 s of one core inside the sweep's transactions. Replace it with plain rendering only
when those figures say plain rendering is fast enough.

How: it relies on Django's template internals (``IfNode``, ``ForNode``, ``VariableNode``,
``FilterExpression``, ``TokenBase``); tests/moderation/test_notice_rendering.py renders every
construct the notice templates use both ways and compares them byte for byte, in English and
Chinese, so a Django upgrade that changes those internals fails there first.

A sweep writes thousands of notices from one template that differ in a few places (the
store's name, the sanction's number, the violations listed) and agree on the rest (the
measure, its dates, the ground, the ladder). So a batch is rendered in two layers: per
*shape* (the values of the variables that few notices differ in), the template once,
leaving holes where the other variables are read; per notice, only the nodes in the holes.
The text is what ``template.render`` gives, by construction:

- a node is rendered once per shape only if every variable it reads (found by walking
  its compiled nodes) is part of the shape; anything the walk does not understand (a
  tag other than if/for/autoescape, an unknown condition) is rendered per notice;
- values are compared by type and value for scalars, and by identity for anything
  else (model instances, dicts), so two notices share a shape only when the template
  reads the very same things from them;
- an ``{% if %}`` whose condition differs between notices is decided per notice, and
  the branch it takes is compiled the same way. (A ``{% for %}`` over what differs, the
  violations listed, is rendered whole per notice: compiling its body per kind of line
  saved no time, reading each line's kind cost what rendering it did.)
- which variables make the shape is decided from a sample of the batch: those whose
  values repeat enough that the number of shapes stays small. A wrong guess costs
  time, never text: a shape the sample did not foresee is compiled when it comes.
"""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.template.base import FilterExpression, TextNode, Variable, VariableDoesNotExist, VariableNode
from django.template.context import make_context
from django.template.defaulttags import AutoEscapeControlNode, ForNode, IfNode, TemplateLiteral
from django.template.smartif import TokenBase
from django.utils.safestring import SafeString

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
