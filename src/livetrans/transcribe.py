"""``livetrans transcribe``: files and streams to captions, subtitle files and JSONL.

Two paths:

- offline (a file, no ``--live``): the fastest way through a file. Silero VAD plus
  batched Whisper decoding, a progress bar, then sentences, translations and cues.
- live (``--live``, a stream URL, or stdin): the streaming pipeline at real time,
  captions printed as they come; files are written as it goes and committed at the
  end (also after Ctrl-C, so nothing already captioned is lost).

Either way the files appear only once complete: a failure leaves nothing behind.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from dataclasses import replace
from pathlib import Path

from .asr.offline import transcribe_offline
from .asr.whisper import Task
from .console import CaptionPrinter
from .core.cues import CueBuilder
from .core.segmenter import SentenceSegmenter
from .outputs import OutputWriter
from .pipeline import EventStamper, LivePipeline, PipelineConfig, SpeechModels, build_translation_stage
from .sources import STDIN_SPEC, audio_source, check_input, is_stream_url, load_audio
from .types import Event, SentenceEvent, TranslationEvent

build_translator = build_translation_stage
log = logging.getLogger(__name__)


def _base_name(spec: str) -> str:
    if spec == STDIN_SPEC:
        return "stdin"
    name = Path(spec.split("?")[0].rstrip("/")).stem
    return name or "stream"


def _writer(spec: str, config: PipelineConfig, args: argparse.Namespace) -> OutputWriter:
    return OutputWriter(args.output_dir, _base_name(spec), args.format, config.targets)


class SubtitleCues:
    """Sentences and translations into the subtitle files: the source captions in one
    file in time order (whatever language each sentence is in), each translation in its
    target language's file."""

    def __init__(self, writer: OutputWriter, task: Task) -> None:
        self.writer = writer
        self._source = CueBuilder(one_source_track=True)
        self._translations = CueBuilder()
        # Whisper's translate task writes English whatever language it heard; the
        # events keep the detected language, the cues say what their text is in.
        self._text_language = "en" if task == "translate" else None

    def push(self, event: Event) -> None:
        if isinstance(event, SentenceEvent):
            if self._text_language is not None:
                event = replace(event, lang=self._text_language)
            self.writer.write_source_cues(self._source.push(event))
        elif isinstance(event, TranslationEvent):
            self.writer.write_translation_cues(self._translations.push(event))

    def flush(self) -> None:
        self.writer.write_source_cues(self._source.flush())
        self.writer.write_translation_cues(self._translations.flush())


def run_offline(spec: str, config: PipelineConfig, args: argparse.Namespace) -> int:
    if spec == STDIN_SPEC or is_stream_url(spec):
        # A stream has no end to batch towards: caption it as it comes.
        import asyncio

        return asyncio.run(run_live(spec, config, args, paced=False))
    check_input(spec)
    vocabulary = config.load_vocabulary()  # a malformed file fails before the audio is read
    audio = load_audio(spec)
    models = SpeechModels.load(config)
    started = time.monotonic()
    duration = len(audio) / 16_000
    from tqdm import tqdm

    with tqdm(total=round(duration, 1), unit="s", desc="transcribing", disable=None, file=sys.stderr) as bar:
        transcript = transcribe_offline(
            models.whisper,
            audio,
            language=config.language,
            vocabulary=vocabulary,
            guards=config.recognizer.guards,
            progress=lambda done: bar.update(round(min(done, duration) - bar.n, 1)),
        )
        bar.update(round(duration - bar.n, 1))
    translator = build_translator(config, transcript.language)
    # Offline there is no one waiting: whole sentences, which translate better.
    segmenter = SentenceSegmenter(replace(config.recognizer.segmenter, clause_min_words=None))
    stamper = EventStamper(0, lambda: time.monotonic() - started)
    events: list[Event] = []
    recognised: list[Event] = []
    for window in transcript.windows:
        recognised.extend(segmenter.push(window.words, window.language))
    recognised.extend(segmenter.close())
    for event in recognised:
        events.append(stamper.stamp(event))
        if translator is not None and isinstance(event, SentenceEvent):
            events.extend(stamper.stamp(t) for t in translator.push(event))
    with _writer(spec, config, args) as writer:
        cues = SubtitleCues(writer, config.task)
        for event in events:
            writer.write_event(event)
            cues.push(event)
        cues.flush()
        paths = writer.commit()
    for path in paths:
        print(path)
    return 0


async def run_live(spec: str, config: PipelineConfig, args: argparse.Namespace, *, paced: bool = True) -> int:
    import asyncio

    check_input(spec)
    models = await asyncio.to_thread(SpeechModels.load, config)
    translator = await asyncio.to_thread(build_translator, config, config.language)
    pipeline = LivePipeline(config, models=models, translator=translator)
    printer = CaptionPrinter(args.print_mode, sys.stdout)
    writer = _writer(spec, config, args)
    cues = SubtitleCues(writer, config.task)
    source = audio_source(
        spec,
        live=paced,
        pcm_rate=args.pcm_rate,
        pcm_channels=args.pcm_channels,
        pcm_format=args.pcm_format,
    )
    try:
        async for event in pipeline.run(source):
            printer.show(event)
            writer.write_event(event)
            cues.push(event)
    except (KeyboardInterrupt, asyncio.CancelledError):
        cues.flush()
        writer.commit()
        raise
    except BaseException:
        writer.abort()
        raise
    cues.flush()
    paths = writer.commit()
    if args.print_mode == "text":
        print(f"real-time factor {pipeline.real_time_factor:.2f}", file=sys.stderr)
        for path in paths:
            print(path, file=sys.stderr)
    return 0


__all__ = ["CaptionPrinter", "build_translator", "run_live", "run_offline"]
