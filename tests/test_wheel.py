"""The installable package: the wheel ships the code, the package data and the dashboard, and the
installed `arena` works from a folder outside the source tree (nothing reads the repository).

The wheel is built from a copy of the tracked files (`pip wheel --no-deps --no-build-isolation`,
offline), installed with --no-deps into a fresh virtual environment whose `.pth` file lets it see
the shared environment's site-packages for the dependencies (not its editable arena), and its
console script is run from a temporary folder without PYTHONPATH.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import httpx
import pytest

from arena.local_server import free_port, start_server, stop_process_group
from tests.fakes.project import placeholder_model, write_project

REPO = Path(__file__).resolve().parent.parent
SHIPPED_DATA = ("arena/data/rubrics/medical.yaml", "arena/data/questions/health-v1.jsonl",
                "arena/data/questions/README.md", "arena/data/templates/chatml.jinja",
                "arena/data/templates/meditron-chatml.jinja")
DASHBOARD = ("arena/dashboard/app.py", "arena/dashboard/pages/leaderboard.py", "arena/dashboard/pages/explorer.py")

pytestmark = pytest.mark.e2e


def tracked_copy(destination: Path) -> Path:
    files = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    for name in files:
        if (REPO / name).is_file():
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, target)
    return destination


def clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["OMP_NUM_THREADS"] = "1"
    return env


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the built wheel installed; returns its bin folder."""
    work = tmp_path_factory.mktemp("wheel")
    source = tracked_copy(work / "src")
    wheels = work / "dist"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(wheels), str(source)], check=True, capture_output=True, timeout=300)
    (wheel,) = wheels.glob("arena-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    missing = [name for name in SHIPPED_DATA + DASHBOARD if name not in names]
    assert not missing, f"the wheel lacks {missing}"
    assert not any(name.startswith(("tests/", "examples/", "benchmarks/")) for name in names)
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    site = Path(subprocess.run([str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    (site / "shared-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "--no-deps",
                    "-q", str(wheel)], check=True, capture_output=True, timeout=300, env=clean_env())
    return venv / "bin"


def test_the_installed_package_runs_outside_the_source_tree(installed: Path, tmp_path: Path) -> None:
    where = subprocess.run([str(installed / "python"), "-c", "import arena; print(arena.__file__)"], cwd=tmp_path,
                           capture_output=True, text=True, env=clean_env(), check=True).stdout.strip()
    assert where.startswith(str(installed.parent)) and not where.startswith(str(REPO)), where
    stats = subprocess.run([str(installed / "arena"), "questions", "stats", "arena:questions/health-v1.jsonl"],
                           cwd=tmp_path, capture_output=True, text=True, env=clean_env(), timeout=120)
    assert stats.returncode == 0, stats.stderr
    assert "questions" in stats.stdout.lower() and "cardiology" in stats.stdout


def test_the_installed_dashboard_serves_its_page(installed: Path, tmp_path: Path) -> None:
    write_project(tmp_path, models=[placeholder_model("m")],
                  questions=[{"id": "q1", "text": "What is asthma?", "category": "pulmonology"}])
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = start_server([str(installed / "arena"), "dashboard", "--port", str(port)], f"{url}/_stcore/health",
                           tmp_path / "logs" / "dashboard.log", "the installed dashboard", 120,
                           env=clean_env(), cwd=tmp_path)
    try:
        health = httpx.get(f"{url}/_stcore/health", timeout=10)
        assert health.status_code == 200 and health.text == "ok"
        page = httpx.get(f"{url}/", timeout=10)
        assert page.status_code == 200 and "streamlit" in page.text.lower()
    finally:
        stop_process_group(process, timeout_s=20)
