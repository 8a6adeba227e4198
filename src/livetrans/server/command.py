"""``livetrans serve``: the caption server, optionally fed from a file, URL or stdin.

    livetrans serve --input samples/demo.flac --live --to es,fr

prints the overlay and WebSocket URLs, prints captions as they become final,
and (with ``--input``) ends when the input ends unless ``--keep-serving``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import AsyncIterator, Coroutine
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote, urlencode, urlsplit

from ..core.batching import BatchOptions
from ..core.hls import HlsOptions
from ..errors import InputError, LivetransError, ProtocolError
from ..types import AudioChunk
from .admission import AdmissionRule
from .app import ROLES, CaptionServer, ServerConfig
from .bus import BUS_SCHEMES
from .hls import HlsConfig
from .protocol import check_stream_name

logger = logging.getLogger(__name__)

WORKER_THREADS = 256  # blocking calls the server runs at once: a few per live stream

T = TypeVar("T")

DEFAULT_PORT = 8765


def default_journal_dir() -> Path:
    state = os.environ.get("XDG_STATE_HOME") or os.path.join(os.path.expanduser("~"), ".local", "state")
    return Path(state) / "livetrans" / "journal"


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from ..options import add_model_options, positive_int

    serve = subparsers.add_parser(
        "serve",
        help="run the live caption server (WebSocket ingest and captions, overlay, metrics)",
        description="Live caption server. Encoders push audio to /v1/streams/NAME/ingest; viewers and the "
        "OBS overlay read /v1/streams/NAME/captions. See docs/protocol.md and docs/overlay.md.",
    )
    serve.add_argument("--input", metavar="URL|FILE|-", default=None,
                       help="start a stream from this source (a file, a stream URL, or - for PCM on stdin)")
    serve.add_argument("--live", action="store_true", help="pace a file --input at real time, like a broadcast")
    serve.add_argument("--stream", default="main", help="name of the --input stream (default: main)")
    serve.add_argument("--keep-serving", action="store_true",
                       help="keep serving after the --input ends (default: exit when it ends)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1; 0.0.0.0 for all)")
    serve.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default: {DEFAULT_PORT}; 0: any free port)")
    serve.add_argument("--token", default=os.environ.get("LIVETRANS_TOKEN"),
                       help="bearer token encoders must send to ingest (default: $LIVETRANS_TOKEN, else a random one, printed)")
    serve.add_argument("--viewer-token", default=os.environ.get("LIVETRANS_VIEWER_TOKEN"),
                       help="token viewers and the overlay must send (?token=); default: captions are public")
    serve.add_argument("--journal-dir", type=Path, default=None,
                       help=f"per-stream journals for resume across restarts (default: {default_journal_dir()})")
    serve.add_argument("--no-journal", action="store_true", help="keep events in memory only")
    serve.add_argument("--fsync-interval", type=float, default=1.0,
                       help="seconds between journal fsyncs; 0 syncs every event (default: 1)")
    serve.add_argument("--control-port", default=None, metavar="PORT|off",
                       help="port of the control API (PUT /v1/streams/NAME/vocabulary with the ingest token; "
                       "default: --port + 1, or any free port with --port 0; off: none)")
    serve.add_argument("--max-connections-per-address", type=int, default=32,
                       help="WebSocket connections one client address may hold (default: 32; 0: no limit)")
    serve.add_argument("--max-load", type=float, default=AdmissionRule.max_load,
                       help="refuse a new stream (close 1013) when one more would bring the speech model's "
                       "load over this: the live streams' real-time factors, summed, per decode slot (one a "
                       "core; over 1, streams wait for the model) (default: %(default)s; 0: admit all; "
                       "docs/scaling.md)")
    serve.add_argument("--viewer-queue", type=int, default=500,
                       help="finals a viewer may fall behind before it is told to resume (default: 500)")
    serve.add_argument("--batching", action=argparse.BooleanOptionalAction, default=None,
                       help="batch the streams' decodes into shared model calls (default: on with --device "
                       "cuda; off on CPU, where it measured no gain and a slower single stream: docs/benchmarks.md)")
    serve.add_argument("--max-batch", type=positive_int, default=BatchOptions.max_batch,
                       help="with batching, the most decode requests in one model call (default: %(default)s; "
                       "a GPU takes more: benchmarks/gpu_streams.sh measures 4 against 64)")
    serve.add_argument("--print", dest="print_mode", choices=("text", "jsonl", "none"), default="text",
                       help="what to print of the --input stream's captions (default: text)")
    bus = serve.add_argument_group("scaling out (docs/scaling.md)")
    bus.add_argument("--bus", metavar="redis://HOST:PORT/DB", default=os.environ.get("LIVETRANS_BUS"),
                     help="run as part of a deployment on this Redis (default: $LIVETRANS_BUS; none: one process)")
    bus.add_argument("--role", choices=ROLES, default=None,
                     help="with --bus: worker (ingest and pipelines), edge (viewers, from the bus alone) "
                     "or all (both; the default)")
    bus.add_argument("--lease-seconds", type=float, default=5.0,
                     help="a dead worker's broadcast is taken over after this (default: 5)")
    bus.add_argument("--bus-retention-events", type=int, default=100_000,
                     help="durable events kept per broadcast in Redis, about (default: 100000; 0: no limit)")
    bus.add_argument("--bus-retention-seconds", type=float, default=86_400.0,
                     help="events older than this are trimmed, and an idle broadcast's keys expire (default: 86400)")
    bus.add_argument("--bus-buffer-events", type=int, default=100_000,
                     help="durable events a worker holds in memory while Redis is unreachable (default: 100000)")
    serve.add_argument("--hls-dir", type=Path, default=None,
                       help="also write the HLS subtitle playlists and segments to this folder (docs/hls.md)")
    serve.add_argument("--hls-segment", type=float, default=2.0,
                       help="HLS subtitle segment length in seconds (default: 2)")
    serve.add_argument("--hls-window", type=int, default=15,
                       help="segments a live HLS subtitle playlist lists (default: 15)")
    serve.add_argument("--hls-pts-offset", type=float, default=0.0,
                       help="presentation time (s) of the first audio sample in the video, when the input "
                       "or the encoder does not give it (default: 0; FFmpeg's MPEG-TS output starts at 1.4)")
    serve.add_argument("--hls-base-url", default=None,
                       help="public URL of this server, for the subtitle URIs of master playlists (e.g. a CDN)")
    serve.add_argument("--pcm-rate", type=int, default=16_000, help="stdin PCM sample rate (default: 16000)")
    serve.add_argument("--pcm-channels", type=int, default=1)
    serve.add_argument("--pcm-format", choices=("s16le", "f32le"), default="s16le")
    add_model_options(serve)
    serve.set_defaults(handler=run_serve)


def server_config(args: argparse.Namespace) -> ServerConfig:
    kwargs: dict[str, object] = {}
    if args.token:
        kwargs["token"] = args.token
    journal = None if args.no_journal or args.bus else (args.journal_dir or default_journal_dir())
    return ServerConfig(
        bus_url=args.bus or None,
        role=args.role or "all",
        lease_seconds=args.lease_seconds,
        bus_retention_events=args.bus_retention_events,
        bus_retention_seconds=args.bus_retention_seconds,
        bus_buffer_events=args.bus_buffer_events,
        control_port=control_port(args),
        host=args.host,
        port=args.port,
        viewer_token=args.viewer_token or None,
        journal_dir=journal,
        fsync_interval=args.fsync_interval,
        max_connections_per_address=max(0, args.max_connections_per_address),
        max_durable_queue=max(1, args.viewer_queue),
        admission=AdmissionRule(max_load=args.max_load if args.max_load > 0 else None),
        source_lang=args.language,
        targets=tuple(args.to),
        hls=hls_config(args),
        **kwargs,  # type: ignore[arg-type]
    )


def control_port(args: argparse.Namespace) -> int | None:
    raw = args.control_port
    if raw is None:
        return args.port + 1 if args.port else 0
    if raw == "off":
        return None
    try:
        port = int(raw)
    except ValueError as e:
        raise InputError(f"--control-port {raw!r}: a port number, or off") from e
    if not 0 <= port <= 65535:
        raise InputError(f"--control-port {port}: a port number from 0 to 65535, or off")
    return port


def check_bus_options(args: argparse.Namespace) -> None:
    """Scaling-out options that cannot work together, refused before anything starts."""
    if args.role is not None and not args.bus:
        raise LivetransError(f"--role {args.role} needs --bus redis://HOST:PORT/DB (the Redis the roles share)")
    if args.bus:
        if urlsplit(args.bus).scheme not in BUS_SCHEMES:
            raise LivetransError(f"--bus {args.bus!r}: use a redis://HOST:PORT/DB URL (or rediss://, unix://, "
                                 "redis+sentinel://HOST:PORT/SERVICE/DB)")
        if args.lease_seconds < 1:
            raise LivetransError("--lease-seconds must be at least 1")
    if args.role == "edge" and args.input is not None:
        raise LivetransError("--input needs a worker: an edge runs no pipeline (use --role worker or all)")
def hls_config(args: argparse.Namespace) -> HlsConfig:
    if not args.hls_segment > 0 or args.hls_window < 1:
        raise InputError("--hls-segment must be positive and --hls-window at least 1")
    options = HlsOptions(segment_duration=args.hls_segment, window_segments=args.hls_window,
                         keep_segments=max(30, 2 * args.hls_window), pts_offset=args.hls_pts_offset)
    return HlsConfig(options=options, directory=args.hls_dir, base_url=args.hls_base_url)


async def with_start_pts(audio: AsyncIterator[AudioChunk]) -> tuple[float | None, AsyncIterator[AudioChunk]]:
    """The presentation time of the source's first sample (None if it has none), and the
    same audio: the first chunk is read ahead for it."""
    first = await anext(audio, None)

    async def rest() -> AsyncIterator[AudioChunk]:
        if first is None:
            return
        yield first
        async for chunk in audio:
            yield chunk

    return (first.pts if first is not None else None), rest()


def run_event_loop(main: Coroutine[Any, Any, T]) -> T:
    """Run the server on uvloop where it is installed (a dependency on Linux and macOS):
    its socket writes cost less CPU than asyncio's, and an edge makes one per viewer
    per event (docs/benchmarks.md, "Caption fan-out"); else on asyncio's own loop."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)


def run_serve(args: argparse.Namespace) -> int:
    try:
        check_stream_name(args.stream)
    except ProtocolError as e:
        raise InputError(f"--stream: {e}") from e
    check_bus_options(args)
    if args.input is not None and args.input != "-":
        from ..sources import check_input

        check_input(args.input)
    return run_event_loop(_serve(args))


def announce(server: CaptionServer, stream: str, languages: list[str], viewer_token: str | None) -> list[str]:
    """The lines that tell a user where everything is (printed at startup)."""
    query = {"stream": stream}
    if viewer_token:
        query["token"] = viewer_token
    role = server.config.role
    bus = f" ({role} on {server.config.bus_url})" if server.config.bus_url else ""
    lines = [f"livetrans server on {server.base_url}{bus}"]
    name = quote(stream, safe="")
    for lang in languages or [""]:
        q = dict(query, lang=lang) if lang else query
        label = lang or "source"
        lines.append(f"  overlay ({label}): {server.base_url}/overlay?{urlencode(q)}")
    captions = f"{server.ws_url}/v1/streams/{name}/captions"
    if server.config.serves_viewers:
        lines.append(f"  captions WebSocket: {captions}?lang=<{'|'.join(languages) or 'code'}>&since=<seq>")
        lines.append(f"  HLS subtitles: {server.base_url}/hls/{name}/<source|lang>.m3u8   "
                     f"master: {server.base_url}/hls/{name}/master.m3u8?origin=<URL>")
    else:
        lines = lines[:1]  # a worker serves no viewer, overlay or playlist
    if server.config.serves_ingest:
        lines.append(f"  ingest WebSocket:   {server.ws_url}/v1/streams/<name>/ingest  "
                     f"(Authorization: Bearer {server.config.token})")
    if server.control is not None:
        host = server.base_url.rsplit(":", 1)[0]
        lines.append(f"  control API:        PUT {host}:{server.control.port}/v1/streams/<name>/vocabulary  "
                     "(same token; docs/protocol.md)")
    lines.append(f"  streams: {server.base_url}/v1/streams   metrics: {server.base_url}/metrics")
    return lines


@asynccontextmanager
async def _stopping(server: CaptionServer) -> AsyncIterator[CaptionServer]:
    try:
        yield server
    finally:
        await server.stop()


async def _serve(args: argparse.Namespace) -> int:
    from ..options import pipeline_config
    from .pipelines import load_pipeline_factory

    config = server_config(args)
    pipe_config = pipeline_config(args)
    # Each stream holds a worker thread while its decode waits for the model, and one
    # while it translates: asyncio's default pool (min(32, cores + 4)) would make the
    # streams past the first few wait for a thread, not for the model.
    asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(max_workers=WORKER_THREADS, thread_name_prefix="livetrans"))
    server = CaptionServer(config)
    if server.bus is not None:
        await server.bus.connect()  # before the slow model load: an unreachable Redis fails at once
    if config.serves_ingest:  # an edge runs no pipeline and loads no model
        print(f"loading models ({pipe_config.model})...", file=sys.stderr, flush=True)
        batched = args.batching if args.batching is not None else pipe_config.device == "cuda"
        batching = BatchOptions(max_batch=args.max_batch) if batched else None
        server.pipeline_factory = await asyncio.to_thread(load_pipeline_factory, pipe_config, batching=batching)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):  # not the main thread, or no signals here
            pass
    try:
        await server.start()
    except OSError as e:
        raise LivetransError(
            f"cannot listen on {config.host}:{config.port} ({e.strerror or e}): "
            "pass another --port (0 picks a free one) or --host"
        ) from e
    async with _stopping(server):
        languages = ([pipe_config.language] if pipe_config.language else []) + list(pipe_config.targets)
        for line in announce(server, args.stream, languages, config.viewer_token):
            print(line, flush=True)
        waiters: list[asyncio.Future[object]] = [asyncio.ensure_future(stop.wait())]
        stream_task = None
        if args.input is not None:
            from ..console import CaptionPrinter
            from ..sources import audio_source

            printer = CaptionPrinter(args.print_mode, sys.stdout)
            audio = audio_source(args.input, live=args.live, pcm_rate=args.pcm_rate,
                                 pcm_channels=args.pcm_channels, pcm_format=args.pcm_format)
            pts_offset, audio = await with_start_pts(audio)
            await server.claim_stream(args.stream)
            produced = server.stream(args.stream)
            stream_task = server.start_stream(args.stream, audio, on_event=printer.show, pts_offset=pts_offset)
            if not args.keep_serving:
                waiters.append(stream_task)  # type: ignore[arg-type]
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        for waiter in waiters:
            if waiter is not stream_task:
                waiter.cancel()
        if stream_task is not None and stream_task.done():
            last_seq = stream_task.result()  # re-raises what the pipeline raised
            await server.drain(grace=5.0)
            compute_rtf = produced.compute_rtf
            rtf = f", real-time factor {compute_rtf():.2f}" if compute_rtf is not None else ""
            print(f"stream {args.stream} ended at seq {last_seq}{rtf}", file=sys.stderr)
        elif stop.is_set():
            print("stopping", file=sys.stderr)
    return 0
