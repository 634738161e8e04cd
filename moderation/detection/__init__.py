"""Detection: normalising listing text and matching a policy's rules against it.

No database here: ``PolicyMatcher`` is built from rule data (``RuleSpec``, or dicts with
the same keys) and a threshold, so it runs the same in a request, a Celery chunk of a
bulk scan, a management command or a test. ``moderation.selectors.detection`` builds one
per policy from its ``DetectionRule`` rows and caches it.

- ``normalize``: the one step that undoes disguises (width, case, accents, invisible
  characters, emoji, look-alike letters of other scripts, Traditional Chinese, letters
  split by separators, leetspeak) before matching;
- ``patterns``: rules as RE2 expressions, linear in the text whatever the pattern, and
  the errors that refuse what RE2 cannot run;
- ``matcher``: a policy's rules run as one set per field, the score and the evidence.
"""

from moderation.detection.matcher import (
    ATTRIBUTES,
    DESCRIPTION,
    FIELDS,
    TITLE,
    MatchResult,
    PolicyMatcher,
    RuleSpec,
    Span,
    attributes_text,
)
from moderation.detection.normalize import (
    decode_leetspeak,
    fold_char,
    has_unspaced_script,
    join_split_letters,
    normalize,
    normalize_with_offsets,
    simplify_char,
    skeleton_char,
    views,
)
from moderation.detection.patterns import (
    KEYWORD,
    KINDS,
    PHRASE,
    REGEX,
    exclusion_error,
    literal_regex,
    pattern_error,
    pinyin_regex,
    regex_error,
    rule_regex,
)

__all__ = [
    "ATTRIBUTES",
    "DESCRIPTION",
    "FIELDS",
    "KEYWORD",
    "KINDS",
    "PHRASE",
    "REGEX",
    "TITLE",
    "MatchResult",
    "PolicyMatcher",
    "RuleSpec",
    "Span",
    "attributes_text",
    "decode_leetspeak",
    "exclusion_error",
    "fold_char",
    "has_unspaced_script",
    "join_split_letters",
    "literal_regex",
    "normalize",
    "normalize_with_offsets",
    "pattern_error",
    "pinyin_regex",
    "regex_error",
    "rule_regex",
    "simplify_char",
    "skeleton_char",
    "views",
]
