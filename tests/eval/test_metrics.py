"""The scoring normaliser: what Whisper may write either way scores the same."""

from __future__ import annotations

import pytest

from livetrans.evaluation.metrics import error_rate


@pytest.mark.parametrize(
    ("reference", "hypothesis"),
    [
        ("开放时间早上9点至下午5点。", "开放时间早上九点至下午五点。"),  # numbers in characters or digits
        ("今天的价格是1299元", "今天的价格是一千二百九十九元"),
        ("开放时间早上9点至下午5点。", "開放時間早上9點,至下午5點"),  # Traditional script, punctuation
        ("The price is 25 dollars.", "the price is twenty five dollars"),
    ],
)
def test_the_same_words_written_another_way_score_no_error(reference: str, hypothesis: str) -> None:
    lang = "en" if reference.isascii() else "zh"
    assert error_rate(reference, hypothesis, lang) == 0.0


def test_a_wrong_number_or_word_still_counts() -> None:
    assert error_rate("早上9点", "早上八点", "zh") == pytest.approx(1 / 4)  # 9 against 8
    assert error_rate("广州市房地产", "国中市房地产", "zh") == pytest.approx(2 / 6)
