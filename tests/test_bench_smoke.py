"""The benchmarks still run (they are not tests of speed: nothing here is timed)."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "data"


@pytest.mark.skipif(not SHARED.is_dir(), reason="bench/dispatch.py builds its cases from ../shared/data")
def test_dispatch_benchmark_runs_its_smallest_size():
    result = subprocess.run([sys.executable, "bench/dispatch.py", "--sizes", "week"], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    row = next(line for line in result.stdout.splitlines() if line.startswith("week"))
    assert "optimal" in row


def test_run_benchmark_quick_prints_every_ratio_it_measures():
    result = subprocess.run([sys.executable, "bench/run.py", "--quick"], cwd=ROOT, capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "certified gap" in out and "optimal" in out
    assert "P2 end to end / highspy alone" in out and "P4 end to end" in out
    assert "P1 build + hand-off of the hourly model (median of 3): hashplan" in out and "linopy twin" in out
    assert "P3" in out and out.count("exponent") == 2
