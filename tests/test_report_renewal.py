"""The report's fleet renewal and AI/HPC hosting: Fleet plan and HPC plan sheets, the interconnect chart, Summary figures."""

import re
import zipfile

import numpy as np
import openpyxl
import pytest

from casebuilder import case_with_spot, spec_dict
from models.build import build_model
from optimizer.report.workbook import COLUMNS, RENEWAL_SUMMARY_ROWS, write_report
from optimizer.results import extract_results
from optimizer.solve import solve

FLOWS = ["ordered", "delivered", "retired", "capex_usd", "resale_usd"]


def renewal_data(hpc: bool = True, renewal: bool = True) -> dict:
    """One 10 MW site of 3,000 old machines over a quarter; new machines cost $1 and halls lease
    at $500/kW-month with no capex, so the plan retires, buys and converts from the first day."""
    data = spec_dict(
        sites=[{"name": "a", "interconnect_mw": 10, "power": {"spot_usd_per_mwh": 0.0}}],
        miner_models=[
            {"name": "old", "hashrate_th": 100, "power_w": 3000, "resale_usd": 100},
            {"name": "new", "hashrate_th": 200, "power_w": 3000, "price_usd": 1},
        ],
        fleet=[{"site": "a", "model": "old", "count": 3000}],
    )
    data["horizon"] = {"start": "2026-01-01T00:00", "end": "2026-04-01T00:00", "resolution": "1d", "timezone": "UTC"}
    if renewal:
        data["purchases"] = [{"site": "a", "model": "new", "max_units": 3000, "lead_time_days": 0}]
        data["retirements"] = [{"site": "a", "model": "old"}]
    if hpc:
        data["hpc"] = [{"site": "a", "max_mw": 4, "block_mw": 1, "capex_usd_per_mw": 0, "lead_time_days": 0, "rate_usd_per_kw_month": 500, "ramp": [0.5]}]
    data["treasury"] = {"btc": 10, "cash_usd": 1e6}
    data["opex"] = {"maintenance_usd_per_machine_month": 5}
    return data


def written(data, directory):
    case = case_with_spot(data, {"a": np.full(90, 40.0)})
    model = build_model(case)
    results = extract_results(model, case, solve(model, case.spec.solver))
    return case, results, write_report(directory / "report.xlsx", results, case)


@pytest.fixture(scope="module")
def with_hpc(tmp_path_factory):
    return written(renewal_data(), tmp_path_factory.mktemp("hpc"))


@pytest.fixture(scope="module")
def without_hpc(tmp_path_factory):
    return written(renewal_data(hpc=False), tmp_path_factory.mktemp("no_hpc"))


@pytest.fixture(scope="module")
def plain(tmp_path_factory):
    return written(renewal_data(hpc=False, renewal=False), tmp_path_factory.mktemp("plain"))


def rows_of(path, sheet):
    return list(openpyxl.load_workbook(path, read_only=True)[sheet].iter_rows(values_only=True))


def summary_figures(path):
    return {row[0]: row[1] for row in rows_of(path, "Summary") if row and len(row) > 1}


def test_the_plan_buys_retires_and_converts(with_hpc):
    _, results, _ = with_hpc
    k = results.kpis
    assert k["machines_bought"] > 0 and k["machines_retired"] > 0 and k["hpc_mw_converted"] > 0


def test_sheets_follow_the_case_sections(with_hpc, without_hpc, plain):
    names = [openpyxl.load_workbook(path, read_only=True).sheetnames for _, _, path in (with_hpc, without_hpc, plain)]
    assert names[0] == ["Summary", "Dispatch", "Sites", "Breakeven", "Curtailment", "Fleet plan", "HPC plan", "Treasury", "P&L", "Charts", "Assumptions", "Run"]
    assert names[1] == names[2] == [name for name in names[0] if name != "HPC plan"]


def test_fleet_plan_rows_equal_the_results_cell_by_cell(with_hpc):
    _, results, path = with_hpc
    rows = rows_of(path, "Fleet plan")
    plan = results.fleet_plan
    assert rows[0] == tuple(COLUMNS[c][0] for c in plan.columns)
    assert len(rows) == len(plan) + 2  # header and Total
    # the months with the retirement and the purchase, and one without any flow
    for i in [plan["retired"].idxmax(), plan["ordered"].idxmax(), len(plan) - 1]:
        expected = tuple(v.item() if hasattr(v, "item") else v for v in plan.iloc[i])
        assert rows[1 + i] == expected


def test_fleet_plan_total_row_sums_the_flows(with_hpc):
    _, results, path = with_hpc
    plan = results.fleet_plan
    total = dict(zip(plan.columns, rows_of(path, "Fleet plan")[-1]))
    assert total["site"] == "Total"
    for column in plan.columns[1:]:
        if column in FLOWS:
            assert total[column] == pytest.approx(plan[column].sum(), rel=1e-12)
        else:
            assert total[column] is None  # in-service counts are stocks: no total
    assert total["ordered"] == pytest.approx(results.kpis["machines_bought"])
    assert total["retired"] == pytest.approx(results.kpis["machines_retired"])


def test_hpc_plan_sheet_equals_the_results(with_hpc):
    _, results, path = with_hpc
    rows = rows_of(path, "HPC plan")
    plan = results.hpc_plan
    assert rows[0] == tuple(COLUMNS[c][0] for c in plan.columns)
    assert [row[plan.columns.get_loc("mw_ordered")] for row in rows[1:]] == plan["mw_ordered"].tolist()
    revenue = sum(row[plan.columns.get_loc("hosting_revenue_usd")] for row in rows[1:])
    assert revenue == pytest.approx(results.kpis["hosting_revenue_usd"], rel=1e-12)


def interconnect_chart(path):
    with zipfile.ZipFile(path) as archive:
        charts = [archive.read(name).decode() for name in archive.namelist() if name.startswith("xl/charts/chart")]
    use = [xml for xml in charts if "Interconnect use by month" in xml]
    assert len(use) == 1
    return use[0]


def test_interconnect_chart_stacks_each_model_hpc_and_unused(with_hpc):
    _, results, path = with_hpc
    xml = interconnect_chart(path)
    models = [c for c in results.interconnect.columns if c.endswith(" [MW]") and c not in ("HPC [MW]", "unused [MW]")]
    assert xml.count("<ser>") == len(models) + 2 == 4
    # the XML serialiser (lxml or openpyxl's own) decides the spacing before "/>"
    assert "<barChart>" in xml and re.search(r'<grouping val="stacked"\s*/>', xml)


def test_interconnect_chart_plots_the_all_sites_rows(with_hpc):
    _, results, path = with_hpc
    rows = rows_of(path, "Charts")
    start = next(i for i, row in enumerate(rows) if row and row[0] == "Month, all sites")
    everything = results.interconnect[results.interconnect["site"] == "all sites"].drop(columns="site")
    assert rows[start][1 : len(everything.columns)] == tuple(everything.columns[1:])
    for offset, row in enumerate(everything.itertuples(index=False), start=1):
        assert rows[start + offset][: len(everything.columns)] == tuple(row)
    # the series read those cells: titles from the header row, months as categories
    header, first, last = start + 1, start + 2, start + 1 + len(everything)
    xml = interconnect_chart(path)
    series = re.findall(r"<tx><strRef><f>'Charts'!([A-Z]+)(\d+)</f>", xml)
    assert {int(row) for _, row in series} == {header}
    assert f"<cat><numRef><f>'Charts'!$A${first}:$A${last}</f>" in xml


def test_summary_shows_the_renewal_figures_and_says_them_in_words(with_hpc):
    _, results, path = with_hpc
    shown = summary_figures(path)
    for key, label, _, _ in RENEWAL_SUMMARY_ROWS:
        assert shown[label] == pytest.approx(results.kpis[key], rel=1e-14)
    text = " ".join(str(row[0]) for row in rows_of(path, "Summary") if row)
    assert f"It buys {results.kpis['machines_bought']:,} machines, retires {results.kpis['machines_retired']:,}" in text


def test_a_case_without_renewal_sections_shows_no_renewal_figures(plain):
    _, results, path = plain
    shown = summary_figures(path)
    assert not any(label in shown for _, label, _, _ in RENEWAL_SUMMARY_ROWS)
    assert "It buys" not in " ".join(str(row[0]) for row in rows_of(path, "Summary") if row)
    total = dict(zip(results.fleet_plan.columns, rows_of(path, "Fleet plan")[-1]))
    assert total["ordered"] == total["retired"] == 0
