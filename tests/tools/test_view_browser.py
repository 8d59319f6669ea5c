"""The live view in a real browser: Debian's chromium, driven by playwright, on the file
``aioh5saver demo`` writes in another process. The page loads, lists the demo's instruments
and arrays, plots the spectrometer's array, and shows more of its rows after the demo has
written more. A screenshot is saved (``AIOH5SAVER_VIEW_SCREENSHOT=PATH`` keeps a copy: that
is how docs/view.png is made).

Chromium is Debian's (``apt-get install chromium``, which .ci/run does), never a download:
without it the test is skipped, and fails when ``CI=true``.
"""

from __future__ import annotations

import os
import re
import select
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("h5grove")

from view_client import ViewProcess, view_process

CHROMIUM = Path("/usr/bin/chromium")
# Headless, and nothing that reaches out to the network (which is closed here: chromium's
# background connections would be refused over and over).
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SPECTRUM = "/RawData/Scan000/Detector001/Data1D/CH00/EnlData00"
# The row count h5web's dimension mapper shows for the (rows, 2048) spectrum array.
ROWS_SCRIPT = r"""() => {
    const found = document.querySelector('main').innerText.match(/\nn\n(\d+)\n2048\n/);
    return found ? Number(found[1]) : null;
}"""
MORE_ROWS_SCRIPT = r"""(before) => {
    const found = document.querySelector('main').innerText.match(/\nn\n(\d+)\n2048\n/);
    return found !== null && Number(found[1]) > before ? Number(found[1]) : null;
}"""
# Resolves once the browser has drawn two more frames (the plot's last data on the canvas).
FRAMES_SCRIPT = (
    """() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))"""
)
# Bounds of each wait in the page, in milliseconds (a loaded machine runs all of it slowly).
WAIT_MS = 60_000
DEMO_SECONDS = 60

pytestmark = pytest.mark.timeout(240)


def _chromium() -> Path:
    """Debian's chromium and playwright's Python package, or a skip (a failure in CI)."""
    missing = []
    if not CHROMIUM.exists():
        missing.append(f"{CHROMIUM} (Debian's chromium: apt-get install chromium, as .ci/run does)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("playwright (pip install playwright; its browsers are not needed)")
    if missing:
        reason = "the browser test needs " + " and ".join(missing)
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true but {reason}")
        pytest.skip(reason)
    return CHROMIUM


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Path]:
    """``aioh5saver demo`` writing ``demo.h5`` under SWMR in another process, once it has
    said it started; stopped with Ctrl-C afterwards, its file deleted."""
    path = tmp_path / "demo.h5"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "aioh5saver",
            "demo",
            "--out",
            str(path),
            "--seconds",
            str(DEMO_SECONDS),
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], 60)
        first = process.stdout.readline() if ready else ""
        assert first.startswith("demo: started"), first
        yield path
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
        path.unlink(missing_ok=True)


@pytest.fixture
def view(demo: Path) -> Iterator[ViewProcess]:
    """``aioh5saver view`` of the demo's file, reloading every second."""
    with view_process(demo, "--refresh", "1") as process:
        yield process


def test_the_browser_shows_the_demo_live(view: ViewProcess, tmp_path: Path) -> None:
    """In chromium, the page lists the demo's instruments and the spectrometer's arrays,
    plots its spectra (a canvas under the array's name), and, as the demo writes on, shows
    more rows than it first did, without the page being reloaded."""
    from playwright.sync_api import expect, sync_playwright

    chromium = _chromium()
    screenshot = tmp_path / "view.png"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(chromium), headless=True, args=CHROMIUM_FLAGS
        )
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 720})
            page.goto(f"{view.url}?path={SPECTRUM}")
            sidebar = page.get_by_role("tree")
            for name in ("RawData", "Logger", "Scan000", "Detector000", "Detector001"):
                expect(sidebar.get_by_text(name, exact=True)).to_be_visible(timeout=WAIT_MS)
            for name in ("Axis00", "EnlData00", "Actuator000"):
                expect(sidebar.get_by_text(name, exact=True)).to_be_visible(timeout=WAIT_MS)
            expect(page.locator("main canvas").first).to_be_visible(timeout=WAIT_MS)
            # The counts are those the waits saw: read again, the page may be mid-reload
            # (showing "Loading..." without a count).
            first = page.wait_for_function(ROWS_SCRIPT, timeout=WAIT_MS).json_value()
            assert isinstance(first, int)
            assert first > 0
            later = page.wait_for_function(MORE_ROWS_SCRIPT, arg=first, timeout=WAIT_MS)
            assert later.json_value() > first
            # Live off: the page settles (no reload under way) for the screenshot.
            page.get_by_test_id("live-toggle").uncheck()
            expect(sidebar.get_by_text("EnlData00", exact=True)).to_be_visible(timeout=WAIT_MS)
            expect(page.locator("main canvas").first).to_be_visible(timeout=WAIT_MS)
            page.wait_for_load_state("networkidle", timeout=WAIT_MS)
            page.evaluate(FRAMES_SCRIPT)
            page.screenshot(path=str(screenshot))
        finally:
            browser.close()
    assert screenshot.stat().st_size > 10_000
    keep = os.environ.get("AIOH5SAVER_VIEW_SCREENSHOT")
    if keep:
        shutil.copyfile(screenshot, keep)
    assert re.match(r"http://127\.0\.0\.1:\d+/$", view.url)
