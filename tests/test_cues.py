"""CueBuilder on hand-built sentences: line length, splitting, timing, streaming."""

from __future__ import annotations

import random
import re
from itertools import pairwise

import pytest

from livetrans.core.cue_layout import max_chars_per_line
from livetrans.core.cues import CueBuilder, CueOptions, build_cues
from livetrans.core.text import is_cjk_text
from livetrans.types import CaptionEvent, Cue, Event, SentenceEvent, TranslationEvent, Word

OPTIONS = CueOptions()


def spoken(text: str, start: float = 0.0, seconds_per_word: float = 0.3) -> tuple[Word, ...]:
    """Whisper-style words (leading spaces) at a steady pace."""
    words = []
    for i, token in enumerate(text.split()):
        begin = start + i * seconds_per_word
        words.append(Word(begin, begin + seconds_per_word - 0.05, (" " if i else "") + token))
    return tuple(words)


def sentence(
    text: str, start: float = 0.0, pace: float = 0.3, lang: str = "en", id: str = "s"
) -> SentenceEvent:
    words = spoken(text, start, pace)
    return SentenceEvent(
        id=id, start=words[0].start, end=words[-1].end, text=text, lang=lang, words=words
    )


def ms(seconds: float) -> int:
    return round(seconds * 1000)


def check_track(cues: list[Cue], options: CueOptions = OPTIONS) -> None:
    """Invariants of one language's cues: lines, order, no overlap, max duration."""
    for cue in cues:
        limit = max_chars_per_line(cue.text, options)
        assert 1 <= len(cue.lines) <= options.max_lines, cue
        assert all(0 < len(line) <= limit for line in cue.lines), cue
        assert ms(cue.end) - ms(cue.start) <= ms(options.max_duration), cue
        assert cue.end > cue.start, cue
    for before, after in pairwise(cues):
        assert ms(after.start) - ms(before.end) >= ms(options.min_gap), (before, after)


def squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


ENGLISH = (
    "So today we are going to talk about the new budget, which the council approved last night "
    "after a long debate, and we will look at what it means for schools, hospitals and the roads "
    "that everyone in the city uses every day."
)
SPANISH = (
    "Hoy vamos a hablar del nuevo presupuesto, que el consejo aprobó anoche después de un largo "
    "debate, y veremos qué significa para las escuelas, los hospitales y las carreteras."
)
CHINESE = "今天我们要讨论新的预算，市议会昨晚经过长时间的辩论后批准了这项预算，我用iPhone拍了照片。"
JAPANESE = "「こんにちは」と彼は言った。東京タワーに行きましょう、ちょっと待ってください。今日はとても暑いですね。"
KOREAN = (
    "오늘은 새로운 예산에 대해 이야기하겠습니다 시의회는 어젯밤 긴 토론 끝에 예산을 승인했습니다"
)


@pytest.mark.parametrize(
    "lang, text, limit",
    [
        ("en", ENGLISH, 42),
        ("es", SPANISH, 42),
        ("zh", CHINESE, 16),
        ("ja", JAPANESE, 16),
        ("ko", KOREAN, 16),
    ],
)
def test_lines_keep_the_limit_of_their_script_and_all_the_text(
    lang: str, text: str, limit: int
) -> None:
    """Latin lines hold <= 42 characters, CJK lines <= 16; no character is lost or reordered."""
    cues = build_cues([TranslationEvent("s", lang, "en", text, 0.0, 30.0)])
    assert len(cues) >= 2
    check_track(cues)
    assert max(len(line) for cue in cues for line in cue.lines) <= limit
    assert squash("".join(cue.text for cue in cues)) == squash(text)


def test_the_script_decides_the_limit_not_the_language_code() -> None:
    """English text tagged 'ja' still gets 42 characters a line; Chinese tagged 'en' gets 16."""
    assert max_chars_per_line("Hello there, this is English", OPTIONS) == 42
    assert max_chars_per_line(CHINESE, OPTIONS) == 16
    assert is_cjk_text("我用iPhone拍照")
    assert is_cjk_text("안녕하세요 여러분")
    assert not is_cjk_text("Привет, мир")
    assert not is_cjk_text("I said 你好 to them today")


def test_chinese_never_breaks_inside_an_embedded_latin_word_nor_before_punctuation() -> None:
    text = "我们今天在发布会上看到了全新的iPhone手机，价格是九百九十九美元。大家都很兴奋，然后我们去吃饭。"
    cues = build_cues([TranslationEvent("s", "zh", "en", text, 0.0, 20.0)])
    lines = [line for cue in cues for line in cue.lines]
    assert any("iPhone" in line for line in lines)
    assert all(not line.startswith(("，", "。", "、")) for line in lines)
    assert all(len(line) <= 16 for line in lines)


def test_japanese_keeps_brackets_and_small_kana_with_their_neighbours() -> None:
    cues = build_cues([TranslationEvent("s", "ja", "en", JAPANESE, 0.0, 20.0)])
    for line in (line for cue in cues for line in cue.lines):
        assert not line.startswith(("」", "、", "。", "っ", "ょ", "ー"))
        assert not line.endswith("「")


def test_korean_breaks_at_spaces_only() -> None:
    cues = build_cues([TranslationEvent("s", "ko", "en", KOREAN, 0.0, 20.0)])
    words = set(KOREAN.split())
    assert all(set(line.split()) <= words for cue in cues for line in cue.lines)


def test_a_forty_word_sentence_splits_into_ordered_readable_cues() -> None:
    """40 words at 0.3 s each: several cues of <= 2 lines, 0.83-7 s, ordered, apart by >= 40 ms."""
    text = " ".join(ENGLISH.split()[:40])
    event = sentence(text, start=10.0)
    cues = build_cues([event])
    assert len(cues) >= 3
    check_track(cues)
    for cue in cues:
        assert ms(OPTIONS.min_duration) <= ms(cue.end) - ms(cue.start) <= ms(OPTIONS.max_duration)
    assert cues[0].start == pytest.approx(10.0)
    assert cues[-1].end >= event.end
    assert " ".join(cue.text.replace("\n", " ") for cue in cues) == text


def test_cue_starts_are_the_starts_of_their_first_words() -> None:
    event = sentence(ENGLISH, start=3.0)
    starts = {ms(w.start) for w in event.words}
    cues = build_cues([event])
    assert all(ms(cue.start) in starts for cue in cues)


@pytest.mark.parametrize(
    "text, lines",
    [
        (  # after the comma, not at the balanced middle
            "In the end the vote was very close, but the new budget passed by two votes.",
            ("In the end the vote was very close,", "but the new budget passed by two votes."),
        ),
        (  # before the conjunction, not after "the"
            "In the end the vote was very close but the new budget passed by two votes anyway.",
            (
                "In the end the vote was very close but",
                "the new budget passed by two votes anyway.",
            ),
        ),
    ],
)
def test_line_breaks_prefer_punctuation_and_conjunctions(text: str, lines: tuple[str, ...]) -> None:
    cues = build_cues([sentence(text)])
    assert [cue.lines for cue in cues] == [lines]


def test_a_cue_break_follows_a_long_pause() -> None:
    """Two phrases with a 1 s pause between them and a balanced break elsewhere: cut at the pause."""
    first = spoken("We will be right back after the break", 0.0, 0.3)
    second = spoken(
        "and then the weather for the whole weekend is coming up", first[-1].end + 1.0, 0.3
    )
    second = (Word(second[0].start, second[0].end, " " + second[0].text),) + second[1:]
    words = first + second
    text = "".join(w.text for w in words)
    cues = build_cues([SentenceEvent("s", 0.0, words[-1].end, text, "en", words)])
    assert [cue.text.replace("\n", " ") for cue in cues] == [
        "We will be right back after the break",
        "and then the weather for the whole weekend is coming up",
    ]


def test_a_short_word_is_extended_to_the_minimum_duration_when_the_gap_allows() -> None:
    """ "Yes." spoken in 0.2 s, next sentence 3 s later: shown for 0.83 s."""
    first = SentenceEvent("a", 1.0, 1.2, "Yes.", "en", (Word(1.0, 1.2, " Yes."),))
    second = sentence("Then we went home.", start=4.0, id="b")
    cues = build_cues([first, second])
    assert ms(cues[0].start) == 1000
    assert ms(cues[0].end) == 1830


def test_a_short_word_is_not_extended_over_the_next_cue() -> None:
    """ "Yes." spoken in 0.2 s, next sentence 0.3 s later: ends 40 ms before it, shorter than 0.83 s."""
    first = SentenceEvent("a", 1.0, 1.2, "Yes.", "en", (Word(1.0, 1.2, " Yes."),))
    second = sentence("Then we went home.", start=1.5, id="b")
    cues = build_cues([first, second])
    assert [ms(c.start) for c in cues] == [1000, 1500]
    assert ms(cues[0].end) == 1460


READING_TEXT = "abcdefghij abcdefghij abcdefghij abcdefghij abcdefghij abcdefghi"


@pytest.mark.parametrize(
    "next_start, end_ms",
    [
        (10.0, 3150),  # room: 63 characters on two lines at 20 cps need 3.15 s
        (2.2, 2160),  # no room: ends 40 ms before the next cue, read at 29 cps (not forced)
    ],
)
def test_reading_speed_is_kept_where_timing_allows(next_start: float, end_ms: int) -> None:
    """Six words spoken in 1.8 s: the cue stays up until 20 cps, unless the next cue comes first."""
    words = tuple(
        Word(i * 0.3, i * 0.3 + 0.3, (" " if i else "") + w)
        for i, w in enumerate(READING_TEXT.split())
    )
    first = SentenceEvent("a", 0.0, 1.8, READING_TEXT, "en", words)
    second = sentence("Next.", start=next_start, id="b")
    cues = build_cues([first, second])
    assert sum(len(line) for line in cues[0].lines) == 63
    assert (ms(cues[0].start), ms(cues[0].end)) == (0, end_ms)
    assert ms(cues[1].start) == ms(next_start)


def test_slow_speech_is_split_to_keep_each_cue_under_seven_seconds() -> None:
    """12 short words 1 s apart fit two lines but last 12 s: split, none over 7 s."""
    cues = build_cues(
        [sentence("one two three four five six seven eight nine ten eleven twelve", pace=1.0)]
    )
    assert len(cues) >= 2
    check_track(cues)


def test_a_single_word_longer_than_the_maximum_is_cut_at_seven_seconds() -> None:
    event = SentenceEvent("a", 0.0, 9.0, "Hmm.", "en", (Word(0.0, 9.0, " Hmm."),))
    cues = build_cues([event])
    assert [(ms(c.start), ms(c.end)) for c in cues] == [(0, 7000)]


def test_a_translation_spans_its_source_sentence() -> None:
    """No word times: cues share the sentence's 4-16 s by characters, first at 4 s, last to >= 16 s."""
    event = TranslationEvent("s", "es", "en", SPANISH, 4.0, 16.0)
    cues = build_cues([event])
    assert len(cues) >= 2
    check_track(cues)
    assert ms(cues[0].start) == 4000
    assert ms(cues[-1].end) >= 16000
    chars = [len(c.text.replace("\n", "")) for c in cues]
    shares = [(c.end - c.start) / 12.0 for c in cues[:-1]]
    for share, count in zip(shares, chars):
        assert share == pytest.approx(count / sum(chars), abs=0.05)


def test_multi_character_cjk_words_share_their_time() -> None:
    """A Whisper word of 4 characters over 0-2 s can be split; its halves keep 0-1 s and 1-2 s."""
    words = tuple(
        Word(i * 2.0, i * 2.0 + 2.0, text)
        for i, text in enumerate(
            ["今天天气", "非常好，", "我们一起", "去公园散", "步吧。", "然后回家", "吃晚饭。"]
        )
    )
    event = SentenceEvent("s", 0.0, 14.0, "".join(w.text for w in words), "zh", words)
    cues = build_cues([event])
    check_track(cues)
    assert "".join(c.text.replace("\n", "") for c in cues) == event.text


def test_streaming_holds_only_the_last_cue_of_each_item() -> None:
    """push returns every cue but the last; the next push or flush releases it, as build_cues does."""
    items = [sentence(ENGLISH, 0.0, id="a"), sentence("And that is all for tonight.", 20.0, id="b")]
    builder = CueBuilder()
    first = builder.push(items[0])
    assert len(first) == len(build_cues(items[:1])) - 1
    second = builder.push(items[1])
    assert len(second) == 1 and second[0].start < 20.0
    last = builder.flush()
    assert len(last) == 1 and ms(last[0].start) == 20000
    assert first + second + last == build_cues(items)
    assert builder.flush() == []


def test_each_language_is_its_own_track() -> None:
    """Source sentences and two translations interleaved: each language ordered and non-overlapping."""
    items: list[Event] = []
    for k in range(4):
        src = sentence(
            f"This is sentence number {k} of the stream, spoken slowly.", start=k * 4.0, id=str(k)
        )
        items.append(src)
        items.append(
            TranslationEvent(
                str(k),
                "es",
                "en",
                f"Esta es la frase número {k} de la emisión.",
                src.start,
                src.end,
            )
        )
        items.append(
            TranslationEvent(
                str(k), "zh", "en", f"这是直播中的第{k}句话，说得很慢。", src.start, src.end
            )
        )
    cues = build_cues(items)
    for lang in ("en", "es", "zh"):
        track = [c for c in cues if c.lang == lang]
        assert len(track) == 4
        check_track(track)


def test_an_item_that_starts_before_the_previous_cue_is_shown_after_it() -> None:
    late = sentence("This came first.", start=0.0, id="b")
    early = sentence("But arrived second.", start=5.0, id="a")
    cues = build_cues([early, late])
    check_track(cues)
    assert cues[1].start > cues[0].start


def test_overlapping_word_times_never_make_cues_overlap() -> None:
    a = SentenceEvent("a", 0.0, 1.05, "Right.", "en", (Word(0.0, 1.05, " Right."),))
    b = SentenceEvent("b", 1.0, 1.5, "Okay.", "en", (Word(1.0, 1.5, " Okay."),))
    c = SentenceEvent("c", 1.02, 1.6, "Go.", "en", (Word(1.02, 1.6, " Go."),))
    cues = build_cues([a, b, c])
    check_track(cues)
    assert cues[1].start >= 1.0 and cues[2].start >= cues[1].start


def test_captions_and_empty_sentences_make_no_cues() -> None:
    caption = CaptionEvent(kind="final", id="c", start=0.0, end=1.0, text="Hello", lang="en")
    empty = SentenceEvent("s", 0.0, 1.0, "  ", "en")
    assert build_cues([caption, empty]) == []


def test_options_change_the_limits() -> None:
    options = CueOptions(max_lines=1, max_chars_latin=20)
    cues = build_cues(
        [sentence("The quick brown fox jumps over the lazy dog again and again.")], options
    )
    assert len(cues) >= 3
    check_track(cues, options)


def random_stream(rng: random.Random, count: int) -> list[Event]:
    """Sentences of 1-60 words with uneven pace, pauses and overlapping word times,
    each followed by a Chinese translation."""
    items: list[Event] = []
    clock = 0.0
    for k in range(count):
        words = []
        for i in range(rng.randint(1, 60)):
            clock += rng.choice([-0.05, 0.0, 0.02, 0.1, 0.4, 1.5])
            clock = max(clock, 0.0)
            length = rng.uniform(0.05, 1.2)
            token = "".join(rng.choice("abcdefghijklmnop") for _ in range(rng.randint(1, 12)))
            token += rng.choice(["", "", "", ",", "."])
            words.append(Word(clock, clock + length, (" " if i else "") + token))
            clock += length
        text = "".join(w.text for w in words)
        items.append(SentenceEvent(str(k), words[0].start, clock, text, "en", tuple(words)))
        chinese = "".join(rng.choice("我们今天讨论新的预算，。") for _ in range(len(words) * 2))
        items.append(TranslationEvent(str(k), "zh", "en", chinese, words[0].start, clock))
        clock += rng.choice([0.0, 0.1, 0.5, 3.0])
    return items


@pytest.mark.parametrize("seed", range(8))
def test_random_streams_keep_every_rule(seed: int) -> None:
    """Invariants on random streams: limits, order, gaps, text kept, minimum duration and
    reading speed reached whenever the next cue leaves room, streaming == offline."""
    items = random_stream(random.Random(seed), 12)
    builder = CueBuilder()
    streamed = [cue for item in items for cue in builder.push(item)] + builder.flush()
    assert streamed == build_cues(items)
    for lang in ("en", "zh"):
        track = [c for c in streamed if c.lang == lang]
        check_track(track)
        texts = [i.text for i in items if isinstance(i, (SentenceEvent, TranslationEvent)) and i.lang == lang]
        assert squash("".join(c.text for c in track)) == squash("".join(texts))
        for cue, after in zip(track, track[1:] + [None]):
            room = float("inf") if after is None else after.start - OPTIONS.min_gap - cue.start
            chars = sum(len(line) for line in cue.lines)
            wanted = min(max(OPTIONS.min_duration, chars / OPTIONS.max_cps), OPTIONS.max_duration)
            assert cue.end - cue.start >= min(wanted, room) - 0.0015, (cue, after)


def test_one_source_track_keeps_every_language_in_one_sequence_of_cues() -> None:
    """A source-caption file: sentences of any language in one track, so their cues
    never overlap and keep their order; each cue keeps its sentence's language, and
    translations keep tracks of their own."""
    builder = CueBuilder(one_source_track=True)
    items: list[Event] = [
        sentence("Hola a todos.", 0.0, lang="es", id="s1"),
        sentence("And welcome to the show.", 0.8, lang="en", id="s2"),
        TranslationEvent(id="s1", lang="en", source_lang="es", text="Hello everyone.", start=0.0, end=0.9),
        sentence("Ja.", 2.5, lang="de", id="s3"),
    ]
    cues = [cue for item in items for cue in builder.push(item)] + builder.flush()
    source = [c for c in cues if c.text != "Hello everyone."]
    assert [c.lang for c in source] == ["es", "en", "de"]
    assert all(a.end <= b.start for a, b in pairwise(source))
    assert [c.lang for c in cues if c.text == "Hello everyone."] == ["en"]
    # Without it, each language has a track and cues of two languages may overlap.
    apart = build_cues(items[:2])
    assert apart[0].end > apart[1].start


def test_a_word_longer_than_a_line_is_cut_into_line_long_pieces() -> None:
    word = "https://example.com/" + "x" * 70
    cues = build_cues([sentence(f"Visit {word} today")])
    lines = [line for cue in cues for line in cue.text.split("\n")]
    assert all(len(line) <= 42 for line in lines)
    assert "".join(lines).replace(" ", "") == f"Visit{word}today"
    assert all(a.end <= b.start for a, b in pairwise(cues))


def test_a_word_many_lines_long_spans_many_cues_within_its_time() -> None:
    # A runaway token: more pieces than one cue holds (the fan-out tests send these).
    word = "x" * 1000
    item = SentenceEvent(id="s", start=2.0, end=6.0, text=word, lang="en")
    cues = build_cues([item])
    assert len(cues) > 1
    assert "".join(c.text.replace("\n", "") for c in cues) == word
    assert all(2.0 <= c.start < 6.0 for c in cues)
    assert all(a.end <= b.start for a, b in pairwise(cues))
