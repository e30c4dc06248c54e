"""The report workbook: plain-words summary, charts, assumptions, run facts, large dispatch."""

import zipfile
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from models.build import build_model
from optimizer.case import load_case
from optimizer.report import workbook
from optimizer.report.workbook import write_report
from optimizer.results import extract_results
from optimizer.solve import solve

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def solved(name):
    case = load_case(EXAMPLES / name / "case.yaml")
    model = build_model(case)
    return case, extract_results(model, case, solve(model, case.spec.solver))


@pytest.fixture(scope="module")
def cfo():
    return solved("cfo_q1_2026")


@pytest.fixture(scope="module")
def cfo_report(cfo, tmp_path_factory):
    case, results = cfo
    return write_report(tmp_path_factory.mktemp("report") / "report.xlsx", results, case)


def test_every_sheet_reads_back_with_pandas(cfo_report):
    sheets = pd.read_excel(cfo_report, sheet_name=None)
    assert list(sheets) == ["Summary", "Dispatch", "Sites", "Breakeven", "Curtailment", "Fleet plan", "Treasury", "Covenants", "P&L", "Charts", "Assumptions", "Run"]
    assert all(not frame.empty for frame in sheets.values())


def test_charts_are_native_excel_charts(cfo_report):
    with zipfile.ZipFile(cfo_report) as archive:
        charts = [name for name in archive.namelist() if name.startswith("xl/charts/chart")]
        kinds = [("barChart" in archive.read(c).decode()) for c in charts]
    # MW by model (bars), price vs break-even, cash vs covenant, BTC sold and held, monthly P&L,
    # interconnect use by month (bars)
    assert len(charts) == 6 and sum(kinds) == 4


def test_summary_describes_the_plan_in_words(cfo, cfo_report):
    _, results = cfo
    first_column = [row[0] for row in openpyxl.load_workbook(cfo_report, read_only=True)["Summary"].iter_rows(values_only=True) if row]
    text = " ".join(str(cell) for cell in first_column)
    assert "From 2026-01-01 to 2026-03-31 the plan runs the fleet 78.1%" in text
    assert f"It sells {results.kpis['btc_sold']:,.2f} BTC" in text
    assert "Every debt payment, covenant and BTC floor is met." in text


def test_assumptions_echo_every_input_with_the_case_hash(cfo, cfo_report):
    case, _ = cfo
    rows = {row[0]: row[1] for row in openpyxl.load_workbook(cfo_report, read_only=True)["Assumptions"].iter_rows(values_only=True) if row and row[0]}
    assert rows["Case content hash (SHA-256 of every input value and series)"] == case.content_hash
    assert rows["treasury.min_cash_usd"] == 1.0e7
    assert rows["debt[0].name"] == "converts coupon"
    assert rows["sites[0].power.spot_usd_per_mwh.file"] == "ercot_lz_west_2023q1_as_2026.csv"


def test_run_sheet_names_versions_options_and_gap(cfo, cfo_report):
    _, results = cfo
    rows = {row[0]: row[1] for row in openpyxl.load_workbook(cfo_report, read_only=True)["Run"].iter_rows(values_only=True) if row}
    assert rows["solver"].startswith("HiGHS ") and rows["status"] == results.kpis["status"]
    assert rows["certified gap [fraction]"] == pytest.approx(results.kpis["mip_gap"], abs=1e-15)
    assert rows["solver.time_limit_s"] == 120


def test_the_content_hash_changes_with_any_input():
    base = load_case(EXAMPLES / "west_texas_q3_2023" / "case.yaml")
    other = base.spec.model_copy(update={"name": "renamed"})
    assert base.content_hash == load_case(EXAMPLES / "west_texas_q3_2023" / "case.yaml").content_hash
    assert base.content_hash != type(base)(spec=other, grid=base.grid, network=base.network, spot_usd_per_mwh=base.spot_usd_per_mwh).content_hash


def test_large_dispatch_goes_daily_with_a_pointer_to_the_csv(cfo, tmp_path, monkeypatch):
    case, results = cfo
    monkeypatch.setattr(workbook, "DISPATCH_ROWS_IN_WORKBOOK", 1000)
    dispatch = pd.read_excel(write_report(tmp_path / "r.xlsx", results, case), sheet_name="Dispatch")
    assert len(dispatch) == 90 + 2  # 90 days, a blank row and the note
    assert dispatch.iloc[-1, 0].startswith(f"Daily means: the {len(results.dispatch):,} hourly rows")
    assert dispatch["S21 XP [MW]"].iloc[:90].mean() == pytest.approx(
        (results.dispatch.loc[results.dispatch["model"] == "S21 XP", "it_load_mw"] * 1.04).sum() / len(case.grid.hours), rel=1e-3
    )
