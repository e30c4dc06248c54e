"""Benchmark the outputs at year scale: report.xlsx and dispatch.csv for 3 sites x 12 models.

Builds a year of hourly periods from the bundled ``examples/ercot_west_2023`` data: three
sites (100, 80 and 60 MW) on the LZ_WEST prices, each with the 12 most efficient models of
the ASIC catalogue, solves it, then times writing ``report.xlsx`` (where hourly dispatch above
the workbook limit goes daily) and ``dispatch.csv`` and reports their sizes. A benchmark, not
a test: it asserts nothing.

Run from the repository root: ``python bench/report.py``.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import yaml

from models.build import build_model
from optimizer.case import load_case
from optimizer.cli import asic_catalogue
from optimizer.output import write_csv
from optimizer.report import write_report
from optimizer.results import extract_results
from optimizer.solve import solve

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "ercot_west_2023"


def year_case(folder: Path) -> Path:
    """Write the 3-site, 12-model year case into ``folder`` and return its path."""
    for csv in EXAMPLE.glob("*.csv"):
        shutil.copy(csv, folder)
    base = yaml.safe_load((EXAMPLE / "case.yaml").read_text())
    catalogue = asic_catalogue().assign(j_per_th=lambda t: t["power_w"] / t["hashrate_th"]).nsmallest(12, "j_per_th")
    base["miner_models"] = [{"name": r.model, "hashrate_th": float(r.hashrate_th), "power_w": float(r.power_w)} for r in catalogue.itertuples()]
    site = base["sites"][0]
    base["sites"], base["fleet"] = [], []
    for name, mw in (("west", 100), ("north", 80), ("south", 60)):
        base["sites"].append({**site, "name": name, "interconnect_mw": mw, "power": {"spot_usd_per_mwh": site["power"]["spot_usd_per_mwh"]}})
        per_model_mw = mw / len(catalogue)
        base["fleet"] += [{"site": name, "model": r.model, "count": int(per_model_mw * 1e6 / r.power_w)} for r in catalogue.itertuples()]
    base["name"] = "Year, 3 sites x 12 models"
    path = folder / "case.yaml"
    path.write_text(yaml.safe_dump(base, sort_keys=False))
    return path


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        began = time.perf_counter()
        case = load_case(year_case(folder))
        model = build_model(case)
        report = solve(model, case.spec.solver)
        results = extract_results(model, case, report)
        solved = time.perf_counter() - began
        began = time.perf_counter()
        write_report(folder / "report.xlsx", results, case)
        report_seconds = time.perf_counter() - began
        began = time.perf_counter()
        write_csv(folder / "dispatch.csv", results.dispatch)
        csv_seconds = time.perf_counter() - began
        print(f"{case.name}: {case.grid.n_periods:,} periods, {len(case.machine_classes)} classes, {len(results.dispatch):,} dispatch rows")
        print(f"  load + build + solve + extract: {solved:.1f} s ({report.status}, gap {report.mip_gap:.2e})")
        print(f"  report.xlsx: {report_seconds:.1f} s, {(folder / 'report.xlsx').stat().st_size / 1e6:.2f} MB")
        print(f"  dispatch.csv: {csv_seconds:.1f} s, {(folder / 'dispatch.csv').stat().st_size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
