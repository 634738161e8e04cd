"""Normalisation: each stage alone, the stages together, offsets back into the seller's text,
and rules matching through every disguise while look-alikes stay out."""

from __future__ import annotations

import pytest

from moderation.detection import (
    PolicyMatcher,
    RuleSpec,
    decode_leetspeak,
    fold_char,
    join_split_letters,
    normalize,
    normalize_with_offsets,
    simplify_char,
    skeleton_char,
    views,
)


def fold(text: str) -> str:
    return "".join(fold_char(char) for char in text)


def skeleton(text: str) -> str:
    return "".join(skeleton_char(char) for char in text)


def simplify(text: str) -> str:
    return "".join(simplify_char(char) for char in text)


# --- stage 1: fold ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        ("ＡＳＩＣ　ｍｉｎｅｒ", "asic miner"),  # full-width letters and space
        ("１１０ＴＨ／ｓ", "110th/s"),
        ("𝐁𝐢𝐭𝐜𝐨𝐢𝐧", "bitcoin"),  # mathematical bold
        ("𝕄𝕚𝕟𝕖𝕣", "miner"),  # mathematical double-struck
        ("𝟒ntminer", "4ntminer"),  # a mathematical digit
        ("🅑🅘🅣🅒🅞🅘🅝", "bitcoin"),  # negative circled letters
        ("🅱🅸🆃", "bit"),  # negative squared letters
        ("🇧🇹🇨", "btc"),  # regional indicators, which would pair up into flags
        ("AnTmInEr", "antminer"),
        ("Straße", "strasse"),
        ("ﬁrmware", "firmware"),  # a ligature is two letters
    ],
)
def test_it_folds_width_case_and_letters_drawn_as_symbols(text, folded):
    assert fold(text) == folded


@pytest.mark.parametrize("text", ["ⓑⓘⓣⓒⓞⓘⓝ", "ⒷⒾⓉⒸⓄⒾⓃ", "⒝⒤⒯⒞⒪⒤⒩", "🄱🄸🅃🄲🄾🄸🄽"])
def test_it_folds_circled_parenthesised_and_squared_letters_to_letters(text):
    assert "".join(fold(text).split()) == "bitcoin"


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        ("Mìning rïg", "mining rig"),
        ("Mi\u0301ning", "mining"),  # a decomposed accent
        ("Ǹ", "n"),
        ("kuàngjī", "kuangji"),  # pinyin tone marks
        ("kuǎng jí", "kuang ji"),
        ("lǜ", "lu"),  # ü with a tone mark on it
        ("Μίνερ", "μινερ"),  # Greek accents go too (the letters are the skeleton stage's)
        ("ёлка", "елка"),
    ],
)
def test_it_drops_accents_and_tone_marks(text, folded):
    assert fold(text) == folded


@pytest.mark.parametrize(
    "invisible",
    [
        "\u200b",  # zero-width space
        "\u200c",  # zero-width non-joiner
        "\u200d",  # zero-width joiner
        "\u2060",  # word joiner
        "\ufeff",  # zero-width no-break space (a byte-order mark)
        "\u00ad",  # soft hyphen
        "\ufe0e",  # variation selector 15, text style
        "\ufe0f",  # variation selector 16, emoji style
        "\U000e0101",  # variation selector 18 (ideographic variants)
        "\u180b",  # Mongolian free variation selector
    ],
)
def test_it_drops_invisible_characters(invisible):
    assert fold_char(invisible) == ""
    assert fold(f"Ant{invisible}miner") == "antminer"


@pytest.mark.parametrize("emoji", ["🔥", "⛏", "💰", "🚀", "👍🏽", "⚡"])
def test_it_turns_emoji_into_spaces(emoji):
    assert fold(f"Bit{emoji}coin").split() == ["bit", "coin"]


def test_it_leaves_chinese_and_plain_lower_case_ascii_as_they_are():
    assert fold("矿机 比特币 s19 110th/s") == "矿机 比特币 s19 110th/s"


# --- stage 2: look-alike letters of other scripts ------------------------------------------------


@pytest.mark.parametrize(
    ("text", "latin"),
    [
        ("Вітсоіп", "bitcoin"),  # Cyrillic
        ("Сrурtо", "crypto"),  # Cyrillic mixed with Latin
        ("АНТМІНЕР", "ahtmihep"),  # what Cyrillic capitals look like, not what they say
        ("ΒΙΤϹΟΙΝ", "bitcoin"),  # Greek capitals, lunate sigma
        ("ΜΙΝΕr", "miner"),
        ("ɑntminer", "antminer"),  # Latin alpha
    ],
)
def test_it_reads_look_alike_letters_as_the_latin_letters_they_look_like(text, latin):
    assert skeleton(text) == latin


def test_it_reads_each_greek_letter_in_its_own_case():
    assert skeleton_char("Ν") == "n"  # capital nu looks like N
    assert skeleton_char("ν") == "v"  # small nu looks like v
    assert normalize("ΝΙΝ") == "nin" and normalize("νιν") != "nin"


def test_it_leaves_chinese_and_ascii_to_themselves():
    assert skeleton("矿机比特币") == "矿机比特币"
    assert skeleton("ANTMINER s19, 110TH/s") == "ANTMINER s19, 110TH/s"  # not even lower-cased here
    assert skeleton("é") == "é"  # a Latin letter is not a look-alike


@pytest.mark.parametrize("text", ["Вітсоїп", "ΒΙΤϹΌΙΝ"])
def test_an_accented_look_alike_is_still_a_look_alike(text):
    assert normalize(text) == "bitcoin"


# --- stage 3: Traditional to Simplified Chinese ------------------------------------------------


@pytest.mark.parametrize(("traditional", "simplified"), [("礦機", "矿机"), ("比特幣", "比特币"), ("礦池", "矿池")])
def test_it_writes_traditional_chinese_as_simplified(traditional, simplified):
    assert simplify(traditional) == simplified
    assert normalize(traditional) == simplified


def test_it_leaves_simplified_chinese_and_other_scripts_alone():
    assert simplify("矿机比特币 Antminer") == "矿机比特币 Antminer"


# --- stage 5: letters split by separators --------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "joined"),
    [
        ("b i t c o i n", "bitcoin"),
        ("m.i.n.e.r", "miner"),
        ("a-n-t-m-i-n-e-r", "antminer"),
        ("b-t-c", "btc"),
        ("m_i_n_e_r", "miner"),
        ("b~i~t", "bit"),
        ("b*i*t", "bit"),
        ("b•i•t", "bit"),
        ("b . i . t", "bit"),  # up to three separators between two letters
        ("s 1 9", "s19"),  # digits too
        ("used b i t c o i n miner", "used bitcoin miner"),
        ("矿 机", "矿机"),  # two Chinese characters are already a word
        ("矿-机", "矿机"),
    ],
)
def test_it_joins_letters_written_one_by_one(text, joined):
    assert join_split_letters(text) == joined


@pytest.mark.parametrize(
    ("text", "joined"),
    [
        ("m_i_n_e_r f_i_r_m", "miner firm"),  # a change of separator ends a word
        ("b.i.t c.o.i.n", "bit coin"),
        ("b-i-t c-o-i-n", "bit coin"),
    ],
)
def test_it_keeps_words_with_different_separators_apart(text, joined):
    assert join_split_letters(text) == joined


@pytest.mark.parametrize("text", ["a b", "x 1", "金矿 机器", "e-mail", "bit coin", "mining rig"])
def test_it_leaves_alone_what_is_not_a_word_spelt_out(text):
    assert join_split_letters(text) == text  # two Latin singles, or words already


def test_it_joins_letters_separated_by_emoji_once_they_are_spaces():
    assert normalize("b🔥i🔥t🔥c🔥o🔥i🔥n") == "bitcoin"
    assert normalize("⛏ m i n e r ⛏") == "miner"


def test_it_reads_underscores_left_after_joining_as_spaces():
    assert normalize("bitcoin_miner") == "bitcoin miner"
    assert normalize("m_i_n_e_r_f_i_r_m") == "minerfirm"


# --- stage 6: leetspeak, a second view -----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "decoded"),
    [
        ("b1tc0in", "bitcoin"),
        ("b1tc01n", "bitcoin"),
        ("m!ner", "miner"),
        ("4ntminer", "antminer"),
        ("$ell", "sell"),
        ("l1tec0in", "litecoin"),
        ("ant m1ner", "ant miner"),
    ],
)
def test_it_reads_digits_and_symbols_standing_for_letters(text, decoded):
    assert decode_leetspeak(text) == decoded
    assert len(decoded) == len(text)  # same length: offsets hold for both views


@pytest.mark.parametrize("text", ["s19", "110th/s", "100btc", "a1234", "2021", "rtx 3080"])
def test_it_leaves_numbers_and_model_codes_as_they_are(text):
    assert decode_leetspeak(text) == text
    assert views(text) == text  # one view only


def test_a_model_code_stays_in_the_first_view_beside_its_leetspeak_reading():
    first, second = views(normalize("Whatsminer M30S")).split("\n")
    assert first == "whatsminer m30s"  # as written, for the model-code rules
    assert second == "whatsminer meos"
    assert normalize("b1tc0in") == "b1tc0in"  # normalize itself never decodes


# --- the stages together ---------------------------------------------------------------------------


def test_it_undoes_several_disguises_in_one_text():
    text = "Ｂ𝐢ｔ\u200bс0іn 🔥 m.i.n.e.r — 礦機 kuàngjī, ΜΙΝΙΝG rïg"
    normalized = normalize(text)
    assert normalized == "bitc0in miner — 矿机 kuangji, mining rig"
    assert views(normalized).split("\n")[1] == "bitcoin miner — 矿机 kuangji, mining rig"


def test_it_collapses_every_kind_of_whitespace():
    assert normalize("  bitcoin \t\n\u3000\u00a0\u2028 miner  ") == "bitcoin miner"
    assert normalize("\u200b \ufeff") == ""


# --- offsets into the original text ------------------------------------------------------------------

ADVERSARIAL = [
    "",
    "   ",
    "\u200b",
    "\u0301a",  # a combining mark with nothing before it
    " ＡＮＴ\u3000ｍｉｎｅｒ  é\u0301 ﬁ",
    "Ant\u200bminer\u00ad S19\ufe0f",
    "\ufeffBitcoin",
    "b i t c o i n  m.i.n.e.r",
    "m_i_n_e_r f_i_r_m_",
    "_bitcoin_ __ miner_",
    "b🔥i🔥t🔥c🔥o🔥i🔥n",
    "👍🏽👍🏽 ant 👍🏽 miner 👍🏽",
    "🇧🇹🇨 🅑🅘🅣 🅱🅸🆃",
    "𝐁𝐢𝐭𝐜𝐨𝐢𝐧 𝟒ntminer",
    "Вітсоіп ΒΙΤϹΟΙΝ Νν",
    "礦機 比特幣 矿 机 金矿 机器",
    "kuàngjī kuǎng jí lǜ",
    "Straße ﬃ ǅ İ Kelvin\u212a Ω",
    "1️⃣ keycap #️⃣",
    "ｶﾞ ガ 가 \u1100\u1161",
    "a\tb\nc\r\nd\u2028e\x85f\x1cg",
    "b . i . t - c - o",
    "a 矿 b",
    "x" * 3 + "\u200b" * 3 + " " * 3 + "y",
    "ΟΔΟΣ σ ς",
    "m!ner $ell b1tc0in 4ntminer",
]


@pytest.mark.parametrize("text", ADVERSARIAL)
def test_offsets_give_the_same_text_as_normalize(text):
    normalized, starts, ends = normalize_with_offsets(text)
    assert normalized == normalize(text)
    assert len(starts) == len(ends) == len(normalized)


@pytest.mark.parametrize("text", ADVERSARIAL)
def test_each_normalised_character_comes_from_the_original_characters_its_span_names(text):
    normalized, starts, ends = normalize_with_offsets(text)
    assert list(starts) == sorted(starts)
    for index, char in enumerate(normalized):
        assert 0 <= starts[index] < ends[index] <= len(text)
        if not char.isspace():
            assert char in normalize(text[starts[index] : ends[index]]), (index, char)


def test_it_maps_each_normalised_character_back_to_the_original_text():
    text = " ＡＮＴ\u3000ｍｉｎｅｒ  é\u0301 ﬁ"
    normalized, starts, ends = normalize_with_offsets(text)
    assert normalized == "ant miner e fi"
    assert text[starts[0] : ends[2]] == "ＡＮＴ"
    assert text[starts[4] : ends[8]] == "ｍｉｎｅｒ"
    assert text[starts[10] : ends[10]] == "é\u0301"  # the accent that folds to nothing goes with its letter
    assert (starts[12], ends[12], starts[13], ends[13]) == (15, 16, 15, 16)  # one ligature, two letters


def test_a_word_spelt_out_maps_back_to_all_of_it():
    text = "new b i t c o i n miner"
    normalized, starts, ends = normalize_with_offsets(text)
    assert normalized == "new bitcoin miner"
    assert text[starts[4] : ends[10]] == "b i t c o i n"
    assert text[starts[12] : ends[16]] == "miner"


# --- rules matching through the disguises ----------------------------------------------------------

RULES = PolicyMatcher(
    [
        RuleSpec(kind="keyword", pattern="bitcoin", weight=10),
        RuleSpec(kind="phrase", pattern="mining rig", weight=10),
        RuleSpec(kind="keyword", pattern="矿机", weight=10),
        RuleSpec(kind="keyword", pattern="mining", weight=10, exclusions=("data mining",)),
        RuleSpec(kind="keyword", pattern="eth", weight=10),
        RuleSpec(kind="keyword", pattern="asic", weight=10),
    ],
    threshold=10,
)


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("ＢＩＴＣＯＩＮ", "bitcoin"),
        ("𝐁𝐢𝐭𝐜𝐨𝐢𝐧", "bitcoin"),
        ("🅑🅘🅣🅒🅞🅘🅝", "bitcoin"),
        ("🇧🇮🇹🇨🇴🇮🇳", "bitcoin"),
        ("Вітсоіп", "bitcoin"),
        ("ΒΙΤϹΟΙΝ", "bitcoin"),
        ("bit\u200bcoin", "bitcoin"),
        ("bit\u00adcoin", "bitcoin"),
        ("Bit🔥coin", "bitcoin"),
        ("bit coin", "bitcoin"),
        ("bit-coin", "bitcoin"),
        ("bit.coin", "bitcoin"),
        ("b i t c o i n", "bitcoin"),
        ("b.i.t.c.o.i.n", "bitcoin"),
        ("b_i_t_c_o_i_n", "bitcoin"),
        ("b1tc0in", "bitcoin"),
        ("bitcoins", "bitcoin"),
        ("bitcoin_wallet", "bitcoin"),
        ("mining-rig", "mining rig"),
        ("miningrig", "mining rig"),
        ("ｍｉｎｉｎｇ　ｒｉｇｓ", "mining rig"),
        ("Mìning rïg", "mining rig"),
        ("m i n i n g  r i g", "mining rig"),
        ("m1ning r1g", "mining rig"),
        ("礦機", "矿机"),
        ("矿 机", "矿机"),
        ("矿-机", "矿机"),
        ("二手矿机出售", "矿机"),
        ("kuangji", "矿机"),
        ("kuang ji", "矿机"),
        ("Kuang-Ji", "矿机"),
        ("kuàngjī", "矿机"),
        ("kuang4ji1", "矿机"),
    ],
)
def test_a_rule_matches_through_each_disguise(text, label):
    result = RULES.score(title=text)
    assert label in result.labels, (text, result.labels)
    assert result.flagged
    assert result.words and all(word in text for word in result.words)  # highlighted in what was written


RULES_ZH = PolicyMatcher(
    [RuleSpec(kind="keyword", pattern="矿机", weight=10), RuleSpec(kind="keyword", pattern="比特币", weight=10)],
    threshold=10,
)


@pytest.mark.parametrize("text", ["二手矿 机出售", "出售比特 币"])
def test_a_chinese_word_split_between_longer_runs_is_two_words(text):
    # Indistinguishable from "金矿 机器" (a gold mine, then machines): only a word spelt out in
    # single characters (矿 机) is joined.
    assert not RULES_ZH.score(title=text).flagged


@pytest.mark.parametrize(
    "text",
    [
        "Data Mining: Concepts and Techniques",
        "DATA  MINING",
        "Cat6 ethernet cable",
        "Basic electronics",
        "农夫山泉矿泉水",  # mineral water: 矿 then 泉, not 机
        "金矿 机器",  # a gold mine, then a machine
        "kuang",
        "bitcoinage",
        "orbit coins",
        "ethos",
    ],
)
def test_look_alikes_stay_out(text):
    result = RULES.score(title=text)
    assert result.score == 0 and result.labels == [], (text, result.labels, result.words)
