"""Benchmark sweeps: 100 quarter scenarios with 1 and 2 local workers and on a local Dask cluster.

The pack is ``examples/cfo_q1_2026`` (a quarter, hourly, with a daily treasury) under N GBM
BTC price paths fitted to the last two years of daily closes, difficulty following hashprice.
Each configuration runs ``hashplan sweep`` in a fresh process into a fresh folder and reports
its total wall time, the mean time per scenario inside the workers and each worker's peak
memory. The Dask run starts ``dask scheduler`` and two single-threaded ``dask worker``
processes on 127.0.0.1 and stops them after. A benchmark, not a test: it asserts nothing.

Run from the repository root: ``python bench/sweep.py [--scenarios 100]``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BASE = REPO / "examples" / "cfo_q1_2026" / "case.yaml"
HISTORY = REPO / "examples" / "squeeze_2026" / "btc_daily_closes.csv"


def write_pack(folder: Path, scenarios: int) -> Path:
    """The benchmark's pack file (and its price history) in ``folder``."""
    shutil.copy(HISTORY, folder / HISTORY.name)
    path = folder / "pack.yaml"
    path.write_text(
        f"name: bench {scenarios} quarters\nbase: {BASE}\ngenerators:\n"
        f"  - {{kind: gbm, name: gbm, count: {scenarios}, seed: 1, fit_days: 730, difficulty_elasticity: 0.5,\n"
        f"     history: {{file: {HISTORY.name}, column: close_usd}}}}\n"
    )
    return path


def run_sweep(pack: Path, out: Path, *options: str) -> dict:
    """Run ``hashplan sweep`` in a fresh process; its wall time and the rows' run figures."""
    began = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "optimizer.cli", "sweep", str(pack), "--out", str(out), "-q", *options], capture_output=True, text=True)
    wall = time.perf_counter() - began
    if done.returncode != 0:
        raise SystemExit(f"sweep {' '.join(options)} failed:\n{done.stdout}{done.stderr}")
    rows = json.loads((out / "pack.json").read_text())["scenarios"]
    solved = [row for row in rows if row["status"] != "failed"]
    return {
        "wall_s": wall,
        "scenarios": len(rows),
        "failed": len(rows) - len(solved),
        "mean_scenario_s": statistics.fmean(row["run"]["seconds"] for row in solved),
        "worker_peak_rss_mb": max(row["run"]["worker_peak_rss_mb"] for row in solved),
        "objectives": [row.get("objective_usd") for row in rows],
    }


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def dask_cluster(workers: int) -> tuple[str, list[subprocess.Popen]]:
    """A scheduler and ``workers`` single-threaded workers on 127.0.0.1, ready to take work."""
    from distributed import Client

    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    dask = str(Path(sys.executable).parent / "dask")
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    env = {**os.environ, "DASK_DISTRIBUTED__WORKER__DAEMON": "False"}
    processes = [subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"], env=env, **quiet)]
    processes += [subprocess.Popen([dask, "worker", address, "--nworkers", "1", "--nthreads", "1", "--no-dashboard"], env=env, **quiet) for _ in range(workers)]
    with Client(address, timeout=60) as client:
        client.wait_for_workers(workers, timeout=60)
    return address, processes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenarios", type=int, default=100, help="quarter scenarios in the pack (default 100)")
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        pack = write_pack(folder, args.scenarios)
        for workers in (1, 2):
            print(f"sweeping {args.scenarios} scenarios with {workers} local worker(s)", file=sys.stderr, flush=True)
            results[f"{workers} local worker(s)"] = run_sweep(pack, folder / f"local{workers}", "--workers", str(workers))
        print("sweeping on a local Dask cluster (scheduler + 2 workers)", file=sys.stderr, flush=True)
        address, processes = dask_cluster(2)
        try:
            results["Dask, 2 workers"] = run_sweep(pack, folder / "dask", "--scheduler", address)
        finally:
            for process in reversed(processes):
                process.terminate()
                process.wait(timeout=30)
    reference = results["1 local worker(s)"]["objectives"]
    print(f"\n{args.scenarios} quarter scenarios of {BASE.parent.name} ({os.cpu_count()} cores)")
    print(f"{'configuration':22} {'total s':>8} {'per scenario s':>15} {'scenarios/min':>14} {'worker peak MB':>15} {'same objectives':>16}")
    for name, row in results.items():
        same = all(a == b or (a is not None and b is not None and abs(a - b) <= 1e-9 * abs(b)) for a, b in zip(row["objectives"], reference))
        print(f"{name:22} {row['wall_s']:8.1f} {row['mean_scenario_s']:15.2f} {60 * row['scenarios'] / row['wall_s']:14.1f} {row['worker_peak_rss_mb']:15.0f} {str(same):>16}")


if __name__ == "__main__":
    main()
