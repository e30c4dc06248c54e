"""Benchmark the year-scale plan end to end, stage by stage: time and peak memory.

Runs ``examples/pivot_2026`` (3 sites, a year hourly, monthly purchases, retirements and HPC
halls, a daily treasury) through load, build, hand-off + solve, the hourly re-check and the
report, printing each stage's wall time and the process's peak resident memory after it (with
price blocks, their model is built within the solve stage, as ``hashplan run`` builds it). With
``--models 12`` each site instead holds the 12 most efficient machine models of the ASIC
catalogue (the issue's 3 sites x 12 models), every one retirable. A benchmark, not a test: it
asserts nothing, but it says whether the certified gap met the case's ``solver.mip_gap``.

Run from the repository root: ``python bench/year.py [--models 12] [--time-limit S]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path

from models.build import build_model, build_price_blocked, build_screening_model
from optimizer.case import load_case
from optimizer.report import write_report
from optimizer.results import extract_results
from optimizer.solve import plan_violation, solve

from optimizer.memory import peak_rss_mb
from run import EXAMPLE, write_case


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, choices=(0, 12), default=0, help="12: spread each site's fleet over 12 catalogue models")
    parser.add_argument("--time-limit", type=float, metavar="S", help="solver.time_limit_s for this run [s] (default: the case's)")
    parser.add_argument("--price-blocks", type=int, metavar="K", help="solver.price_blocks_per_day for this run (default: the case's)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path = write_case(folder, None, 12) if args.models else EXAMPLE / "case.yaml"
        stages = []

        def stage(name: str, began: float, seconds: float | None = None) -> None:
            stages.append((name, time.perf_counter() - began if seconds is None else seconds, peak_rss_mb()))

        began = time.perf_counter()
        case = load_case(path)
        changes = {"time_limit_s": args.time_limit, "price_blocks_per_day": args.price_blocks}
        changes = {name: value for name, value in changes.items() if value is not None}
        if changes:
            solver = case.spec.solver.model_copy(update=changes)
            case = dataclasses.replace(case, spec=case.spec.model_copy(update={"solver": solver}))
        stage("load", began)
        began = time.perf_counter()
        model = build_model(case)
        screen = build_screening_model(case)
        stage("build", began)
        began = time.perf_counter()
        # the blocked model is built in the call, as by ``hashplan run``: nothing here holds it once solve() re-cuts it
        report = solve(
            model, case.spec.solver, log=lambda line: print(f"  {time.perf_counter() - began:7.1f} s  {line}"), screen=screen, blocks=build_price_blocked(case)
        )
        wall = time.perf_counter() - began
        stages.append(("hand-off", report.handoff_seconds, peak_rss_mb()))
        stages.append(("solve (HiGHS)", report.solve_seconds, peak_rss_mb()))
        stages.append(("solve (other)", wall - report.handoff_seconds - report.solve_seconds, peak_rss_mb()))
        began = time.perf_counter()
        violation = plan_violation(model)
        results = extract_results(model, case, report)
        stage("re-check", began)
        began = time.perf_counter()
        write_report(folder / "report.xlsx", results, case)
        stage("report", began)
        print(f"{case.name}: {case.grid.n_periods:,} periods, {len(case.machine_classes)} machine classes, {len(case.spec.sites)} sites")
        print(f"  {report.status}, certified gap {report.mip_gap:.2e} (target {case.spec.solver.mip_gap:g}), {report.method}")
        print(f"  objective ${report.objective_usd:,.0f}, bound ${report.bound_usd:,.0f}, largest row violation of the plan {violation:.1e}")
        k = results.kpis
        print(f"  bought {k['machines_bought']:,}, retired {k['machines_retired']:,}, HPC {k['hpc_mw_converted']:g} MW, capex ${k['capex_usd']:,.0f}")
        print(f"  {'stage':<16}{'seconds':>9}{'peak MB':>10}")
        for name, seconds, mb in stages:
            print(f"  {name:<16}{seconds:>9.1f}{mb:>10.0f}")
        print(f"  {'total':<16}{sum(s for _, s, _ in stages):>9.1f}")


if __name__ == "__main__":
    main()
