"""Final words into final caption events and sentences."""

from scripted import sentence_words

from livetrans.core.segmenter import SegmenterOptions, SentenceSegmenter, ends_sentence
from livetrans.types import CaptionEvent, SentenceEvent, Word


def split(events):
    finals = [e for e in events if isinstance(e, CaptionEvent)]
    sentences = [e for e in events if isinstance(e, SentenceEvent)]
    return finals, sentences


def test_sentence_closes_at_its_full_stop_and_lists_its_finals():
    s = SentenceSegmenter()
    f1, s1 = split(s.push(sentence_words("We have a great", 0.0), "en"))
    f2, s2 = split(s.push(sentence_words("offer today. And", 1.6), "en"))
    assert s1 == [] and [f.text for f in f1] == ["We have a great"]
    assert [f.text for f in f2] == ["offer today.", "And"]
    assert [x.text for x in s2] == ["We have a great offer today."]
    assert s2[0].caption_ids == (f1[0].id, f2[0].id)
    assert f1[0].sentence_id == f2[0].sentence_id == s2[0].id
    assert f2[1].sentence_id != s2[0].id


def test_abbreviations_do_not_end_a_sentence():
    assert not ends_sentence(Word(0, 1, " Mr."))
    assert not ends_sentence(Word(0, 1, " Dr."))
    assert ends_sentence(Word(0, 1, " today."))
    assert ends_sentence(Word(0, 1, " really?!"))
    assert ends_sentence(Word(0, 1, "析。"))


def test_chinese_full_stop_ends_a_sentence():
    s = SentenceSegmenter()
    words = [Word(0, 0.3, "今天"), Word(0.3, 0.6, "特价。"), Word(0.7, 1.0, "快")]
    _, sentences = split(s.push(words, "zh"))
    assert [x.text for x in sentences] == ["今天特价。"]


def test_a_sentence_that_runs_on_is_cut_at_the_limit():
    s = SentenceSegmenter(SegmenterOptions(max_words=10))
    _, sentences = split(s.push(sentence_words(" ".join(["word"] * 25), 0.0), "en"))
    assert [len(x.words) for x in sentences] == [11, 11]


def test_language_change_and_close_end_the_open_sentence():
    s = SentenceSegmenter()
    s.push(sentence_words("hola a todos", 0.0), "es")
    finals, sentences = split(s.push(sentence_words("hello", 2.0), "en"))
    assert [x.text for x in sentences] == ["Hola a todos"] and sentences[0].lang == "es"
    assert finals[0].lang == "en"
    _, closed = split(s.close())
    assert [x.text for x in closed] == ["Hello"]
    assert s.close() == []


def test_ids_are_unique_and_the_next_id_is_announced():
    s = SentenceSegmenter()
    announced = s.next_caption_id
    finals, _ = split(s.push(sentence_words("one. two. three", 0.0), "en"))
    assert finals[0].id == announced
    assert len({f.id for f in finals}) == len(finals) == 3


def test_a_sentence_starts_with_a_capital():
    s = SentenceSegmenter()
    finals, sentences = split(s.push(sentence_words("se recomienda. y tiene", 0.0), "es"))
    assert [f.text for f in finals] == ["Se recomienda.", "Y tiene"]
    finals, _ = split(SentenceSegmenter().push([Word(0, 1, "¿qué?")], "es"))
    assert finals[0].text == "¿Qué?"
    finals, _ = split(SentenceSegmenter().push([Word(0, 1, "广州")], "zh"))
    assert finals[0].text == "广州"


def test_live_segments_cut_long_sentences_at_clause_boundaries():
    words = sentence_words("And so my fellow Americans, ask not what your country can do for you, ask", 0.0)
    _, live = split(SentenceSegmenter().push(words, "en"))
    assert [x.text for x in live] == [
        "And so my fellow Americans,",
        "Ask not what your country can do for you,",
    ]
    _, short = split(SentenceSegmenter().push(sentence_words("Yes, we can.", 0.0), "en"))
    assert [x.text for x in short] == ["Yes, we can."]  # a comma early on does not cut
    offline = SentenceSegmenter(SegmenterOptions(clause_min_words=None))
    _, whole = split(offline.push(words, "en"))
    assert whole == []
