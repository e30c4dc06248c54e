"""Benchmark the dispatch pipeline on the example fleet at a week, a quarter and a year.

For each size of the West Texas example (same site, machine models, fleet counts, fixed-price
block, adder, pool fee and solver options as ``examples/west_texas_q3_2023/case.yaml``), on
hourly periods:

========  ===========================  =======
size      horizon (America/Chicago)    periods
========  ===========================  =======
week      2023-07-01 .. 2023-07-08         168
quarter   2023-07-01 .. 2023-10-01       2,208
year      2023-01-01 .. 2024-01-01       8,760
========  ===========================  =======

it measures the wall time of each stage of ``hashplan run``:

- ``load``: :func:`optimizer.case.load_case` (YAML, CSV series, validation);
- ``build``: :func:`models.build.build_model`;
- ``handoff``: compiling the model to matrices and passing them to HiGHS
  (``SolveReport.handoff_seconds``);
- ``solve``: time inside HiGHS, all solves (``SolveReport.solve_seconds``);
- ``other``: the rest of :func:`optimizer.solve.solve`'s wall time (floor-and-repair
  bookkeeping, loading the solution into the model's variables);
- ``extract``: :func:`optimizer.results.extract_results`;
- ``report``: :func:`optimizer.report.write_report` to a temporary folder;

and ``total``, their sum. One-off imports are not in any stage: Pyomo imports scipy (about
1 s and 55 MB, mostly ``scipy.stats``) on the first compile to matrices, which ``hashplan run``
pays in its hand-off; the bench triggers that import before timing, so the hand-off measures
the compilation alone. Memory is the process's peak resident set size
(``resource.getrusage(RUSAGE_SELF).ru_maxrss``): for the whole size, and as the high-water mark
reached by the end of each stage, so the stage that sets the peak is the one where it jumps.

Every repetition of every size runs in a fresh subprocess, so its peak RSS belongs to that size
alone. On Linux ``exec`` carries the parent's peak RSS into the child's ``ru_maxrss``; this
parent therefore only orchestrates, imports nothing beyond the standard library, and leaves the
data preparation to a subprocess too, so its small peak stays below every measurement.

Data: the example folder holds only the third quarter, so every run generates a year of inputs
into a temporary folder from the shared data (``--shared``): LZ_WEST hourly real-time prices for
2023 from ``ercot/ercot_rtm_lz_hourly_2023.csv`` (with ``ercot_zone_hourly`` of
``examples/derive.py``), and daily BTC close and difficulty from
``btc/btc_daily_2020-04_2025-04.csv``, 2023-01-01 .. 2024-01-01 (the loader needs the horizon end
covered). The Blockchain.com fee series start on 2023-04-30, so the bench uses a constant
``fees_btc_per_block`` of 0.1 BTC. The block height at each horizon start is projected at 144
blocks a day from the example's. All three sizes read the same year files and differ only in
their horizon, so their load times include parsing the year's CSV files.

Run from the repository root::

    python bench/dispatch.py [--sizes week,quarter,year] [--repeat N] [--json PATH] [--shared PATH]

With ``--repeat N`` each stage's seconds (and the total) are the median over the N runs and the
peak RSS the largest. This is a benchmark, not a test: it asserts nothing about time or memory,
and its timings vary with the load of the machine.
"""

from __future__ import annotations

import argparse
import copy
import importlib.util
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from optimizer.memory import peak_rss_mb

if TYPE_CHECKING:
    import pandas as pd

REPO = Path(__file__).resolve().parents[1]
EXAMPLE_CASE = REPO / "examples" / "west_texas_q3_2023" / "case.yaml"
DEFAULT_SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"

SIZES = {
    "week": ("2023-07-01T00:00", "2023-07-08T00:00"),
    "quarter": ("2023-07-01T00:00", "2023-10-01T00:00"),
    "year": ("2023-01-01T00:00", "2024-01-01T00:00"),
}
"""Horizon start and end of each size [local time of the example's time zone]."""

STAGES = ("load", "build", "handoff", "solve", "other", "extract", "report")
MEMORY_STAGES = ("imports", "load", "build", "solve()", "extract", "report")
"""Points at which the peak RSS is read: after the imports, then after each call."""

ZONE = "LZ_WEST"
PRICES_CSV = "ercot_lz_west_2023.csv"
NETWORK_CSV = "network_2023.csv"
FEES_BTC_PER_BLOCK = 0.1
"""Constant mean fees per block [BTC/block]: no fee series covers all of 2023."""


def main() -> int:
    """Parse the options and run the benchmark (or one of its subprocess roles)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=",".join(SIZES), help=f"comma-separated sizes from {', '.join(SIZES)} (default: all)")
    parser.add_argument("--repeat", type=int, default=1, metavar="N", help="runs per size; stage times are the median (default 1)")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the results as JSON to PATH")
    parser.add_argument("--shared", type=Path, default=DEFAULT_SHARED, metavar="PATH", help=f"the shared data folder (default {DEFAULT_SHARED})")
    parser.add_argument("--prepare-into", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.prepare_into:
        prepare(args.prepare_into, args.shared)
        return 0
    if args.measure:
        print(json.dumps(measure(args.measure)))
        return 0
    sizes = [s.strip() for s in args.sizes.split(",") if s.strip()]
    unknown = [s for s in sizes if s not in SIZES]
    if unknown or not sizes:
        parser.error(f"--sizes takes a comma-separated list from {', '.join(SIZES)}; got {args.sizes!r}")
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    if not args.shared.is_dir():
        parser.error(f"shared data folder not found: {args.shared}")
    return run(sizes, args.repeat, args.shared.resolve(), args.json)


# --- parent: orchestrate subprocesses and print the table ---------------------------------


def run(sizes: list[str], repeat: int, shared: Path, json_path: Path | None) -> int:
    """Prepare the cases, measure each size in fresh subprocesses and print the results.

    Parameters
    ----------
    sizes : list of str
        Keys of :data:`SIZES`, in the order to run them.
    repeat : int
        Runs per size [-].
    shared : pathlib.Path
        The shared data folder.
    json_path : pathlib.Path or None
        Where to write the results as JSON, if anywhere.

    Returns
    -------
    int
        Exit status: 0, or 1 when a size failed.
    """
    with tempfile.TemporaryDirectory(prefix="hashplan-bench-") as tmp:
        folder = Path(tmp)
        prepared = _child("--prepare-into", str(folder), "--shared", str(shared))
        if prepared.returncode:
            print(f"preparing the cases failed:\n{prepared.stderr}", file=sys.stderr)
            return 1
        rows = []
        for size in sizes:
            print(f"measuring {size} ({repeat} run{'s' if repeat > 1 else ''})", file=sys.stderr, flush=True)
            rows.append(summarise(size, [_measure_in_subprocess(folder / f"{size}.yaml") for _ in range(repeat)]))
    print(format_table(rows))
    print()
    print(format_memory_table(rows))
    for row in rows:
        if "error" in row:
            print(f"\n{row['size']} failed:\n{row['error']}", file=sys.stderr)
    if json_path:
        document = {
            "benchmark": "bench/dispatch.py",
            "repeat": repeat,
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "fees_btc_per_block": FEES_BTC_PER_BLOCK,
            "sizes": rows,
        }
        json_path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return 1 if any("error" in row for row in rows) else 0


def _child(*args: str) -> subprocess.CompletedProcess:
    """Run this script in a fresh interpreter with ``args``, from the repository root."""
    return subprocess.run([sys.executable, str(Path(__file__).resolve()), *args], cwd=REPO, capture_output=True, text=True)


def _measure_in_subprocess(case_path: Path) -> dict[str, Any]:
    """One measurement of one case, or ``{"error": traceback}`` when a stage raised."""
    done = _child("--measure", str(case_path))
    if done.returncode:
        return {"error": done.stderr.strip() or f"exit status {done.returncode}"}
    return json.loads(done.stdout.splitlines()[-1])


def summarise(size: str, runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Median stage times and the largest peak RSS over the runs of one size.

    Parameters
    ----------
    size : str
        The size's name.
    runs : list of dict
        What :func:`measure` returned for each run, or ``{"error": ...}``.

    Returns
    -------
    dict
        The table row; ``error`` holds the first failure's traceback if any run failed.
    """
    start, end = SIZES[size]
    row: dict[str, Any] = {"size": size, "start": start, "end": end}
    failed = [run["error"] for run in runs if "error" in run]
    if failed:
        return row | {"error": failed[0]}
    first = runs[0]
    totals = [sum(run["seconds"].values()) for run in runs]
    return row | {
        "periods": first["periods"],
        "variables": first["variables"],
        "constraints": first["constraints"],
        "seconds": {stage: statistics.median(run["seconds"][stage] for run in runs) for stage in STAGES},
        "total_seconds": statistics.median(totals),
        "peak_rss_mb": max(run["peak_rss_mb"] for run in runs),
        "stage_peak_rss_mb": {stage: max(run["stage_peak_rss_mb"][stage] for run in runs) for stage in MEMORY_STAGES},
        "objective_usd": first["objective_usd"],
        "status": first["status"],
        "mip_gap": first["mip_gap"],
        "solver": first["solver"],
        "runs": runs,
    }


def format_table(rows: list[dict[str, Any]]) -> str:
    """The main table: one line per size with model size, stage seconds, peak RSS and the plan."""
    header = ["size", "periods", "vars", "cons", *STAGES, "total", "RSS MB", "objective USD", "status", "gap"]
    lines = [header]
    for row in rows:
        if "error" in row:
            lines.append([row["size"], *["-"] * (len(header) - 3), "failed", "-"])
            continue
        gap = row["mip_gap"]
        lines.append(
            [
                row["size"],
                f"{row['periods']:,}",
                f"{row['variables']:,}",
                f"{row['constraints']:,}",
                *(f"{row['seconds'][stage]:.3f}" for stage in STAGES),
                f"{row['total_seconds']:.3f}",
                f"{row['peak_rss_mb']:.0f}",
                f"{row['objective_usd']:,.0f}",
                row["status"],
                "inf" if gap is None else f"{gap:.4%}",
            ]
        )
    return _aligned(lines, left={0, len(header) - 2})


def format_memory_table(rows: list[dict[str, Any]]) -> str:
    """Peak RSS [MB] reached by the end of each stage, one line per size."""
    lines = [["peak RSS MB after", *MEMORY_STAGES]]
    for row in rows:
        if "error" not in row:
            lines.append([row["size"], *(f"{row['stage_peak_rss_mb'][stage]:.0f}" for stage in MEMORY_STAGES)])
    return _aligned(lines, left={0})


def _aligned(lines: list[list[str]], left: set[int]) -> str:
    """Columns padded to a common width: right-aligned except the indices in ``left``."""
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    return "\n".join(
        "  ".join(cell.ljust(widths[i]) if i in left else cell.rjust(widths[i]) for i, cell in enumerate(line)).rstrip()
        for line in lines
    )


# --- subprocess: generate the year's inputs and one case file per size -------------------


def prepare(folder: Path, shared: Path) -> None:
    """Write the year's price and network CSV files and ``<size>.yaml`` for every size.

    Parameters
    ----------
    folder : pathlib.Path
        An existing, empty folder.
    shared : pathlib.Path
        The shared data folder.
    """
    import yaml  # here, not at the top: the parent must stay small (see the module docstring)

    year_start, year_end = SIZES["year"][0][:10], SIZES["year"][1][:10]
    _ercot_zone_hourly()(shared, ZONE, year_start, year_end).to_csv(folder / PRICES_CSV, index=False)
    network_daily(shared, year_start, year_end).to_csv(folder / NETWORK_CSV, index=False)
    example = yaml.safe_load(EXAMPLE_CASE.read_text(encoding="utf-8"))
    for size, (start, end) in SIZES.items():
        spec = case_spec(example, size, start, end)
        (folder / f"{size}.yaml").write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")


def _ercot_zone_hourly() -> Callable:
    """``ercot_zone_hourly`` from ``examples/derive.py`` (a script, not a package)."""
    spec = importlib.util.spec_from_file_location("derive", REPO / "examples" / "derive.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.ercot_zone_hourly


def network_daily(shared: Path, start: str, end: str) -> pd.DataFrame:
    """Daily BTC close and difficulty (UTC days), ``start`` to ``end`` inclusive.

    Parameters
    ----------
    shared : pathlib.Path
        The shared data folder.
    start, end : str
        First and last day, ``YYYY-MM-DD``.

    Returns
    -------
    pandas.DataFrame
        Columns ``timestamp`` (``YYYY-MM-DDT00:00Z``), ``btc_price_usd``, ``difficulty``.
    """
    import pandas as pd  # here, not at the top: the parent must stay small

    daily = pd.read_csv(shared / "btc" / "btc_daily_2020-04_2025-04.csv", parse_dates=["Date"]).set_index("Date")
    days = pd.date_range(start, end, freq="D")
    frame = pd.DataFrame(
        {
            "timestamp": days.strftime("%Y-%m-%dT00:00Z"),
            "btc_price_usd": daily["Close"].reindex(days).round(2).to_numpy(),
            "difficulty": daily["difficulty"].reindex(days).to_numpy(),
        }
    )
    if frame.isna().any().any():
        raise SystemExit(f"shared data does not cover {start} to {end}")
    return frame


def case_spec(example: dict[str, Any], size: str, start: str, end: str) -> dict[str, Any]:
    """The example case on the generated year files, cut to one horizon.

    Parameters
    ----------
    example : dict
        The example's case mapping (not modified).
    size : str
        The size's name, for the case name.
    start, end : str
        Horizon start and end [local time of the example's time zone].

    Returns
    -------
    dict
        A case mapping that differs from the example only in name, horizon, series files,
        constant fees and the block height at the start.
    """
    spec = copy.deepcopy(example)
    network = spec["network"]
    days_from_example = (datetime.fromisoformat(start) - datetime.fromisoformat(str(example["horizon"]["start"]))).total_seconds() / 86400
    spec["name"] = f"{example['name']} (bench: {size})"
    spec["horizon"] |= {"start": start, "end": end}
    network |= {
        "btc_price_usd": {"file": NETWORK_CSV, "column": "btc_price_usd"},
        "difficulty": {"file": NETWORK_CSV, "column": "difficulty"},
        "fees_btc_per_block": FEES_BTC_PER_BLOCK,
        "block_height": network["block_height"] + round(network.get("blocks_per_day", 144.0) * days_from_example),
    }
    for site in spec["sites"]:
        site["power"]["spot_usd_per_mwh"] = {"file": PRICES_CSV, "column": "price_usd_per_mwh"}
    return spec


# --- subprocess: measure one case ---------------------------------------------------------


def measure(case_path: Path) -> dict[str, Any]:
    """Run every stage on one case, timing each and reading the peak RSS after each.

    Parameters
    ----------
    case_path : pathlib.Path
        A case file written by :func:`prepare`.

    Returns
    -------
    dict
        ``periods``, ``variables``, ``constraints``, ``seconds`` per stage, ``peak_rss_mb``,
        ``stage_peak_rss_mb`` per point of :data:`MEMORY_STAGES`, and the plan's
        ``objective_usd``, ``status``, ``mip_gap`` and ``solver``.
    """
    # here, not at the top: the parent must stay small (see the module docstring)
    import pyomo.environ as pyo
    from pyomo.common.dependencies import scipy_available

    from models.build import build_model
    from optimizer.case import load_case
    from optimizer.report import write_report
    from optimizer.results import extract_results
    from optimizer.solve import solve

    if not scipy_available:  # resolves Pyomo's deferred scipy import now, not in the first hand-off
        raise RuntimeError("scipy is required by Pyomo's standard-form compiler")
    memory = {"imports": peak_rss_mb()}
    seconds: dict[str, float] = {}
    case, seconds["load"] = _timed(load_case, case_path)
    memory["load"] = peak_rss_mb()
    model, seconds["build"] = _timed(build_model, case)
    memory["build"] = peak_rss_mb()
    report, solve_wall = _timed(solve, model, case.spec.solver)
    memory["solve()"] = peak_rss_mb()
    seconds["handoff"] = report.handoff_seconds
    seconds["solve"] = report.solve_seconds
    seconds["other"] = solve_wall - report.handoff_seconds - report.solve_seconds
    results, seconds["extract"] = _timed(extract_results, model, case, report)
    memory["extract"] = peak_rss_mb()
    with tempfile.TemporaryDirectory(prefix="hashplan-bench-report-") as out:
        _, seconds["report"] = _timed(write_report, Path(out) / "report.xlsx", results, case)
    memory["report"] = peak_rss_mb()
    return {
        "periods": case.grid.n_periods,
        "variables": sum(1 for _ in model.component_data_objects(pyo.Var, descend_into=True)),
        "constraints": sum(1 for _ in model.component_data_objects(pyo.Constraint, active=True, descend_into=True)),
        "seconds": {stage: seconds[stage] for stage in STAGES},
        "peak_rss_mb": peak_rss_mb(),
        "stage_peak_rss_mb": memory,
        "objective_usd": report.objective_usd,
        "status": report.status,
        "mip_gap": report.mip_gap if math.isfinite(report.mip_gap) else None,
        "solver": report.solver,
    }


def _timed(function: Callable, *args: Any) -> tuple[Any, float]:
    """``function(*args)`` and its wall time [s]."""
    began = time.perf_counter()
    value = function(*args)
    return value, time.perf_counter() - began


if __name__ == "__main__":
    sys.exit(main())
