"""Which language an utterance is in, from Whisper's detections on its decodes.

Language detection on a second or two of speech is unreliable (it may name a
neighbouring or an unrelated language, even with a high probability), so the
recogniser makes nothing final before the language is *settled*.
Each decode of the utterance so far votes with its detection, weighted by the
seconds it heard; a speaker mostly goes on in the language they were speaking, so
the previous utterance's language counts ``continuity`` times in each detection.
A switch away from it while it keeps a fair share of the votes is only *contested*
here, and so is a close call in the first utterance: the recogniser then lets the
decoder's own likelihood of the words decide (``rival``, ``rival_wins``).
Nothing here knows about audio or models: detections come in as (language,
probability) pairs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class LanguageOptions:
    sure: float = 0.9  # a detection this confident settles it at once
    confirm: float = 0.7  # ... this confident, if it repeats the previous utterance's
    window: float = 2.0  # seconds of window after which a clear majority settles it
    majority: float = 0.6  # share of the detection votes that is a clear majority
    votes_until: float = 5.0  # seconds after which the votes so far decide
    min_window: float = 1.5  # seconds: no detection on less settles it
    continuity: float = 2.0  # weight of the previous utterance's language
    # The same language on top of two detections in a row, on a window this long, the
    # second at least ``steady_p`` and ``steady_lead`` times the runner-up, settles it:
    # an accented speaker's language may be detected at middling probabilities, the
    # same runner-up each time, and never reach ``majority`` of the votes before the pause.
    steady_window: float = 2.0
    steady_p: float = 0.5
    steady_lead: float = 2.0
    # A switch away from the previous utterance's language while that language keeps
    # a tenth of the votes is a close call between neighbours (a short phrase in the
    # speaker's language detected as a closely related one): the recogniser decodes
    # the window in both and keeps the likelier (``contested``).
    # At switches between distant languages the previous one kept 0-4 % of the votes
    # (docs/benchmarks.md), and the window is not decoded twice more there.
    contest_share: float = 0.1
    # The first utterance has no language before it: there a runner-up with at least
    # this share of the leader's votes is a close call, decoded in both (``rival``),
    # as the offline path does with each window's detection.
    close_call: float = 0.5


@dataclass(frozen=True)
class LanguageDecode:
    """A window decoded in one language of a close call, as the call weighs it."""

    heard: bool  # words came out (streaming: the decoder's; offline: the ones the guards kept)
    looped: bool  # the loop guard dropped it
    avg_logprob: float

    @property
    def contestable(self) -> bool:
        """Whether another language's decode may take this window's place: where the
        detected language heard nothing and did not loop, the window stays empty.
        Noise alone detects as a close call between any two languages, and a second
        decode is a second chance to invent words."""
        return self.heard or self.looped


def rival_wins(detected: LanguageDecode, rival: LanguageDecode) -> bool:
    """The close-call rule, shared by the streaming and the offline paths: the
    rival's decode wins where the detected one is ``contestable`` and the rival's
    words are likelier (a looping or empty decode is never likelier). The words
    weigh the whole window; the detection only its start."""
    if not detected.contestable or not rival.heard or rival.looped:
        return False
    return not detected.heard or detected.looped or rival.avg_logprob > detected.avg_logprob


class LanguageVote:
    """The language of the current utterance: fixed by the user, or voted on."""

    def __init__(self, options: LanguageOptions | None = None, fixed: str | None = None) -> None:
        self.options = options or LanguageOptions()
        self._fixed = fixed
        self.language: str | None = fixed  # the settled one, or the last one settled
        self.settled = fixed is not None
        self.previous: str | None = None  # the language of the utterance before
        self._votes: dict[str, float] = {}
        self._last_top: str | None = None  # the previous detection's top language

    def new_utterance(self, *, keep: bool) -> None:
        """An utterance starts: detect its language again, unless ``keep`` (a short
        pause inside an open sentence is not where a speaker switches language)."""
        if self._fixed is not None:
            return
        self.previous = self.language
        self._votes = {}
        self._last_top = None
        self.settled = keep and self.language is not None

    def settle(self, language: str) -> None:
        self.language = language
        self.settled = True

    @property
    def settled_language(self) -> str | None:
        """The utterance's language once settled; None while it is being voted on."""
        return self.language if self.settled else None

    @property
    def leader(self) -> str | None:
        """The language with the most votes in this utterance so far."""
        votes = self._votes
        return max(votes, key=votes.__getitem__) if votes else None

    def vote(self, ranked: Sequence[tuple[str, float]], window_seconds: float, *, final: bool) -> str | None:
        """One decode's detection (its top languages, best first) on ``window_seconds``
        of the utterance; returns the language to settle on, if this decides it. The
        decode at a pause (``final``) always decides: its words become final."""
        o = self.options
        weighted = dict(ranked)
        if self.previous in weighted:
            weighted[self.previous] *= o.continuity
        total = sum(weighted.values()) or 1.0
        for lang, probability in weighted.items():
            self._votes[lang] = self._votes.get(lang, 0.0) + probability / total * window_seconds
        top = max(weighted, key=lambda k: weighted[k])
        p = weighted[top] / total
        runner_up = max((v for k, v in weighted.items() if k != top), default=0.0) / total
        # Not for a switch away from the previous utterance's language: a middling
        # detection of another language, even twice, is weak against what the speaker
        # has been speaking.
        steady = top == self._last_top and self.previous in (None, top)
        self._last_top = top
        leader = self.leader
        assert leader is not None
        share = self._votes[leader] / (sum(self._votes.values()) or 1.0)
        if final or window_seconds >= o.votes_until:
            return leader
        if window_seconds < o.min_window:
            return None
        if p >= o.sure or (top == self.previous and p >= o.confirm):
            return top
        if window_seconds >= o.window and share >= o.majority:
            return leader
        if steady and window_seconds >= o.steady_window and p >= o.steady_p and p >= o.steady_lead * runner_up:
            return top
        return None

    def contested(self, language: str) -> bool:
        """Whether settling on ``language`` switches away from the previous utterance's
        language while that one still has ``contest_share`` of this utterance's votes."""
        previous = self.previous
        if self._fixed is not None or previous is None or language == previous:
            return False
        total = sum(self._votes.values())
        return total > 0 and self._votes.get(previous, 0.0) / total >= self.options.contest_share

    def rival(self, language: str) -> str | None:
        """The language to decode against ``language`` before settling on it: the
        previous utterance's on a contested switch, or, in the first utterance, the
        runner-up of a close call (``close_call``); None when the call is clear."""
        if self._fixed is not None:
            return None
        if self.previous is not None:
            return self.previous if self.contested(language) else None
        others = {k: v for k, v in self._votes.items() if k != language}
        if not others:
            return None
        runner_up = max(others, key=others.__getitem__)
        return runner_up if others[runner_up] >= self.options.close_call * self._votes.get(language, 0.0) else None

    def believable(self, language: str, window_seconds: float) -> bool:
        """Whether to show, before the language is settled, words decoded in
        ``language``: the speaker's language so far, or the leader of the votes once
        the window is long enough for a detection to count."""
        if language == self.previous:
            return True
        if self.previous is not None and window_seconds < self.options.min_window:
            return False
        leader = self.leader
        return leader is None or language == leader
