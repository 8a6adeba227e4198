"""Protected spans and glossary terms: masked before translation, restored exactly after."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from livetrans.errors import GlossaryError
from livetrans.mt.glossary import Glossary, GlossaryTerm, load_glossary

PLAIN = Glossary()


@pytest.mark.parametrize(
    ("text", "kind", "span"),
    [
        ("Only ¥199 today", "money", "¥199"),
        ("Now $19.99 each", "money", "$19.99"),
        ("Ahora 19,99 € cada uno", "money", "19,99 €"),
        ("Costs US$5 now", "money", "US$5"),
        ("Pay 250 USD today", "money", "250 USD"),
        ("Get 50% off", "percent", "50%"),
        ("Gagnez 12,5 % de plus", "percent", "12,5 %"),
        ("We sold 1,299.00 units", "number", "1,299.00"),
        ("About 3.5 million", "number", "3.5"),
        ("价格是199元", "number", "199"),
        ("Live at 10:30 tonight", "time", "10:30"),
        ("The new 5G phone", "code", "5G"),
        ("Visit https://shop.example.com/deal?id=7 now.", "url", "https://shop.example.com/deal?id=7"),
        ("Go to www.example.org/sale, fast", "url", "www.example.org/sale"),
        ("Go to example.com today", "url", "example.com"),
        ("Mail help@example.com please", "email", "help@example.com"),
        ("Follow @live_trans now", "handle", "@live_trans"),
        ("Tag #FlashSale please", "hashtag", "#FlashSale"),
        ("Great 👍🏽 job", "emoji", "👍🏽"),
        ("Family 👨‍👩‍👧 time", "emoji", "👨‍👩‍👧"),
        ("From 🇯🇵 with love", "emoji", "🇯🇵"),
        ("Love it ❤️", "emoji", "❤️"),
    ],
)
def test_each_kind_is_masked_and_restored_exactly(text: str, kind: str, span: str) -> None:
    masked = PLAIN.mask(text, "en")
    assert [(s.kind, s.text) for s in masked.spans] == [(kind, span)]
    assert span not in masked.text and "[1]" in masked.text
    # A "translation" that moves the placeholder and rewrites every word around it:
    translated = "XX [1] YY"
    assert PLAIN.restore(masked, translated, "es") == f"XX {span} YY"


def test_all_kinds_in_one_sentence_survive() -> None:
    text = "Livetrans: $19.99 or 19,99 € (50% off) at https://x.io/a, ask @bob 🎉 by 10:30."
    glossary = Glossary([GlossaryTerm("Livetrans")])
    masked = glossary.mask(text, "en")
    assert len(masked.spans) == 8
    assert not re.search(r"\d{2}|\$|€|%|@|🎉|Livetrans|https", re.sub(r"\[\d+\]", "", masked.text))
    assert glossary.restore(masked, masked.text, "fr") == text


def test_restore_tolerates_what_models_do_to_placeholders() -> None:
    masked = PLAIN.mask("Only $5 and 50% off", "en")
    assert masked.text == "Only [1] and [2] off"
    assert PLAIN.restore(masked, "Solo [ 2 ] y ［1］", "es") == "Solo 50% y $5"
    assert PLAIN.restore(masked, "只要【1】，折扣【2】", "zh") == "只要$5，折扣50%"


def test_lost_placeholder_is_appended_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    masked = PLAIN.mask("Only $5 and 50% off", "en")
    with caplog.at_level(logging.WARNING, logger="livetrans.mt.glossary"):
        out = PLAIN.restore(masked, "Solo [1] hoy", "es")
    assert out == "Solo $5 hoy 50%"
    assert "lost 1 protected span" in caplog.text
    assert PLAIN.restore(masked, "只要", "zh") == "只要$550%"  # CJK: no space added


def test_duplicate_and_invented_placeholders() -> None:
    masked = PLAIN.mask("Only $5 today", "en")
    assert PLAIN.restore(masked, "[1] solo [1] hoy [7]", "es") == "$5 solo hoy"


def test_literal_bracketed_number_in_source_round_trips() -> None:
    masked = PLAIN.mask("See note [3] below", "en")
    assert PLAIN.restore(masked, masked.text, "es") == "See note [3] below"


def test_term_translated_per_language_and_kept_elsewhere() -> None:
    glossary = Glossary([
        GlossaryTerm("flash sale", {"spa_Latn": "oferta relámpago", "zho_Hant": "限時搶購"}),
        GlossaryTerm("Livetrans"),
    ])
    masked = glossary.mask("The Livetrans flash sale starts now", "en")
    assert masked.text == "The [1] [2] starts now"
    assert glossary.restore(masked, "La [2] de [1] empieza", "es") == "La oferta relámpago de Livetrans empieza"
    assert glossary.restore(masked, "[1][2]開始", "zh-TW") == "Livetrans限時搶購開始"
    assert glossary.restore(masked, "Der [1] [2] beginnt", "de") == "Der Livetrans flash sale beginnt"


def test_terms_match_whole_words_case_and_source_language() -> None:
    glossary = Glossary([
        GlossaryTerm("Apple"),
        GlossaryTerm("oferta", source="spa_Latn"),
        GlossaryTerm("iphone", ignore_case=True),
        GlossaryTerm("抢购"),
    ])
    assert [s.text for s in glossary.mask("Applebee sells apple pie", "en").spans] == []
    assert [s.text for s in glossary.mask("Apple and IPhone", "en").spans] == ["Apple", "IPhone"]
    assert [s.text for s in glossary.mask("la oferta", "es").spans] == ["oferta"]
    assert [s.text for s in glossary.mask("the oferta", "en").spans] == []
    assert [s.text for s in glossary.mask("限时抢购开始", "zh").spans] == ["抢购"]


def test_longest_term_wins() -> None:
    glossary = Glossary([GlossaryTerm("Live"), GlossaryTerm("Live Shop")])
    assert [s.text for s in glossary.mask("Welcome to Live Shop", "en").spans] == ["Live Shop"]


def test_load_json(tmp_path: Path) -> None:
    path = tmp_path / "g.json"
    path.write_text(
        '{"terms": ["Livetrans", {"term": "flash sale", "source": "en",'
        ' "translations": {"es": "oferta relámpago", "zh-TW": "限時搶購", "fr": ""}}]}',
        encoding="utf-8",
    )
    glossary = load_glossary(path)
    by_term = {t.term: t for t in glossary.terms}
    assert by_term["Livetrans"].translations == {}
    assert by_term["flash sale"].translations == {"spa_Latn": "oferta relámpago", "zho_Hant": "限時搶購"}
    assert by_term["flash sale"].source == "eng_Latn"


def test_load_csv(tmp_path: Path) -> None:
    path = tmp_path / "g.csv"
    path.write_text("term,source,es,zh-TW\nLivetrans,,,\nflash sale,en,oferta relámpago,限時搶購\n",
                    encoding="utf-8")
    glossary = load_glossary(path)
    by_term = {t.term: t for t in glossary.terms}
    assert by_term["Livetrans"].translations == {}
    assert by_term["flash sale"].output("spa_Latn") == "oferta relámpago"
    assert by_term["flash sale"].output("deu_Latn") == "flash sale"


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("g.json", "{not json", "not valid JSON"),
        ("g.json", '{"terms": [{"translations": {}}]}', "entry 1: a glossary entry needs"),
        ("g.json", '{"terms": [{"term": "x", "translations": {"qq": "y"}}]}', "unknown language code 'qq'"),
        ("g.json", '{"terms": 5}', "must hold a list"),
        ("g.csv", "word,es\nx,y\n", "needs a header row with a 'term' column"),
        ("g.txt", "x", "must be a .json or .csv"),
    ],
)
def test_bad_glossary_files(tmp_path: Path, name: str, content: str, message: str) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(GlossaryError, match=re.escape(message)):
        load_glossary(path)


def test_missing_glossary_file(tmp_path: Path) -> None:
    with pytest.raises(GlossaryError, match="cannot read glossary"):
        load_glossary(tmp_path / "nope.json")
