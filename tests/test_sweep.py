"""`hashplan sweep`: every scenario solved on its own, failures recorded, re-runs reused, and a
real local Dask cluster giving the same KPIs as local worker processes."""

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from optimizer.cli import main

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
CFO = EXAMPLES / "cfo_q1_2026"
PACK = f"""name: small
base: {CFO / 'case.yaml'}
scenarios:
  - name: base
  - name: difficulty -11%
    difficulty_adjustment: -0.11
  - name: bad input
    set:
      treasury.min_cash_usd: -5
"""


@pytest.fixture(scope="module")
def pack(tmp_path_factory):
    path = tmp_path_factory.mktemp("pack") / "pack.yaml"
    path.write_text(PACK)
    return path


@pytest.fixture(scope="module")
def local(pack, tmp_path_factory):
    out = tmp_path_factory.mktemp("local") / "sweep"
    assert main(["sweep", str(pack), "--out", str(out), "--workers", "2", "-q"]) == 0
    return out


def _rows(out: Path) -> dict:
    return {row["scenario"]: row for row in json.loads((out / "pack.json").read_text())["scenarios"]}


def test_each_scenario_gets_a_result_folder_and_the_failure_is_recorded(local):
    rows = _rows(local)
    reference = json.loads((CFO / "reference.json").read_text())
    assert rows["base"]["terminal_value_usd"] == pytest.approx(reference["terminal_value_usd"], rel=1e-6)
    # a lower difficulty mines more BTC from the same fleet
    assert rows["difficulty -11%"]["btc_mined"] > rows["base"]["btc_mined"]
    assert rows["bad input"]["status"] == "failed" and "treasury.min_cash_usd: must be >= 0" in rows["bad input"]["error"]
    for name in ("base", "difficulty-11"):
        assert sorted(p.name for p in (local / name).iterdir()) == ["dispatch.csv", "report.xlsx", "scenario.json", "summary.json", "thresholds.csv"]
    assert json.loads((local / "base" / "summary.json").read_text())["objective_usd"] == rows["base"]["objective_usd"]
    assert not (local / "bad-input").exists()
    table = pd.read_excel(local / "pack.xlsx", sheet_name="Scenarios", header=1)
    assert table["Status"].tolist() == ["optimal", "optimal", "failed"]
    stats = pd.read_excel(local / "pack.xlsx", sheet_name="Statistics", header=1, index_col=0)
    solved = [rows["base"]["terminal_value_usd"], rows["difficulty -11%"]["terminal_value_usd"]]
    assert stats.loc["Terminal value [USD]", "Mean"] == pytest.approx(sum(solved) / 2, rel=1e-12)  # equal probabilities
    assert stats.loc["Terminal value [USD]", "Minimum"] == pytest.approx(min(solved), rel=1e-12)


def test_a_rerun_reuses_scenarios_solved_from_the_same_inputs(pack, local, tmp_path):
    out = tmp_path / "sweep"
    shutil.copytree(local, out)
    stamp = (out / "base" / "report.xlsx").stat().st_mtime_ns
    changed = pack.parent / "changed.yaml"
    changed.write_text(PACK.replace("-0.11", "-0.05"))
    assert main(["sweep", str(changed), "--out", str(out), "--workers", "1", "-q"]) == 0
    rows = _rows(out)
    assert rows["base"]["reused"] and not rows["difficulty -11%"]["reused"]
    assert (out / "base" / "report.xlsx").stat().st_mtime_ns == stamp
    assert rows["difficulty -11%"]["btc_mined"] < _rows(local)["difficulty -11%"]["btc_mined"]
    assert main(["sweep", str(changed), "--out", str(out), "--workers", "1", "--force", "-q"]) == 0
    assert not any(row["reused"] for row in _rows(out).values())


def test_sweep_refuses_a_folder_that_holds_other_output(pack, tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("mine")
    assert main(["sweep", str(pack), "--out", str(tmp_path), "-q"]) == 2
    assert "not a sweep's results" in capsys.readouterr().err


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_local_dask_cluster_gives_the_same_kpis(pack, local, tmp_path):
    distributed = pytest.importorskip("distributed")
    dask = [str(Path(sys.executable).parent / "dask")] if (Path(sys.executable).parent / "dask").exists() else [sys.executable, "-m", "dask"]
    address = f"tcp://127.0.0.1:{_free_port()}"
    env = {**os.environ, "DASK_DISTRIBUTED__WORKER__DAEMON": "False"}
    processes = [subprocess.Popen([*dask, "scheduler", "--host", "127.0.0.1", "--port", address.rsplit(":", 1)[1], "--no-dashboard"], env=env, stderr=subprocess.DEVNULL)]
    try:
        for _ in range(2):
            processes.append(subprocess.Popen([*dask, "worker", address, "--nworkers", "1", "--nthreads", "1", "--no-dashboard"], env=env, stderr=subprocess.DEVNULL))
        with distributed.Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=60)
        out = tmp_path / "sweep"
        assert main(["sweep", str(pack), "--out", str(out), "--scheduler", address, "-q"]) == 0
    finally:
        for process in reversed(processes):
            process.terminate()
            process.wait(timeout=30)
    on_dask, here = _rows(out), _rows(local)
    for name in ("base", "difficulty -11%"):
        for key in ("objective_usd", "terminal_value_usd", "btc_mined", "btc_sold", "energy_cost_usd"):
            assert on_dask[name][key] == pytest.approx(here[name][key], rel=1e-9), (name, key)
    assert on_dask["bad input"]["status"] == "failed"
