"""The OBS overlay in a real headless Chromium: captions over a transparent page.

Needs Debian's ``chromium`` and ``chromium-driver`` and the ``selenium`` package
(``.ci/run`` installs them); skipped with the reason when they are missing.
Selenium is pointed at /usr/bin/chromedriver, so it never downloads a driver.
"""

from __future__ import annotations

import asyncio
import io
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from server_testkit import caption, run, translation

from livetrans.server.app import CaptionServer, ServerConfig

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"

webdriver = pytest.importorskip("selenium.webdriver", reason="pip install selenium")
if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
    pytest.skip("apt-get install chromium chromium-driver", allow_module_level=True)

from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

WIDTH, HEIGHT = 1280, 720


def start_browser(profile: Path) -> Any:
    os.environ["SE_OFFLINE"] = "true"  # belt and braces: selenium-manager must not fetch anything
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--hide-scrollbars", f"--window-size={WIDTH},{HEIGHT}",
                 f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    # Let transparent pages stay transparent in screenshots (the default backdrop is white).
    driver.execute_cdp_cmd("Emulation.setDefaultBackgroundColorOverride",
                           {"color": {"r": 0, "g": 0, "b": 0, "a": 0}})
    return driver


def wait_for(driver: Any, condition: Callable[[Any], Any], what: str, timeout: float = 20.0) -> Any:
    return WebDriverWait(driver, timeout, poll_frequency=0.05).until(condition, message=what)


def rgba_of_png(png: bytes) -> np.ndarray:
    with av.open(io.BytesIO(png)) as container:
        frame = next(container.decode(video=0))
        return frame.to_ndarray(format="rgba")


def test_overlay_shows_captions_over_a_transparent_page_and_reconnects(tmp_path: Path) -> None:
    shot_path = tmp_path / "overlay.png"

    async def scenario() -> tuple[np.ndarray, dict[str, str]]:
        async with CaptionServer(ServerConfig(port=0, token="t", viewer_token="vt", ping_interval=None)) as server:
            stream = server.open_session("main", "en", ("es",))
            driver = await asyncio.to_thread(start_browser, tmp_path / "profile")
            seen: dict[str, str] = {}
            try:
                url = f"{server.base_url}/overlay?stream=main&lang=es&source=1&token=vt&size=48&lines=2&hold=0"
                await asyncio.to_thread(driver.get, url)

                def text_of(element_id: str) -> Callable[[Any], str]:
                    return lambda d: d.find_element("id", element_id).text

                def state(d: Any) -> str:
                    return str(d.find_element("id", "captions").get_attribute("data-state"))

                await asyncio.to_thread(wait_for, driver, lambda d: state(d) == "connected", "overlay connects")
                server.publish(stream, caption("partial", 1, 0, text=" Good eve"))
                await asyncio.to_thread(wait_for, driver, lambda d: "Good eve" in text_of("source")(d),
                                        "partial shown")
                seen["partial"] = driver.find_element("css selector", "#source .partial").text
                # A draft translation of the sentence so far shows until its final translation.
                server.publish(stream, translation(1, 0, "es", text="Buenas no", kind="partial"))
                await asyncio.to_thread(wait_for, driver, lambda d: "Buenas no" in text_of("main")(d),
                                        "draft translation shown")
                seen["draft"] = driver.find_element("css selector", "#main .partial").text
                server.publish(stream, caption("final", 1, 1, text=" Good evening everyone."))
                server.publish(stream, translation(1, 2, "es", text="Buenas noches a todos."))
                await asyncio.to_thread(wait_for, driver, lambda d: "Buenas noches" in text_of("main")(d),
                                        "translation shown")
                seen["source"] = await asyncio.to_thread(text_of("source"), driver)
                seen["partials_left"] = str(len(driver.find_elements("css selector", ".partial")))
                seen["main"] = await asyncio.to_thread(text_of("main"), driver)
                png = await asyncio.to_thread(driver.get_screenshot_as_png)
                shot_path.write_bytes(png)

                # The stream ends and comes back: the overlay reconnects by itself and resumes.
                server.end_session("main", "input ended")
                stream = server.open_session("main", "en", ("es",))
                server.publish(stream, translation(2, 3, "es", text="Seguimos en directo."))
                await asyncio.to_thread(wait_for, driver, lambda d: "Seguimos" in text_of("main")(d),
                                        "resumed after reconnect")
                seen["main_after"] = await asyncio.to_thread(text_of("main"), driver)
            finally:
                await asyncio.to_thread(driver.quit)
            return rgba_of_png(png), seen

    image, seen = run(scenario(), timeout=90)
    if os.environ.get("LIVETRANS_KEEP_SCREENSHOT"):
        shutil.copy(shot_path, os.environ["LIVETRANS_KEEP_SCREENSHOT"])
    assert seen["partial"].strip() == "Good eve"
    assert seen["draft"].strip() == "Buenas no"
    assert seen["source"] == "Good evening everyone." and seen["partials_left"] == "0"
    assert seen["main"] == "Buenas noches a todos."  # the final replaced the draft
    assert seen["main_after"].endswith("Seguimos en directo.")
    assert "Buenas noches a todos." in seen["main_after"]  # kept: nothing lost, nothing doubled
    assert seen["main_after"].count("Buenas noches") == 1

    height, width = image.shape[:2]
    alpha = image[:, :, 3]
    assert alpha.mean() < 40, "the page must be transparent apart from the captions"
    assert (alpha == 0).mean() > 0.85
    bright = (alpha > 200) & (image[:, :, :3].min(axis=2) > 200)  # white caption text
    assert bright.sum() > 500, "caption text pixels expected"
    rows = np.nonzero(bright.any(axis=1))[0]
    assert rows.min() > height / 2, "captions sit at the bottom by default"
    cols = np.nonzero(bright.any(axis=0))[0]
    assert cols.min() > width * 0.05 and cols.max() < width * 0.95
