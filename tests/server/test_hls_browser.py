"""hls.js in headless Chromium plays an HLS stream made by ffmpeg (test pattern + a
speech clip) with livetrans's subtitle renditions added through the master-playlist
route: the page's TextTrack cues match the live captions in time and text, in the
source language and in a translation (tiny NLLB built here)."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from hls_testkit import static_origin
from server_testkit import INGEST_MODEL, run, speech_models  # noqa: F401
from test_overlay_browser import rgba_of_png, start_browser, wait_for

from livetrans.core.hls import SOURCE, HlsOptions
from livetrans.pipeline import SpeechModels
from livetrans.server.app import CaptionServer, ServerConfig
from livetrans.server.command import with_start_pts
from livetrans.server.hls import HlsConfig
from livetrans.server.pipelines import LivePipelineFactory
from livetrans.sources import audio_source

ROOT = Path(__file__).resolve().parents[2]
CLIP = ROOT / "samples" / "speech" / "en" / "jfk_inaugural_1961.flac"
HLSJS = ROOT / "tests" / "fixtures" / "hlsjs" / "hls.min.js"
SHOT = os.environ.get("LIVETRANS_KEEP_SCREENSHOT")

pytestmark = pytest.mark.slow

PAGE = """<!doctype html><html><body style="margin:0;background:#000">
<video id="v" muted playsinline style="width:960px;height:540px"></video>
<script src="hls.min.js"></script>
<script>
  const video = document.getElementById("v");
  window.hls = new Hls({subtitleDisplay: true});
  window.started = null;
  window.firstCue = null;
  hls.on(Hls.Events.ERROR, (e, d) => console.log("hls error", d.type, d.details, d.fatal));
  hls.loadSource(new URLSearchParams(location.search).get("src"));
  hls.attachMedia(video);
  hls.on(Hls.Events.MANIFEST_PARSED, () => { window.started = performance.now(); video.play(); });
  setInterval(() => {
    if (window.firstCue === null && window.started !== null)
      for (const t of video.textTracks) if (t.cues && t.cues.length) window.firstCue = performance.now() - window.started;
  }, 20);
  window.cuesOf = (lang) => {
    for (const t of video.textTracks) if (t.language === lang && t.cues)
      return Array.from(t.cues).map(c => [c.startTime, c.endTime, c.text]);
    return null;
  };
</script></body></html>
"""


def make_hls(folder: Path) -> None:
    folder.mkdir(parents=True)
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25",
         "-i", str(CLIP), "-shortest", "-map", "0:v", "-map", "1:a", "-c:v", "libx264", "-preset", "ultrafast",
         "-g", "50", "-pix_fmt", "yuv420p", "-c:a", "aac", "-ac", "1", "-f", "hls", "-hls_time", "2",
         "-hls_playlist_type", "vod", "-hls_segment_filename", str(folder / "v%03d.ts"),
         "-master_pl_name", "master.m3u8", str(folder / "video.m3u8")],
        check=True, timeout=60)


def video_start(ts: Path) -> float:
    """The first presentation time of the video's first segment (hls.js plays from it)."""
    out = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=start_time", "-of", "csv=p=0", str(ts)],
                         check=True, capture_output=True, text=True, timeout=30).stdout
    return float(out.strip())


@pytest.fixture(scope="module")
def tiny_nllb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from livetrans.mt.synthetic import build_nllb_checkpoint

    flores = ROOT / "samples" / "mt" / "testsets" / "flores"
    lines = [line for lang in ("en", "es") for line in (flores / f"flores-dev.{lang}").read_text("utf-8").splitlines()[:150]]
    return build_nllb_checkpoint(tmp_path_factory.mktemp("mt") / "nllb-tiny", lines)


def test_hlsjs_shows_livetrans_subtitles_on_the_video_in_two_languages(
    speech_models: SpeechModels, tiny_nllb: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not shutil.which("ffmpeg") or not shutil.which("chromium"):
        pytest.skip("apt-get install ffmpeg chromium chromium-driver")
    monkeypatch.setenv("LIVETRANS_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    origin_dir = tmp_path / "origin"
    make_hls(origin_dir / "live")
    shutil.copy(HLSJS, origin_dir / "hls.min.js")
    (origin_dir / "player.html").write_text(PAGE)
    shot = tmp_path / "player.png"
    seen: dict[str, Any] = {}

    async def scenario(origin: str) -> None:
        factory = LivePipelineFactory(replace(INGEST_MODEL, mt_model=str(tiny_nllb)), speech_models)
        config = ServerConfig(port=0, token="t", ping_interval=None, targets=("es",),
                              hls=HlsConfig(HlsOptions(segment_duration=2.0)))
        async with CaptionServer(config, pipeline_factory=factory) as server:
            # The stream's own audio, read from the origin: PyAV gives its presentation times.
            pts, audio = await with_start_pts(audio_source(f"{origin}live/video.m3u8", live=False))
            seen["pts"] = pts
            await server.start_stream("show", audio, source_lang="en", targets=("es",), pts_offset=pts)
            packager = server.hls.packagers["show"]
            seen["expected"] = {
                lang: [(s, text) for s in packager.segments(name) for text in [s.text]]
                for lang, name in (("en", SOURCE), ("es", "es"))
            }
            driver = await asyncio.to_thread(start_browser, tmp_path / "profile")
            try:
                src = f"{server.base_url}/hls/show/master.m3u8?origin={origin}live/master.m3u8"
                await asyncio.to_thread(driver.get, f"{origin}player.html?src={src}")
                for index, lang in enumerate(("en", "es")):
                    if index:
                        driver.execute_script("hls.subtitleTrack = 1; const v = document.getElementById('v');"
                                              "v.currentTime = 0; v.play();")
                    await asyncio.to_thread(
                        wait_for, driver, lambda d, lang=lang: (d.execute_script(f"return cuesOf('{lang}')") or []).__len__() >= 2
                        and d.execute_script("return document.getElementById('v').currentTime") > 10,
                        f"{lang} cues loaded and played", 60)
                    seen[lang] = driver.execute_script(f"return cuesOf('{lang}')")
                    if index == 0:
                        seen["first_cue_ms"] = driver.execute_script("return window.firstCue")
                        cue = seen["en"][0]
                        driver.execute_script(f"const v = document.getElementById('v'); v.pause();"
                                              f"v.currentTime = {(cue[0] + cue[1]) / 2};")
                        await asyncio.sleep(1.0)
                        shot.write_bytes(await asyncio.to_thread(driver.get_screenshot_as_png))
            finally:
                await asyncio.to_thread(driver.quit)

    with static_origin(origin_dir) as origin:
        run(scenario(origin), timeout=240)
    if SHOT:
        shutil.copy(shot, SHOT)

    offset = seen["pts"] - video_start(origin_dir / "live" / "v000.ts")
    assert seen["pts"] is not None and abs(seen["pts"] - 1.4) < 0.1  # ffmpeg's MPEG-TS start
    import webvtt

    for lang in ("en", "es"):
        expected = {}
        for _segment, text in seen["expected"][lang]:
            for cue in webvtt.from_string(text):
                expected[(cue.start, cue.text)] = cue
        page = seen[lang]
        assert len(page) == len(expected), (lang, page, list(expected))
        for (start, end, text), cue in zip(sorted(page), sorted(expected.values(), key=lambda c: c.start)):
            assert text == cue.text
            assert abs(start - (cue.start_in_seconds + _ms(cue.start) + offset)) <= 0.2, (lang, start, cue.start)
            assert abs(end - (cue.end_in_seconds + _ms(cue.end) + offset)) <= 0.2, (lang, end, cue.end)
    assert "country" in " ".join(t for _, _, t in seen["en"]).lower()
    assert seen["first_cue_ms"] is not None and seen["first_cue_ms"] < 10_000
    print(f"first cue {seen['first_cue_ms']:.0f} ms after the player started")

    image = rgba_of_png(shot.read_bytes())
    bright = image[:, :, :3].min(axis=2) > 230  # the white cue text over the video's lower part
    assert bright[int(image.shape[0] * 0.7):].sum() > 300


def _ms(stamp: str) -> float:
    return float("0." + stamp.split(".")[1]) if "." in stamp else 0.0
