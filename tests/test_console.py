"""The quiet command line: engine chatter goes to the log file, arena's own lines to the terminal."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

SCRIPT = textwrap.dedent("""
    import logging, os, subprocess, sys
    from pathlib import Path
    from arena import console

    with console.engine_log(Path(sys.argv[1])):
        console.say("stage line")
        print("result on stdout")
        os.write(2, b"engine C-level chatter\\n")
        os.write(1, b"engine stdout chatter\\n")
        print("library warning on sys.stderr", file=sys.stderr)
        logging.getLogger("vllm").warning("vllm says a lot")
        logging.getLogger("arena.judge").warning("arena warns once")
        subprocess.run([sys.executable, "-c", "import sys; print('worker process'); print('worker err', file=sys.stderr)"])
    print("after: back on stdout")
    print("after: back on stderr", file=sys.stderr)
""")


def test_engine_output_goes_to_the_log_and_arena_lines_to_the_terminal(tmp_path: Path) -> None:
    log = tmp_path / "logs" / "run.log"
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(log)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["result on stdout", "after: back on stdout"]
    assert done.stderr.splitlines() == ["stage line", "warning: arena warns once", "after: back on stderr"]
    logged = log.read_text()
    for line in ("engine C-level chatter", "engine stdout chatter", "library warning on sys.stderr",
                 "vllm says a lot", "worker process", "worker err"):
        assert line in logged
    assert "stage line" not in logged and "result on stdout" not in logged


def test_verbose_leaves_the_terminal_alone(tmp_path: Path) -> None:
    script = "import os\nfrom arena import console\nwith console.engine_log(None):\n    os.write(2, b'shown')\n"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stderr == "shown"
