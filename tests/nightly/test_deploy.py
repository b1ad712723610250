"""The shipped schedules in deploy/ are valid: systemd units, the crontab line, the sbatch script."""

from __future__ import annotations

import configparser
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
SERVICE = DEPLOY / "systemd" / "arena-nightly.service"
TIMER = DEPLOY / "systemd" / "arena-nightly.timer"
CRONTAB = DEPLOY / "cron" / "arena-nightly.crontab"
SBATCH = DEPLOY / "slurm" / "arena-nightly.sbatch"


def unit(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None, comment_prefixes=("#", ";"))
    parser.optionxform = str  # keys are case-sensitive in systemd
    parser.read_string(path.read_text(encoding="utf-8"))
    return parser


def test_service_runs_arena_nightly_once() -> None:
    service = unit(SERVICE)["Service"]
    assert service["Type"] == "oneshot"
    assert re.fullmatch(r"/\S+/\.venv/bin/arena nightly -c /\S+\.yaml", service["ExecStart"])
    assert service["WorkingDirectory"].startswith("/")
    assert service["EnvironmentFile"].startswith("-/")
    assert service["SuccessExitStatus"] == "3"


def test_timer_is_nightly_and_persistent() -> None:
    timer = unit(TIMER)
    assert re.fullmatch(r"\*-\*-\* \d\d:\d\d:\d\d", timer["Timer"]["OnCalendar"])
    assert timer["Timer"]["Persistent"] == "true"
    assert timer["Timer"]["Unit"] == SERVICE.name
    assert timer["Install"]["WantedBy"] == "timers.target"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    # The shipped paths are placeholders: point them at this checkout so ExecStart exists.
    for source in (SERVICE, TIMER):
        text = source.read_text().replace("/opt/arena/.venv/bin/arena", str(Path(sys.executable).parent / "arena"))
        text = re.sub(r"^User=.*\n", "", text.replace("/opt/arena", str(REPO)), flags=re.M)
        (tmp_path / source.name).write_text(text)
    result = subprocess.run(["systemd-analyze", "verify", str(tmp_path / SERVICE.name), str(tmp_path / TIMER.name)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    calendar = unit(TIMER)["Timer"]["OnCalendar"]
    assert subprocess.run(["systemd-analyze", "calendar", calendar], capture_output=True, timeout=30).returncode == 0


def test_crontab_line_has_five_schedule_fields_and_runs_nightly() -> None:
    lines = [line for line in CRONTAB.read_text().splitlines() if line.strip() and not line.startswith("#")]
    assert len(lines) == 1
    fields = lines[0].split(maxsplit=5)
    minute, hour, day, month, weekday, command = fields
    assert minute.isdigit() and 0 <= int(minute) < 60 and hour.isdigit() and 0 <= int(hour) < 24
    assert (day, month, weekday) == ("*", "*", "*")
    assert re.search(r"/\.venv/bin/arena nightly -c \S+\.yaml >> \S+ 2>&1$", command)


def test_sbatch_script_is_valid_bash_with_slurm_options() -> None:
    assert subprocess.run(["bash", "-n", str(SBATCH)], capture_output=True, timeout=30).returncode == 0
    text = SBATCH.read_text()
    assert text.startswith("#!/bin/bash\n")
    options = dict(re.findall(r"^#SBATCH --([\w-]+)=(\S+)", text, flags=re.M))
    assert options["gres"].startswith("gpu:") and re.fullmatch(r"\d+:\d\d:\d\d", options["time"])
    assert "exec arena nightly -c" in text and "sbatch --quiet --begin=" in text


def test_readme_covers_every_shipped_file() -> None:
    readme = (DEPLOY / "README.md").read_text()
    for path in (SERVICE, TIMER, CRONTAB, SBATCH, DEPLOY / "systemd" / "nightly.env.example"):
        assert str(path.relative_to(REPO)) in readme, path
    for command in ("systemctl --user enable --now arena-nightly.timer", "systemctl list-timers",
                    "crontab -", "sbatch ", "scrontab"):
        assert command in readme, command


BOARD = DEPLOY / "slurm" / "arena-board.sbatch"
SUBMIT = DEPLOY / "slurm" / "submit-board.sh"


def test_board_scripts_are_valid_bash() -> None:
    for script in (BOARD, SUBMIT):
        assert subprocess.run(["bash", "-n", str(script)], capture_output=True, timeout=30).returncode == 0, script
    assert "exec arena \"$ARENA_STAGE\" -c" in BOARD.read_text()


def test_submit_chains_generate_an_array_of_judge_workers_and_rate(tmp_path: Path) -> None:
    # a stand-in sbatch on PATH records each submission and answers a job id, as `--parsable` does
    (tmp_path / "sbatch").write_text(
        '#!/bin/bash\necho "$ARENA_STAGE $*" >> "$SBATCH_LOG"\necho $((100 + $(wc -l < "$SBATCH_LOG")))\n')
    (tmp_path / "sbatch").chmod(0o755)
    env = {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}", "SBATCH_LOG": str(tmp_path / "log")}
    result = subprocess.run(["bash", str(SUBMIT), "8"], env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    generate, judge, rate = (tmp_path / "log").read_text().splitlines()
    assert generate.startswith("generate ") and "--dependency" not in generate and "--gres=gpu:1" in generate
    assert judge.startswith("judge ") and "--dependency=afterok:101" in judge and "--array=0-7" in judge
    assert rate.startswith("rate ") and "--dependency=afterany:102" in rate
    assert result.stdout.strip() == "generate 101, judge workers 102 (x8), rate 103"
    bad = subprocess.run(["bash", str(SUBMIT), "zero"], env=env, capture_output=True, text=True, timeout=30)
    assert bad.returncode == 2 and "usage:" in bad.stderr
    (tmp_path / "log").unlink()
    big = subprocess.run(["bash", str(SUBMIT), "2"], env={**env, "GENERATE_GPUS": "4"}, capture_output=True,
                         text=True, timeout=30)
    assert big.returncode == 0 and "--gres=gpu:4" in (tmp_path / "log").read_text().splitlines()[0]
