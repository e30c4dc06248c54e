"""Benchmark ``hashplan run`` on the year-hourly renewal case: stages, the bare-HiGHS ratio, scaling.

The case is the pivot example (``examples/pivot_2026``: real 2023 ERCOT zone prices for three
sites, monthly purchases, retirements and HPC halls, a daily treasury with debt and covenant)
with each site's fleet spread over ``--models`` catalogue models (the most efficient ones, all
retirable) and, with ``--weeks``, the horizon cut to that many weeks. Every measurement runs in a
fresh subprocess, so its peak resident memory belongs to it alone.

For the full size it measures every stage's wall time and the peak RSS reached by its end:
load (YAML, CSV and every validation rule), build, hand-off (compiling to matrices and passing
them to HiGHS), solve (time inside HiGHS), solve-other (the rest of the solve: branch and bound
and repair bookkeeping), re-check (the plan against the full hourly model), extract and report.
It then writes the same model, as ``hashplan`` hands it to HiGHS, to an MPS file and solves it
with ``highspy`` alone (its default MIP, the same gap and time limit): the target P2 of issue 8
is end-to-end <= 1.5x that solve. Then it measures end-to-end time at four horizons and at four
fleet sizes and fits the scaling exponent b of time ~ size^b on each.

P1 compares, in the same process as the full-size run, ``hashplan``'s build + hand-off of the
hourly model (timed apart from the solve, which on price blocks hands over three models) with
those of the same model written with linopy (``bench/twin.py``, built and passed to HiGHS by
linopy's ``to_highspy``), each measured three times in turn after the solve and their medians
compared; it needs the ``bench`` extra (``pip install -e ".[bench]"``) and says
so if linopy is missing. P3 compares build + solve of a quarter (or the full size, if shorter)
with the daily treasury against the textbook formulation with hourly cash and BTC balances
(``bench/textbook.py``).

With ``--price-blocks K`` every size except P3's is solved on K price blocks a day
(``solver.price_blocks_per_day``); the bare-highspy solve is still of the hourly model. The
blocked model is then built within the solve stage, as ``hashplan run`` builds it.

Run from the repository root: ``python bench/run.py [--quick] [--weeks W] [--models M] [--price-blocks K]``.
``--quick`` uses 1 week and 3 models, with scaling sizes to match, and finishes in about a
minute. A benchmark, not a test: it asserts nothing.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from optimizer.memory import peak_rss_mb

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "pivot_2026"
P1_REPEATS = 3
"""Times the hourly model's build + hand-off, ours and the twin's, is measured for P1 (the median counts) [-]."""
STAGES = ("load", "build", "hand-off", "solve (HiGHS)", "solve (other)", "re-check", "extract", "report")


def write_case(folder: Path, weeks: int | None, models: int, price_blocks: int | None = None) -> Path:
    """The pivot case over ``weeks`` weeks (None: its whole year) with each site's fleet spread
    over the ``models`` most efficient catalogue models, all retirable, solved on ``price_blocks``
    blocks a day if given (``solver.price_blocks_per_day``).

    Over a shorter horizon, debt payments after it are dropped and lead times (purchases, HPC
    halls) capped at half of it, so every option stays open; everything else is the example's.
    """
    from optimizer.cli import asic_catalogue

    base = yaml.safe_load((EXAMPLE / "case.yaml").read_text())
    for csv in EXAMPLE.glob("*.csv"):
        (folder / csv.name).write_bytes(csv.read_bytes())
    if weeks is not None:
        end = dt.datetime.fromisoformat(str(base["horizon"]["start"])) + dt.timedelta(weeks=weeks)
        base["horizon"]["end"] = end.isoformat(timespec="minutes")
        base["debt"] = [d for d in base["debt"] if d["date"] < end.date()]
        for option in base["purchases"] + base["hpc"]:
            option["lead_time_days"] = min(option["lead_time_days"], 7 * weeks // 2)
    catalogue = asic_catalogue().assign(j_per_th=lambda t: t["power_w"] / t["hashrate_th"]).nsmallest(models, "j_per_th")
    kept = {m["name"]: m for m in base["miner_models"] if m["name"] == "S21 XP"}
    base["miner_models"] = [
        kept.get(r.model, {"name": r.model, "hashrate_th": float(r.hashrate_th), "power_w": float(r.power_w), "resale_usd": 0.1 * 14.0 * float(r.hashrate_th)})
        for r in catalogue.itertuples()
    ]
    if "S21 XP" not in {m["name"] for m in base["miner_models"]}:
        base["miner_models"].append(kept["S21 XP"])
    base["fleet"], base["retirements"] = [], []
    for site in base["sites"]:
        per_model_mw = 0.9 * site["interconnect_mw"] / (1.0 + site["aux_load_fraction"]) / len(catalogue)
        for r in catalogue.itertuples():
            base["fleet"].append({"site": site["name"], "model": r.model, "count": int(per_model_mw * 1e6 / r.power_w)})
            base["retirements"].append({"site": site["name"], "model": r.model})
    if price_blocks is not None:
        base["solver"]["price_blocks_per_day"] = price_blocks
    base["name"] = f"Pivot 2026, {'a year' if weeks is None else f'{weeks} weeks'}, 3 sites x {models} models"
    path = folder / "case.yaml"
    path.write_text(yaml.safe_dump(base, sort_keys=False))
    return path


def measure(weeks: int | None, models: int, bare: bool, price_blocks: int | None = None) -> dict[str, Any]:
    """Every stage of ``hashplan run`` on the case of :func:`write_case`, then optionally the bare-highspy solve."""
    from pyomo.common.dependencies import scipy_available

    from models.build import build_model, build_price_blocked
    from optimizer.case import load_case
    from optimizer.report import write_report
    from optimizer.results import extract_results
    from optimizer.solve import _compile, _highs, plan_violation, solve

    assert scipy_available  # Pyomo imports scipy on the first compile: pay it here, not in the hand-off
    seconds, memory = {}, {}

    def timed(name, function, *args):
        began = time.perf_counter()
        value = function(*args)
        seconds[name], memory[name] = time.perf_counter() - began, peak_rss_mb()
        return value

    with tempfile.TemporaryDirectory() as folder:
        case = timed("load", load_case, write_case(Path(folder), weeks, models, price_blocks))
    model = timed("build", build_model, case)
    # the blocked model is built in the call, as by ``hashplan run``: nothing here holds it once solve() re-cuts it
    report = timed("solve", lambda: solve(model, case.spec.solver, blocks=build_price_blocked(case)))
    seconds["hand-off"], seconds["solve (HiGHS)"] = report.handoff_seconds, report.solve_seconds
    seconds["solve (other)"] = seconds.pop("solve") - report.handoff_seconds - report.solve_seconds
    memory["hand-off"] = memory["solve (HiGHS)"] = memory["solve (other)"] = memory.pop("solve")
    violation = timed("re-check", plan_violation, model)
    results = timed("extract", extract_results, model, case, report)
    with tempfile.TemporaryDirectory() as out:
        timed("report", write_report, Path(out) / "report.xlsx", results, case)
    row = {
        "periods": case.grid.n_periods,
        "classes": len(case.machine_classes),
        "seconds": {stage: seconds[stage] for stage in STAGES},
        "peak_mb": {stage: memory[stage] for stage in STAGES},
        "end_to_end_s": sum(seconds.values()),
        "status": report.status,
        "gap": report.mip_gap,
        "objective_usd": report.objective_usd,
        "violation": violation,
    }
    if bare:
        import highspy

        # the solve changed no bounds of the Pyomo model: it compiles to what HiGHS was given
        problem = _compile(model)
        writer = _highs(case.spec.solver, case.spec.solver.time_limit_s)
        problem.pass_to(writer)
        row["rows"], row["columns"] = problem.repn.A.shape
        del model, problem
        with tempfile.TemporaryDirectory() as out:
            mps = str(Path(out) / "model.mps")
            writer.writeModel(mps)
            highs = _highs(case.spec.solver, case.spec.solver.time_limit_s)
            highs.readModel(mps)
            began = time.perf_counter()
            highs.run()
            info = highs.getInfo()
        row["bare"] = {
            "seconds": time.perf_counter() - began,
            "status": highs.modelStatusToString(highs.getModelStatus()),
            "gap": info.mip_gap if info.primal_solution_status == highspy.SolutionStatus.kSolutionStatusFeasible else math.inf,
        }
        del writer, highs
        row["p1"] = measure_p1(case)
    return row


def measure_p1(case) -> dict[str, Any]:
    """Build + hand-off of the hourly model of ``case``, ours and the linopy twin's in turn,
    ``P1_REPEATS`` times each (target P1): {"ours": [[build, hand-off], ...], "twin": [...]},
    or {"error": why} without linopy.

    The hand-off is ``hashplan``'s compile and ``pass_to`` of the hourly model alone (on price
    blocks, the solve's hand-off covers three models). One measurement of either varied by up to
    half between runs of the same code (the same hand-off took 0.65-1.23 s in one process), so
    P1 is the ratio of the medians.
    """
    from models.build import build_model
    from optimizer.solve import _compile, _highs

    ours, twins = [], []
    for _ in range(P1_REPEATS):
        began = time.perf_counter()
        model = build_model(case)
        built = time.perf_counter()
        _compile(model).pass_to(_highs(case.spec.solver, case.spec.solver.time_limit_s))
        ours.append([built - began, time.perf_counter() - built])
        del model
        twin = measure_twin(case)
        if "error" in twin:
            return twin
        twins.append([twin["build"], twin["hand-off"]])
    return {"ours": ours, "twin": twins, "columns": twin["columns"], "rows": twin["rows"]}


def measure_twin(case) -> dict[str, Any]:
    """Build + hand-off of the linopy twin of ``case``, or why it was not measured."""
    try:
        import linopy
        from twin import build_twin
    except ImportError as error:
        return {"error": f"{error}; install the bench extra: pip install -e '.[bench]'"}
    # linopy imports parts of xarray and its HiGHS interface on first use: pay that here, not in the build
    warm_up = linopy.Model()
    warm_up.add_variables(lower=0.0, name="x")
    warm_up.to_highspy()
    began = time.perf_counter()
    twin = build_twin(case)
    built = time.perf_counter()
    highs = twin.model.to_highspy()
    done = time.perf_counter()
    return {"build": built - began, "hand-off": done - built, "columns": highs.getNumCol(), "rows": highs.getNumRow()}


def measure_textbook(weeks: int, models: int) -> dict[str, Any]:
    """Build and solve the case with the daily treasury and with the textbook hourly one (P3)."""
    from pyomo.common.dependencies import scipy_available

    from models.build import build_model
    from optimizer.case import load_case
    from optimizer.solve import solve
    from textbook import build_textbook_model

    with tempfile.TemporaryDirectory() as folder:
        case = load_case(write_case(Path(folder), weeks, models))
    assert scipy_available  # one-off import on the first compile: not in either time
    row = {}
    for name, build in (("daily", build_model), ("hourly", build_textbook_model)):
        began = time.perf_counter()
        report = solve(build(case), case.spec.solver)
        row[name] = {"seconds": time.perf_counter() - began, "status": report.status, "gap": report.mip_gap}
    return row


def in_subprocess(weeks: int | None, models: int, bare: bool = False, textbook: bool = False, price_blocks: int | None = None) -> dict[str, Any]:
    """:func:`measure` (or :func:`measure_textbook`) in a fresh interpreter; ``{"error": last line}`` if it failed.

    This parent imports nothing heavy: on Linux ``exec`` carries its peak RSS into the child's.
    """
    role = "--textbook" if textbook else "--measure"
    args = [sys.executable, __file__, role, str(weeks or 0), str(models)] + (["--bare"] if bare else [])
    args += ["--price-blocks", str(price_blocks)] if price_blocks is not None and not textbook else []
    done = subprocess.run(args, cwd=REPO, capture_output=True, text=True, check=False)
    if done.returncode:
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else f"exit {done.returncode}"}
    return json.loads(done.stdout.splitlines()[-1])


def exponent(sizes: list[float], seconds: list[float]) -> float:
    """Least-squares slope b of log(seconds) = a + b log(size) [-]."""
    x = [math.log(v) for v in sizes]
    y = [math.log(v) for v in seconds]
    mx, my = sum(x) / len(x), sum(y) / len(y)
    return sum((a - mx) * (b - my) for a, b in zip(x, y)) / sum((a - mx) ** 2 for a in x)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 week, 3 models per site, small scaling sizes: about a minute")
    parser.add_argument("--weeks", type=int, help="horizon of the full size [weeks] (default: the example's year; --quick: 1)")
    parser.add_argument("--models", type=int, help="catalogue models per site in the full size (default 12; --quick: 3)")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    parser.add_argument("--price-blocks", type=int, metavar="K", help="solve every size on K price blocks a day (solver.price_blocks_per_day); P3 stays hourly")
    parser.add_argument("--measure", type=int, nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--bare", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--textbook", type=int, nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure or args.textbook:
        sys.path.insert(0, str(REPO))
        weeks, models = args.measure or args.textbook
        print(json.dumps(measure(weeks or None, models, args.bare, args.price_blocks) if args.measure else measure_textbook(weeks, models)))
        return 0
    weeks = args.weeks if args.weeks is not None else (1 if args.quick else None)
    models = args.models or (3 if args.quick else 12)
    if (weeks is not None and weeks < 1) or not 1 <= models <= 12:
        parser.error("--weeks must be at least 1 and --models between 1 and 12")
    print(f"full size: {'a year' if weeks is None else f'{weeks} week(s)'}, 3 sites x {models} models", flush=True)
    full = in_subprocess(weeks, models, bare=True, price_blocks=args.price_blocks)
    if "error" in full:
        print(f"  failed: {full['error']}")
        return 1
    print(f"  {full['periods']:,} periods, {full['classes']} machine classes: {full['status']}, certified gap {full['gap']:.2e}, row violation {full['violation']:.1e}")
    print(f"  {'stage':<16}{'seconds':>9}{'peak MB':>10}")
    for stage in STAGES:
        print(f"  {stage:<16}{full['seconds'][stage]:>9.1f}{full['peak_mb'][stage]:>10.0f}")
    print(f"  {'end to end':<16}{full['end_to_end_s']:>9.1f}")
    p1 = full["p1"]
    if "error" in p1:
        print(f"  P1 not measured: {p1['error']}")
    else:
        ours, twin = (sorted(p1[who], key=sum) for who in ("ours", "twin"))
        (ours_build, ours_handoff), (twin_build, twin_handoff) = ours[len(ours) // 2], twin[len(twin) // 2]
        runs = {who: ", ".join(f"{sum(r):.1f}" for r in rows) for who, rows in (("ours", ours), ("twin", twin))}
        print(
            f"  P1 build + hand-off of the hourly model (median of {len(ours)}): hashplan {ours_build + ours_handoff:.1f} s "
            f"({ours_build:.1f} + {ours_handoff:.1f}; runs {runs['ours']}), "
            f"linopy twin {twin_build + twin_handoff:.1f} s ({twin_build:.1f} + {twin_handoff:.1f}; runs {runs['twin']}; "
            f"{p1['columns']:,} columns and {p1['rows']:,} rows against {full['columns']:,} and {full['rows']:,}): "
            f"{(ours_build + ours_handoff) / (twin_build + twin_handoff):.1f}x (target <= 4)"
        )
    bare = full["bare"]
    print(f"  highspy alone on the same model as MPS: {bare['seconds']:.1f} s ({bare['status']}, gap {bare['gap']:.2e})")
    print(f"  P2 end to end / highspy alone = {full['end_to_end_s'] / bare['seconds']:.2f} (target <= 1.5)")
    print(f"  P4 end to end {full['end_to_end_s']:.0f} s (target <= 120), peak {max(full['peak_mb'].values()):,.0f} MB (target <= 1,500)")
    quarter = min(13, 52 if weeks is None else weeks)
    p3 = in_subprocess(quarter, models, textbook=True)
    if "error" in p3:
        print(f"  P3 failed: {p3['error']}")
        return 1
    daily, hourly = p3["daily"], p3["hourly"]
    print(
        f"  P3 {quarter} week(s), build + solve: hourly treasury {hourly['seconds']:.1f} s ({hourly['status']}, gap {hourly['gap']:.1e}), "
        f"daily {daily['seconds']:.1f} s ({daily['status']}, gap {daily['gap']:.1e}): {hourly['seconds'] / daily['seconds']:.1f}x (target >= 20)"
    )
    span = 52 if weeks is None else weeks
    horizons = [max(1, span * k // 8) for k in (1, 2, 4, 8)] if span >= 8 else [1, 2, 3, 4]
    fleets = [max(1, models * k // 4) for k in (1, 2, 3, 4)] if models >= 4 else [1, 2, 3, 4]
    for label, sizes, runs in (
        ("periods", horizons, [in_subprocess(w, min(models, 4), price_blocks=args.price_blocks) for w in horizons]),
        ("sites x models", [3 * m for m in fleets], [in_subprocess(min(span, 4), m, price_blocks=args.price_blocks) for m in fleets]),
    ):
        failed = [run["error"] for run in runs if "error" in run]
        if failed:
            print(f"scaling with {label}: a size failed: {failed[0]}")
            return 1
        x = [run["periods"] if label == "periods" else run["classes"] for run in runs]
        times = [run["end_to_end_s"] for run in runs]
        print(f"scaling with {label}: " + ", ".join(f"{a:,} -> {t:.1f} s" for a, t in zip(x, times)) + f"; exponent {exponent(x, times):.2f} (target <= 1)")
    if args.json:
        args.json.write_text(json.dumps(full, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
