"""The running dashboard in a real browser: headless Chromium renders the leaderboard and heatmaps.

Streamlit draws its pages client-side over a websocket, so Chromium is given a virtual-time
budget before it dumps the DOM or takes the screenshot. Screenshots are kept in the test's tmp
folder and copied to `.arena-cache/screenshots/` (or $ARENA_SCREENSHOT_DIR) for a human to look at.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.dashboard.conftest import REPO, PipelineProject, RunningDashboard, chromium

SCREENSHOT_DIR = Path(os.environ.get("ARENA_SCREENSHOT_DIR", REPO / ".arena-cache" / "screenshots"))
PAGES = {"leaderboard": "", "heatmaps": "heatmaps"}


def run_chromium(binary: str, url: str, profile: Path, *action: str) -> subprocess.CompletedProcess[str]:
    command = [
        binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={profile}", "--window-size=1400,1000", "--virtual-time-budget=15000",
        *action, url,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture(scope="module")
def browser() -> str:
    binary = chromium()
    if binary is None:
        pytest.skip("chromium is not installed (scripts/setup.sh installs Debian's chromium)")
    return binary


def rendered_dom(browser: str, url: str, profile: Path, expected: tuple[str, ...], within_s: float = 120) -> str:
    """The DOM once the page shows `expected`. Virtual time does not wait for the server, which
    may be slow on a busy machine (cold imports, first queries), so a page still running is
    loaded again until it is done or `within_s` has passed."""
    deadline = time.monotonic() + within_s
    attempt = 0
    while True:
        dom = run_chromium(browser, url, profile.with_name(f"{profile.name}-{attempt}"), "--dump-dom")
        assert dom.returncode == 0, dom.stderr[-2000:]
        html = dom.stdout
        if all(text in html for text in expected) or "stException" in html or time.monotonic() > deadline:
            return html
        attempt += 1
        time.sleep(2)


@pytest.mark.parametrize("page", PAGES)
def test_page_renders_in_chromium(page: str, browser: str, running_dashboard: RunningDashboard,
                                  pipeline_project: PipelineProject, tmp_path: Path) -> None:
    url = f"{running_dashboard.url}/{PAGES[page]}"
    html = rendered_dom(browser, url, tmp_path / "profile-dom", pipeline_project.models)
    assert 'data-testid="stApp"' in html, html[:500]
    assert "stException" not in html, "the page shows an exception box"
    assert "Traceback" not in html
    for model in pipeline_project.models:
        assert model in html, f"{model} not rendered on {url}; elements: {set(re.findall(r'data-testid=.(st[A-Za-z]+)', html))}"

    screenshot = tmp_path / f"{page}.png"
    deadline = time.monotonic() + 120
    for attempt in range(1000):  # the same wait as for the DOM: a blank page is a few kB
        shot = run_chromium(browser, url, tmp_path / f"profile-shot-{attempt}", f"--screenshot={screenshot}")
        assert shot.returncode == 0 and screenshot.is_file(), shot.stderr[-2000:]
        if screenshot.stat().st_size > 40_000 or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert screenshot.stat().st_size > 40_000, f"{screenshot} looks blank"
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    kept = SCREENSHOT_DIR / screenshot.name
    shutil.copyfile(screenshot, kept)
    print(f"screenshot of {url}: {kept}")
