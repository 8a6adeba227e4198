"""The streaming recogniser's options, one group per part, and its counters."""

from __future__ import annotations

from dataclasses import dataclass, field

from .commit import CommitOptions
from .guards import GuardOptions
from .language import LanguageOptions
from .schedule import ScheduleOptions
from .segmenter import SegmenterOptions
from .utterance import UtteranceOptions
from .window import WindowOptions


@dataclass(frozen=True)
class RecognizerOptions:
    language: str | None = None  # None: detect per utterance
    utterance: UtteranceOptions = field(default_factory=UtteranceOptions)
    schedule: ScheduleOptions = field(default_factory=ScheduleOptions)
    window: WindowOptions = field(default_factory=WindowOptions)
    guards: GuardOptions = field(default_factory=GuardOptions)
    # When detection settles the language; nothing becomes final before (language.py).
    language_detection: LanguageOptions = field(default_factory=LanguageOptions)
    commit: CommitOptions = field(default_factory=CommitOptions)
    segmenter: SegmenterOptions = field(default_factory=SegmenterOptions)

    @property
    def beam(self) -> int:
        """The running decodes' beam size."""
        return self.schedule.beam


@dataclass
class RecognizerStats:
    decodes: int = 0  # decodes answered or failed so far (the virtual clock charges per decode)
    failed: int = 0  # of which failed
