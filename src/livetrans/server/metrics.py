"""The server's Prometheus metrics, made with ``prometheus_client``.

Each server owns a ``CollectorRegistry`` of its own (never the library's global
default), so servers in one process, as in the tests, keep separate figures.
Series depend on the role (docs/scaling.md): every role has the connection and
event counters; an edge (or the single process) has viewers, queues and fan-out
delay; a worker has leases and its bus buffer; both bus roles have Redis errors
and the bus state. Gauges that describe the streams are read at scrape time.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from .app import CaptionServer

CONTENT_TYPE = CONTENT_TYPE_LATEST

# Seconds; spans fan-out delay (ms) up to caption latency (seconds).
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0)
BATCH_SIZE_BUCKETS = (1, 2, 3, 4, 6, 8, 12, 16)  # requests per batched decode call
FANOUT_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)


class _StreamGauges(Collector):
    """Gauges read from the server's streams when Prometheus scrapes."""

    def __init__(self, server: CaptionServer) -> None:
        self.server = server

    def collect(self) -> Iterator[Metric]:
        server = self.server
        viewed = list(server.streams.values())
        produced = list(server.producing.values())
        role = GaugeMetricFamily("livetrans_role", "This process's role (1 for the role it runs)", labels=["role"])
        role.add_metric([server.config.role], 1)
        yield role
        states = GaugeMetricFamily("livetrans_streams", "Streams this process knows, by state", labels=["state"])
        known = server.all_streams()
        states.add_metric(["live"], sum(s.live for s in known.values()))
        states.add_metric(["idle"], sum(not s.live for s in known.values()))
        yield states
        viewers = GaugeMetricFamily("livetrans_viewers", "Connected viewers on this process", labels=["stream"])
        depth_max = GaugeMetricFamily("livetrans_queue_depth_max", "Deepest viewer queue (messages)",
                                      labels=["stream"])
        depth_total = GaugeMetricFamily("livetrans_queue_depth_total", "Messages waiting in all viewer queues",
                                        labels=["stream"])
        last_seq = GaugeMetricFamily("livetrans_last_seq", "Last durable seq", labels=["stream"])
        for s in viewed:
            viewers.add_metric([s.name], len(s.viewers))
            depth_max.add_metric([s.name], max((len(v.queue) for v in s.viewers.values()), default=0))
            depth_total.add_metric([s.name], sum(len(v.queue) for v in s.viewers.values()))
        for name, s in known.items():
            last_seq.add_metric([name], s.last_seq)
        yield from (viewers, depth_max, depth_total, last_seq)
        audio = GaugeMetricFamily("livetrans_audio_seconds", "Audio seconds fed to the live session's pipeline",
                                  labels=["stream"])
        rtf = GaugeMetricFamily("livetrans_realtime_factor",
                                "Recognition compute seconds per audio second, the higher of the whole stream's and "
                                "its last minute's (>1: cannot keep up with real time; the admission rule reads it)",
                                labels=["stream"])
        lag = GaugeMetricFamily("livetrans_recognition_lag_seconds",
                                "Audio seconds fed and not yet recognised (grows while a stream falls behind)",
                                labels=["stream"])
        for s in produced:
            if s.live:
                audio.add_metric([s.name], s.audio_seconds)
                if (value := s.realtime_factor) is not None:
                    rtf.add_metric([s.name], value)
                if (behind := s.lag) is not None:
                    lag.add_metric([s.name], behind)
        yield from (audio, rtf, lag)
        yield from _decode_batches(server)
        yield from _translation_batches(server)
        if server.bus is not None:
            yield from server.bus.collect_metrics()


def _decode_batches(server: CaptionServer) -> Iterator[Metric]:
    """The decode scheduler's figures, when this process batches its streams' decodes."""
    batching = getattr(getattr(server.pipeline_factory, "models", None), "batching", None)
    if batching is None:
        return
    stats = batching.stats
    yield _size_histogram("livetrans_decode_batch_size", "Decode requests per batched model call",
                          stats.sizes, count=stats.batches, total=stats.requests)
    busy = CounterMetricFamily("livetrans_decode_busy_seconds", "Wall time the speech model spent in batched calls")
    busy.add_metric([], stats.busy_seconds)
    yield busy
    failed = CounterMetricFamily("livetrans_decode_batch_failures", "Batched decode calls that raised")
    failed.add_metric([], stats.failures)
    yield failed


def _translation_batches(server: CaptionServer) -> Iterator[Metric]:
    """How many streams' finished sentences shared each translation call."""
    turns = getattr(server.pipeline_factory, "translation_turns", None)
    if turns is None:
        return
    with turns.changed:  # counted under it, from the translation workers
        sizes = dict(turns.sizes)
    if not sizes:
        return
    yield _size_histogram("livetrans_translation_batch_streams",
                          "Streams whose finished sentences shared one translation call",
                          sizes, count=sum(sizes.values()), total=sum(size * n for size, n in sizes.items()))


def _size_histogram(name: str, documentation: str, sizes: dict[int, int], *, count: int, total: int) -> Metric:
    """A histogram of batch sizes (``sizes``: size → calls) over BATCH_SIZE_BUCKETS."""
    counts = [sum(n for size, n in sizes.items() if size <= bound) for bound in BATCH_SIZE_BUCKETS]
    family = HistogramMetricFamily(name, documentation)
    bounds = [*(str(b) for b in BATCH_SIZE_BUCKETS), "+Inf"]
    family.add_metric([], list(zip(bounds, [*counts, count])), sum_value=total)
    return family


class ServerMetrics:
    """Every series the server exports; ``render`` is the /metrics body."""

    def __init__(self, server: CaptionServer) -> None:
        r = self.registry = CollectorRegistry(auto_describe=True)
        self.connections = Counter("livetrans_connections", "WebSocket connections accepted", ["endpoint"],
                                   registry=r)
        self.rejections = Counter("livetrans_rejected_connections", "Connections closed by policy", ["code"],
                                  registry=r)
        self.events = Counter("livetrans_events", "Events published (worker) or received from the bus (edge)",
                              ["stream", "type"], registry=r)
        self.dropped_partials = Counter("livetrans_dropped_partials", "Partials replaced in slow viewers' queues",
                                        ["stream"], registry=r)
        self.slow_viewers = Counter("livetrans_slow_viewer_closes", "Viewers closed for falling behind",
                                    ["stream"], registry=r)
        self.protocol_errors = Counter("livetrans_protocol_errors", "Bad client messages", ["endpoint"],
                                       registry=r)
        self.caption_latency = Histogram("livetrans_caption_latency_seconds",
                                         "emitted_at minus the audio end time, per durable event kind",
                                         ["kind"], buckets=LATENCY_BUCKETS, registry=r)
        self.fanout_delay = Histogram("livetrans_fanout_delay_seconds",
                                      "Time from publish to handing the message to a viewer's socket",
                                      buckets=FANOUT_BUCKETS, registry=r)
        self.redis_errors = Counter("livetrans_redis_errors", "Failed Redis operations (the bus roles)",
                                    ["operation"], registry=r)
        self.bus_lag = Histogram("livetrans_bus_lag_seconds",
                                 "Edge: time from the worker's append to Redis to this edge reading the event",
                                 buckets=FANOUT_BUCKETS, registry=r)
        self.bus_malformed = Counter("livetrans_bus_malformed", "Edge: malformed entries found on the bus, skipped",
                                     ["stream"], registry=r)
        self.bus_dropped = Counter("livetrans_bus_dropped", "Worker: durable events dropped from a full bus buffer",
                                   ["stream"], registry=r)
        self.decodes = Counter("livetrans_decodes", "Speech-model decodes made for the live streams' "
                               "recognisers (a batched call counts one per stream in it)", registry=r)
        self.pipeline_errors = Counter("livetrans_pipeline_errors",
                                       "Model calls that failed; the stream went on without their output "
                                       "(stage: translation or recognition)", ["stream", "stage"], registry=r)
        self.live_gauge = Gauge("livetrans_up", "1 while this process runs", registry=r)
        self.live_gauge.set(1)
        r.register(_StreamGauges(server))

    def value(self, name: str, **labels: str) -> float:
        """One sample's value (0 when absent): ``value("livetrans_slow_viewer_closes_total", stream="main")``."""
        found = self.registry.get_sample_value(name, labels)
        return 0.0 if found is None else float(found)

    def render(self) -> bytes:
        return generate_latest(self.registry)
