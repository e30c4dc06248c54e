"""Progressive hedging through mpi-sppy agrees with the extensive form on the hand-solved toy."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from test_stochastic import N, toy

pytest.importorskip("mpisppy")


def test_progressive_hedging_finds_the_hand_solved_first_stage(tmp_path):
    from optimizer.hedging import progressive_hedging

    path, bp0 = toy(tmp_path)
    result = progressive_hedging(path, iterations=100, rho=0.01)
    assert result["first_stage"]["purchases[0] ordered 2026-01-01"] == pytest.approx(N, rel=1e-6)
    # RP by hand: the 100 installed machines at the high price, plus N bought at 0.35 b p0 - P
    assert result["expected_value_usd"] == pytest.approx(0.5 * 100 * 0.7 * bp0 + N * 0.075 * bp0, rel=1e-6)


MPIEXEC = shutil.which("mpiexec", path=str(Path(sys.executable).parent))


@pytest.mark.skipif(MPIEXEC is None, reason='no mpiexec beside this Python (pip install "hashplan[mpi]")')
def test_two_mpi_ranks_give_the_same_plan(tmp_path):
    pytest.importorskip("mpi4py")
    path, bp0 = toy(tmp_path)
    out = tmp_path / "robust"
    command = [MPIEXEC, "-n", "2", sys.executable, "-m", "optimizer.cli", "plan-robust", str(path), "--method", "ph", "--ph-rho", "0.01", "--out", str(out), "-q"]
    subprocess.run(command, check=True, capture_output=True, timeout=300)
    robust = json.loads((out / "robust.json").read_text())
    assert "2 rank(s)" in robust["method"]
    assert robust["first_stage"][0]["value"] == pytest.approx(N, rel=1e-6)
