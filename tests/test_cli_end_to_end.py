"""End-to-end: `hashplan run` on the bundled example, then open what it wrote."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest

from optimizer.cli import BUNDLED_EXAMPLE, main
from optimizer.report.workbook import SUMMARY_ROWS


@pytest.fixture(scope="module")
def example_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("run") / "out"
    assert main(["run", "--out", str(out), "--quiet"]) == 0  # no CASE: the bundled example
    return out


def test_writes_the_outputs_and_no_temporary_files(example_run):
    assert sorted(p.name for p in example_run.iterdir()) == ["dispatch.csv", "report.xlsx", "summary.json", "thresholds.csv"]


def test_thresholds_are_the_break_even_spot_prices(example_run):
    thresholds = pd.read_csv(example_run / "thresholds.csv").set_index("model")
    # S19j Pro at 30.5 J/TH: hashprice / (0.024 x 30.5) / 1.04 aux - $3 adder
    row = thresholds.loc["S19j Pro"]
    expected = row["hashprice_usd_per_ph_day"] / (0.024 * 30.5) / 1.04 - 3.0
    assert row["curtail_above_spot_usd_per_mwh"] == pytest.approx(expected, rel=1e-12)


def test_summary_has_the_documented_keys(example_run):
    summary = json.loads((example_run / "summary.json").read_text())
    for key in ["status", "objective_usd", "mip_gap", "solve_method", "btc_mined", "mining_revenue_usd", "energy_cost_usd",
                "energy_cost_per_btc_usd", "curtailed_mwh", "average_power_price_paid_usd_per_mwh", "uptime_fraction"]:
        assert key in summary
    assert summary["status"] == "optimal" and summary["mip_gap"] <= 1e-3
    assert 0 < summary["uptime_fraction"] < 1 and summary["curtailed_mwh"] > 0  # the 2023 scarcity evenings


def test_workbook_totals_equal_summary_json(example_run):
    summary = json.loads((example_run / "summary.json").read_text())
    book = openpyxl.load_workbook(example_run / "report.xlsx", read_only=True)
    assert book.sheetnames == ["Summary", "Dispatch", "Sites", "Breakeven", "Curtailment", "Fleet plan", "P&L", "Charts", "Assumptions", "Run"]
    labels = {label: key for key, label, _, _ in SUMMARY_ROWS}
    shown = {row[0]: row[1] for row in book["Summary"].iter_rows(values_only=True) if row and row[0] in labels}
    assert len(shown) == len(SUMMARY_ROWS)
    for label, key in labels.items():
        # openpyxl writes floats to 16 significant digits: equal to within an ulp
        expected = summary[key]
        assert shown[label] == (expected if isinstance(expected, str) else pytest.approx(expected, rel=1e-14))
    # the P&L lines on the Summary sheet sum to the objective
    rows = list(book["Summary"].iter_rows(values_only=True))
    start = next(i for i, r in enumerate(rows) if r and str(r[0]).startswith("P&L line"))
    lines = [r[1] for r in rows[start + 1 :] if r and r[0] not in (None, "Total")]
    assert sum(lines) == pytest.approx(summary["objective_usd"], rel=1e-12)

    monthly = pd.read_excel(example_run / "report.xlsx", sheet_name="P&L")
    assert list(monthly.columns[1:4]) == ["2023-07", "2023-08", "2023-09"]
    assert monthly["Total"].iloc[-1] == pytest.approx(summary["objective_usd"], rel=1e-12)
    assert monthly["Total"].iloc[:-1].tolist() == pytest.approx(lines, rel=1e-12)

    dispatch = pd.read_excel(example_run / "report.xlsx", sheet_name="Dispatch")
    assert dispatch["BTC expected [BTC]"].sum() == pytest.approx(summary["btc_mined"], rel=1e-12)
    assert dispatch["Mining revenue [USD]"].sum() == pytest.approx(summary["mining_revenue_usd"], rel=1e-12)
    sites = pd.read_excel(example_run / "report.xlsx", sheet_name="Sites")
    assert sites["Energy cost [USD]"].sum() == pytest.approx(summary["energy_cost_usd"], rel=1e-12)
    assert sites["Curtailed [MWh]"].sum() == pytest.approx(summary["curtailed_mwh"], rel=1e-12)
    curtailment = pd.read_excel(example_run / "report.xlsx", sheet_name="Curtailment")
    assert curtailment["Curtailed [MWh]"].sum() == pytest.approx(summary["curtailed_mwh"], rel=1e-9)
    parts = curtailment[["of which in 4CP intervals [MWh]", "of which at DR deployments [MWh]", "of which for price [MWh]"]].sum(axis=1)
    np.testing.assert_allclose(parts, curtailment["Curtailed [MWh]"], rtol=1e-12)


def test_dispatch_csv_matches_summary_and_respects_the_interconnect(example_run):
    summary = json.loads((example_run / "summary.json").read_text())
    dispatch = pd.read_csv(example_run / "dispatch.csv")
    assert len(dispatch) == 3 * 2208  # three models, July-September hourly
    assert dispatch["btc_expected"].sum() == pytest.approx(summary["btc_mined"], rel=1e-12)
    assert np.array_equal(dispatch["machines_running"], dispatch["machines_running"].round())
    site_load = dispatch.groupby("period_start")["it_load_mw"].sum() * 1.04  # the example's aux load
    assert site_load.max() <= 100.0 + 1e-9


def test_console_script_runs_a_case_and_reports_bad_input(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "optimizer.cli", "run", str(BUNDLED_EXAMPLE), "--out", str(tmp_path / "out")],
        capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, result.stderr
    # standard output is the summary alone: HiGHS's banner (highspy 1.16 writes one) goes to stderr
    assert result.stdout.splitlines()[0].startswith("West Texas Q3 2023: optimal, gap ")
    bad = tmp_path / "bad.yaml"
    bad.write_text(Path(BUNDLED_EXAMPLE).read_text().replace("interconnect_mw: 100", "interconnect_mw: -5"))
    result = subprocess.run([sys.executable, "-m", "optimizer.cli", "validate", str(bad)], capture_output=True, text=True, check=False)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: sites[0].interconnect_mw: must be > 0 (got -5). Fix: give a value > 0 (interconnect_mw: Maximum site load incl. auxiliaries [MW])"
    ]


def test_hashprice_verb_json():
    result = subprocess.run(
        [sys.executable, "-m", "optimizer.cli", "hashprice", "--btc-price", "68000", "--difficulty", "124.9e12",
         "--fees", "0.03", "--height", "930000", "--json"],
        capture_output=True, text=True, check=True,
    )
    data = json.loads(result.stdout)
    assert data["subsidy_btc"] == 3.125
    assert data["hashprice_usd_per_ph_day"] == pytest.approx(34.5, abs=0.1)
    s19xp = next(r for r in data["breakeven"] if r["model"] == "Antminer S19 XP")
    assert s19xp["breakeven_usd_per_mwh"] == pytest.approx(34.55 / (0.024 * 3010 / 140), rel=1e-3)


def test_schema_verb_describes_every_field():
    result = subprocess.run([sys.executable, "-m", "optimizer.cli", "schema"], capture_output=True, text=True, check=True)
    schema = json.loads(result.stdout)
    undocumented = [
        f"{name}.{field}"
        for name, definition in {**schema["$defs"], "CaseSpec": schema}.items()
        for field, prop in definition.get("properties", {}).items()
        if not prop.get("description")
    ]
    assert undocumented == []
