"""HTTP routes (/healthz, /metrics, /v1/streams, /overlay) and the ``livetrans serve`` command."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from server_testkit import caption, closed_with, collect, open_viewer, run, translation

from livetrans.server.app import CaptionServer, ServerConfig

JFK = Path(__file__).resolve().parents[2] / "samples" / "speech" / "en" / "jfk_inaugural_1961.flac"


def fetch(url: str) -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.headers["Content-Type"], response.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers["Content-Type"], e.read().decode()


def test_http_routes() -> None:
    async def scenario() -> dict[str, tuple[int, str, str]]:
        config = ServerConfig(port=0, token="t", viewer_token="vt", ping_interval=None)
        async with CaptionServer(config) as server:
            stream = server.open_session("main", "en", ("es",))
            ws, _ = await open_viewer(f"{server.ws_url}/v1/streams/main/captions?lang=es&token=vt")
            viewer = asyncio.create_task(collect(ws))
            server.publish(stream, caption("final", 1, 1))
            server.publish(stream, translation(1, 2, "es"))
            base = server.base_url
            got: dict[str, tuple[int, str, str]] = {}
            no_token = await closed_with(f"{server.ws_url}/v1/streams/main/captions?lang=es")
            got["viewer_no_token"] = (no_token.close_code or 0, "", no_token.close_reason)
            for name, path in [("health", "/healthz"), ("streams", "/v1/streams?token=vt"),
                               ("streams_no_token", "/v1/streams"), ("overlay", "/overlay?stream=main"),
                               ("metrics", "/metrics")]:
                got[name] = await asyncio.to_thread(fetch, base + path)
            server.end_session("main", "input ended")
            await viewer
            return got

    got = run(scenario())
    assert got["viewer_no_token"][0] == 4401 and "token" in got["viewer_no_token"][2]
    status, ctype, body = got["health"]
    assert status == 200 and json.loads(body)["status"] == "ok"
    status, _, body = got["streams"]
    listing = json.loads(body)["streams"]
    assert status == 200 and listing[0]["name"] == "main" and listing[0]["live"] is True
    assert listing[0]["languages"] == ["en", "es"] and listing[0]["viewers"] == 1 and listing[0]["last_seq"] == 2
    assert got["streams_no_token"][0] == 401 and "token" in got["streams_no_token"][2]
    status, ctype, body = got["overlay"]
    assert status == 200 and ctype.startswith("text/html") and "new WebSocket" in body
    status, ctype, body = got["metrics"]
    assert status == 200 and ctype.startswith("text/plain; version=")
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(body) for s in family.samples}
    assert samples[("livetrans_streams", (("state", "live"),))] == 1
    assert samples[("livetrans_viewers", (("stream", "main"),))] == 1
    assert samples[("livetrans_events_total", (("stream", "main"), ("type", "translation")))] == 1
    assert samples[("livetrans_caption_latency_seconds_count", (("kind", "final"),))] == 1
    assert samples[("livetrans_role", (("role", "all"),))] == 1
    assert ("livetrans_queue_depth_max", (("stream", "main"),)) in samples
    assert any(name == "livetrans_fanout_delay_seconds_bucket" for name, _ in samples)


@pytest.mark.slow
def test_serve_command_runs_a_file_and_exits_when_it_ends(tmp_path: Path) -> None:
    """The demo shape: URLs first, captions as they become final, exit 0 at the end of the input."""
    result = subprocess.run(
        [sys.executable, "-m", "livetrans.cli", "serve", "--input", str(JFK), "--port", "0",
         "--model", "tiny.en", "--language", "en", "--journal-dir", str(tmp_path), "--token", "tok"],
        capture_output=True, text=True, timeout=240,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout.splitlines()
    assert re.match(r"livetrans server on http://127\.0\.0\.1:\d+$", out[0])
    assert any("/overlay?stream=main" in line for line in out)
    assert any("Bearer tok" in line for line in out)
    assert "country" in result.stdout.lower()
    assert "ended at seq" in result.stderr
    journal = [json.loads(x) for x in (tmp_path / "main.jsonl").read_text().splitlines()]
    assert journal[0]["type"] == "session" and journal[-1]["type"] == "end"


def test_serve_refuses_a_batch_limit_below_one_before_loading_anything() -> None:
    refused = subprocess.run(
        [sys.executable, "-m", "livetrans.cli", "serve", "--port", "0", "--batching", "--max-batch", "0"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert refused.returncode == 2
    assert "--max-batch: expected a whole number of at least 1, got '0'" in refused.stderr
