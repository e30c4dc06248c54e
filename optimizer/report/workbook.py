"""The report workbook: Summary, Dispatch, Sites and Breakeven sheets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from openpyxl import Workbook
from openpyxl.cell import Cell, WriteOnlyCell
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from openpyxl.chart import BarChart, LineChart, Reference

from optimizer import __version__
from optimizer.case import Case
from optimizer.output import atomic_write
from optimizer.report.sheetxml import row_xml, rows_xml, splice_rows
from optimizer.report.words import describe_plan
from optimizer.results import Results

DISPATCH_ROWS_IN_WORKBOOK = 60_000
"""Above this many dispatch rows the report carries daily dispatch; the hourly rows stay in dispatch.csv."""

USD = '"$"#,##0;[Red]-"$"#,##0'
USD_CENTS = '"$"#,##0.00;[Red]-"$"#,##0.00'
BTC = "#,##0.00000000"
NUMBER = "#,##0.00"
COUNT = "#,##0"
FRACTION = "0.00%"
GAP = "0.000%"
DATETIME = "yyyy-mm-dd hh:mm"

_HEADER_FONT = Font(bold=True, color="FFFFFF")
_HEADER_FILL = PatternFill("solid", fgColor="1F3864")
_TITLE_FONT = Font(bold=True, size=14)

SUMMARY_ROWS = [
    # key in Results.kpis, label, unit, number format
    ("status", "Status", "", None),
    ("objective_usd", "Objective (profit; with a treasury, terminal value less penalties)", "USD", USD),
    ("bound_usd", "Best bound on the objective", "USD", USD),
    ("mip_gap", "Certified optimality gap", "fraction", GAP),
    ("btc_mined", "BTC mined (expected, after pool fee)", "BTC", BTC),
    ("mining_revenue_usd", "Mining revenue", "USD", USD),
    ("energy_cost_usd", "Energy cost", "USD", USD),
    ("energy_cost_per_btc_usd", "Energy cost per BTC mined", "USD/BTC", USD),
    ("energy_mwh", "Energy consumed", "MWh", NUMBER),
    ("curtailed_mwh", "Curtailed energy", "MWh", NUMBER),
    ("average_power_price_paid_usd_per_mwh", "Average power price paid", "USD/MWh", USD_CENTS),
    ("uptime_fraction", "Uptime (machine-hours run / installed)", "fraction", FRACTION),
    ("fixed_block_cost_usd", "Fixed-price blocks, take-or-pay", "USD", USD),
    ("fixed_block_resale_usd", "Unused block energy resold at spot", "USD", USD),
    ("four_cp_charge_usd", "4CP transmission charge (prorated)", "USD", USD),
    ("four_cp_avoided_usd", "4CP charge avoided vs running flat out", "USD", USD),
    ("demand_response_revenue_usd", "Demand-response and ancillary revenue", "USD", USD),
    ("switching_cost_usd", "Switching cost (anti-cycling)", "USD", USD),
]
"""Summary sheet rows; the values are exactly those of ``summary.json``."""

TREASURY_SUMMARY_ROWS = [
    ("terminal_value_usd", "Terminal value (cash + BTC at the terminal mark + machines and halls held)", "USD", USD),
    ("btc_sold", "BTC sold", "BTC", BTC),
    ("sale_proceeds_usd", "Sale proceeds after sale costs", "USD", USD),
    ("ending_cash_usd", "Ending cash", "USD", USD),
    ("ending_btc", "Ending BTC held", "BTC", BTC),
    ("debt_service_usd", "Debt service paid", "USD", USD),
    ("opex_usd", "Opex (excluding energy)", "USD", USD),
    ("cash_cost_per_btc_usd", "Cash cost per BTC (energy + opex)", "USD/BTC", USD),
    ("all_in_cost_per_btc_usd", "All-in cost per BTC (with debt service)", "USD/BTC", USD),
    ("breakeven_btc_price_usd", "Break-even BTC price (sales pay energy + opex)", "USD/BTC", USD),
    ("liquidation_to_production_ratio", "BTC sold / BTC mined", "fraction", FRACTION),
    ("min_cash_headroom_usd", "Smallest covenant headroom", "USD", USD),
]
"""Summary rows added when the case has a treasury section."""

RENEWAL_SUMMARY_ROWS = [
    ("capex_usd", "Capex (machines bought and halls converted)", "USD", USD),
    ("machines_bought", "Machines bought", "units", COUNT),
    ("machines_retired", "Machines retired", "units", COUNT),
    ("resale_proceeds_usd", "Resale proceeds of retired machines", "USD", USD),
    ("hpc_mw_converted", "Interconnect converted to AI/HPC hosting", "MW", NUMBER),
    ("hosting_revenue_usd", "AI/HPC hosting revenue", "USD", USD),
    ("terminal_fleet_value_usd", "Fleet at the end, at resale prices (in the terminal value)", "USD", USD),
    ("terminal_hpc_value_usd", "Converted halls at the end, lease beyond the horizon (in the terminal value)", "USD", USD),
]
"""Summary rows added when the case may buy, retire or convert, or the plan did; the last two
only with a treasury section."""

FLEET_PLAN_TOTALS = ("ordered", "delivered", "retired", "capex_usd", "resale_usd")
"""Fleet plan columns summed on its Total row: the flows (installed counts are stocks and do not add up over months)."""

# column name -> (header, number format); a header names its unit
COLUMNS = {
    "period_start": ("Period start ({tz})", DATETIME),
    "period_hours": ("Period [h]", NUMBER),
    "site": ("Site", None),
    "model": ("Model", None),
    "mode": ("Mode", None),
    "machines_running": ("Machines running [units]", COUNT),
    "it_load_mw": ("Machine load [MW]", "#,##0.000"),
    "hashrate_ths": ("Hashrate [TH/s]", COUNT),
    "btc_expected": ("BTC expected [BTC]", BTC),
    "mining_revenue_usd": ("Mining revenue [USD]", USD_CENTS),
    "interconnect_mw": ("Interconnect [MW]", NUMBER),
    "nameplate_load_mw": ("Nameplate load incl. aux [MW]", NUMBER),
    "machines_installed": ("Machines installed [units]", COUNT),
    "peak_load_mw": ("Peak load [MW]", NUMBER),
    "energy_mwh": ("Energy [MWh]", NUMBER),
    "energy_cost_usd": ("Energy cost [USD]", USD),
    "average_price_paid_usd_per_mwh": ("Average price paid [USD/MWh]", USD_CENTS),
    "curtailed_mwh": ("Curtailed [MWh]", NUMBER),
    "machine_hours_run": ("Machine-hours run [h]", COUNT),
    "machine_hours_installed": ("Machine-hours installed [h]", COUNT),
    "hashrate_th": ("Hashrate per machine [TH/s]", NUMBER),
    "power_w": ("Power per machine [W]", COUNT),
    "efficiency_j_per_th": ("Efficiency [J/TH]", NUMBER),
    "hashprice_usd_per_ph_day": ("Mean hashprice after pool fee [USD/PH/day]", USD_CENTS),
    "breakeven_power_usd_per_mwh": ("Break-even power price at the machine [USD/MWh]", USD_CENTS),
    "breakeven_spot_usd_per_mwh": ("Break-even spot price at the site [USD/MWh]", USD_CENTS),
    "hours_spot_above_breakeven": ("Hours spot above break-even [h]", COUNT),
    "run_fraction": ("Run fraction [machine-hours]", FRACTION),
    "line": ("P&L line", None),
    "usd": ("Amount [USD]", USD),
    "interconnect_value_usd_per_mw": ("Value of 1 MW more interconnect [USD/MW]", USD),
    "date": ("Date", "yyyy-mm-dd"),
    "btc_price_usd": ("BTC price [USD/BTC]", USD_CENTS),
    "opening_btc": ("Opening BTC [BTC]", BTC),
    "btc_mined": ("BTC mined [BTC]", BTC),
    "btc_sold": ("BTC sold [BTC]", BTC),
    "closing_btc": ("Closing BTC [BTC]", BTC),
    "opening_cash_usd": ("Opening cash [USD]", USD_CENTS),
    "sale_proceeds_usd": ("Sale proceeds [USD]", USD_CENTS),
    "opex_usd": ("Opex [USD]", USD_CENTS),
    "other_cash_flow_usd": ("4CP, demand response and switching [USD]", USD_CENTS),
    "debt_service_usd": ("Debt service [USD]", USD_CENTS),
    "emergency_funding_usd": ("Unfunded costs [USD]", USD_CENTS),
    "closing_cash_usd": ("Closing cash [USD]", USD_CENTS),
    "min_cash_usd": ("Minimum cash covenant [USD]", USD),
    "covenant_headroom_usd": ("Covenant headroom [USD]", USD_CENTS),
    "covenant_shortfall_usd": ("Covenant shortfall [USD]", USD_CENTS),
    "cash_value_usd_per_usd": ("Value of $1 more cash that day [USD/USD]", "0.0000"),
    "fixed_block_cost_usd": ("Fixed-block cost, take-or-pay [USD]", USD),
    "fixed_block_resale_usd": ("Unused block energy resold at spot [USD]", USD),
    "four_cp_charge_usd": ("4CP charge, prorated [USD]", USD),
    "four_cp_avoided_usd": ("4CP avoided vs running flat out [USD]", USD),
    "curtail_above_spot_usd_per_mwh": ("Curtail above spot [USD/MWh]", USD_CENTS),
    "month": ("Month", None),
    "curtailed_mwh": ("Curtailed [MWh]", NUMBER),
    "curtailed_hours": ("Hours with curtailment [h]", COUNT),
    "four_cp_mwh": ("of which in 4CP intervals [MWh]", NUMBER),
    "deployment_mwh": ("of which at DR deployments [MWh]", NUMBER),
    "price_mwh": ("of which for price [MWh]", NUMBER),
    "mean_spot_when_price_curtailed_usd_per_mwh": ("Mean spot when curtailed for price [USD/MWh]", USD_CENTS),
    "installed_start": ("Installed at the month's start [units]", COUNT),
    "ordered": ("Ordered [units]", COUNT),
    "delivered": ("Delivered [units]", COUNT),
    "retired": ("Retired [units]", COUNT),
    "installed_end": ("Installed at the month's end [units]", COUNT),
    "capex_usd": ("Capex [USD]", USD),
    "resale_usd": ("Resale proceeds [USD]", USD),
    "mw_ordered": ("Halls ordered [MW]", NUMBER),
    "mw_converted_end": ("Converted on the month's last day [MW]", NUMBER),
    "commissioned": ("Halls commissioned (date: MW)", None),
    "mean_mw_leased": ("Leased, monthly mean [MW]", NUMBER),
    "tenant_load_mwh": ("Tenant load [MWh]", NUMBER),
    "hosting_revenue_usd": ("Hosting revenue [USD]", USD),
    "tenant_energy_cost_usd": ("Tenant energy cost [USD]", USD),
}


def write_report(path: Path, results: Results, case: Case) -> Path:
    """Write ``report.xlsx`` atomically.

    Parameters
    ----------
    path : pathlib.Path
        Target file.
    results : Results
        The solved plan.
    case : Case
        The case it solved, echoed on the Assumptions and Run sheets.
    """
    timezone = case.spec.horizon.timezone

    def write(tmp: Path) -> None:
        book = Workbook(write_only=True)
        tables: dict[str, str] = {}
        _summary_sheet(book, results, case)
        _dispatch_sheet(book, results, timezone, tables)
        _table_sheet(book, "Sites", results.sites, timezone, tables)
        _table_sheet(book, "Breakeven", results.breakeven, timezone, tables)
        _table_sheet(book, "Curtailment", results.curtailment, timezone, tables)
        _fleet_plan_sheet(book, results.fleet_plan, timezone, tables)
        if results.hpc_plan is not None:
            _table_sheet(book, "HPC plan", results.hpc_plan, timezone, tables)
        if results.treasury is not None:
            _table_sheet(book, "Treasury", results.treasury, timezone, tables)
        if results.covenants is not None:
            _table_sheet(book, "Covenants", results.covenants, timezone, tables)
        _monthly_pnl_sheet(book, results.pnl_monthly)
        _charts_sheet(book, results)
        _assumptions_sheet(book, case)
        _run_sheet(book, results, case)
        book.save(tmp)
        splice_rows(tmp, tables)

    return atomic_write(path, write)


def _dispatch_sheet(book: Workbook, results: Results, timezone: str, tables: dict[str, str]) -> None:
    """Hourly dispatch, or daily means with a pointer to dispatch.csv when the hours are too many."""
    dispatch = results.dispatch
    if len(dispatch) <= DISPATCH_ROWS_IN_WORKBOOK:
        _table_sheet(book, "Dispatch", dispatch.assign(period_start=dispatch["period_start"].dt.tz_localize(None)), timezone, tables)
        return
    note = f"Daily means: the {len(dispatch):,} hourly rows (site, model, mode, period) are in dispatch.csv beside this report."
    _table_sheet(book, "Dispatch", results.daily, timezone, tables, below=lambda sheet: [[], [note]])


def _summary_sheet(book: Workbook, results: Results, case: Case) -> None:
    sheet = book.create_sheet("Summary")
    sheet.sheet_view.showGridLines = False
    for letter, width in zip("ABC", (44, 20, 12)):
        sheet.column_dimensions[letter].width = width
    sheet.append([cell(sheet, f"hashplan plan: {results.kpis['case']}", font=_TITLE_FONT)])
    sheet.append([f"hashplan {__version__}, {results.solve.solver}"])
    sheet.append([])
    for line in describe_plan(results, case.grid.days[0], case.grid.days[-1]):
        sheet.append([line])
    sheet.append([])
    sheet.append(header_cells(sheet, ["Figure", "Value", "Unit"]))
    rows = SUMMARY_ROWS + (TREASURY_SUMMARY_ROWS if "terminal_value_usd" in results.kpis else [])
    if _renews(results, case):
        rows = rows + [row for row in RENEWAL_SUMMARY_ROWS if row[0] in results.kpis]
    for key, label, unit, number_format in rows:
        sheet.append([label, cell(sheet, results.kpis[key], number_format), unit])
    if "terminal_value_usd" in results.kpis:
        sheet.append([])
        sheet.append(header_cells(sheet, ["Shortfalls (limits the plan could not meet)", "Amount", "Unit"]))
        for shortfall in results.kpis["shortfalls"]:
            sheet.append([shortfall["message"], cell(sheet, shortfall["amount_usd"], USD), "USD"])
        if not results.kpis["shortfalls"]:
            sheet.append(["none: every payment, covenant and floor is met"])
    sheet.append([])
    sheet.append(header_cells(sheet, ["P&L line (sums to the objective)", "Amount", "Unit"]))
    for line, usd in zip(results.pnl["line"], results.pnl["usd"]):
        sheet.append([line, cell(sheet, float(usd), USD), "USD"])
    sheet.append([cell(sheet, "Total", font=Font(bold=True)), cell(sheet, float(results.pnl["usd"].sum()), USD, Font(bold=True)), "USD"])


def _renews(results: Results, case: Case) -> bool:
    """Whether the case may buy, retire or convert, or the plan did: only then does the Summary show those figures."""
    spec = case.spec
    return bool(spec.purchases or spec.retirements or spec.hpc) or any(results.kpis.get(key) for key, *_ in RENEWAL_SUMMARY_ROWS)


def _fleet_plan_sheet(book: Workbook, fleet_plan: pd.DataFrame, timezone: str, tables: dict[str, str]) -> None:
    """Machines installed, ordered, delivered and retired per site, model and month, with a Total row of the flows."""
    bold = Font(bold=True)

    def total(sheet) -> list[list]:
        return [[cell(sheet, "Total", font=bold)] + [
            cell(sheet, float(fleet_plan[c].sum()), COLUMNS[c][1], bold) if c in FLEET_PLAN_TOTALS else None for c in fleet_plan.columns[1:]
        ]]

    _table_sheet(book, "Fleet plan", fleet_plan, timezone, tables, below=total)


def _monthly_pnl_sheet(book: Workbook, monthly: pd.DataFrame) -> None:
    """P&L lines by month; the Total column equals the Summary's P&L lines."""
    sheet = book.create_sheet("P&L")
    sheet.sheet_view.showGridLines = False
    sheet.freeze_panes = "B2"
    months = [c for c in monthly.columns if c != "line"]
    sheet.column_dimensions["A"].width = 44
    for i in range(len(months) + 1):
        sheet.column_dimensions[get_column_letter(i + 2)].width = 16
    sheet.append(header_cells(sheet, ["P&L line [USD]"] + months + ["Total"]))
    for row in monthly.itertuples(index=False):
        values = [float(v) for v in row[1:]]
        sheet.append([row[0]] + [cell(sheet, v, USD) for v in values] + [cell(sheet, sum(values), USD)])
    totals = monthly[months].sum(axis=0).tolist()
    sheet.append([cell(sheet, "Objective", font=Font(bold=True))] + [cell(sheet, float(v), USD, Font(bold=True)) for v in totals + [sum(totals)]])


def _table_sheet(book: Workbook, title: str, frame: pd.DataFrame, timezone: str, tables: dict[str, str], below=None) -> None:
    """A sheet of ``frame`` under a header row; its rows go into ``tables[title]`` for :func:`splice_rows`.

    ``below(sheet)``, if given, returns rows to write under the table: lists of values and
    :func:`cell` cells (which take the sheet for their style).
    """
    sheet = book.create_sheet(title)
    sheet.sheet_view.showGridLines = False
    sheet.freeze_panes = "A2"
    headers = [COLUMNS[c][0].format(tz=timezone) if c in COLUMNS else c for c in frame.columns]
    # columns already named with their unit (the daily chart data) format by that unit
    formats = [COLUMNS[c][1] if c in COLUMNS else (USD_CENTS if "USD" in c else NUMBER) for c in frame.columns]
    for i, header in enumerate(headers, start=1):
        sheet.column_dimensions[get_column_letter(i)].width = max(12, min(len(header) + 2, 48))
    sheet.append(header_cells(sheet, headers))
    styles: dict[str | None, int] = {}

    def style(number_format: str | None) -> int:
        if number_format not in styles:
            styles[number_format] = cell(sheet, None, number_format).style_id
        return styles[number_format]

    rows = [rows_xml(frame, formats, style, first_row=2)]
    for number, row in enumerate(below(sheet) if below else [], start=len(frame) + 2):
        rows.append(row_xml(number, [(c.value, c.style_id) if isinstance(c, Cell) else (c, 0) for c in row]))
    tables[title] = "".join(rows)


def _charts_sheet(book: Workbook, results: Results) -> None:
    """Native Excel charts over the daily data: MW by model and curtailed, power price against
    break-even, monthly P&L, interconnect use by month, and with a treasury the cash against the
    covenant and BTC held and sold."""
    daily = results.daily
    sheet = book.create_sheet("Charts")
    sheet.sheet_view.showGridLines = False
    table = daily.copy()
    spot_column = next(c for c in daily.columns if c.startswith("spot "))
    site_name = spot_column.split(" ")[1]
    for row in results.breakeven[results.breakeven["site"] == site_name].itertuples():
        table[f"break-even {row.model} {row.mode} [USD/MWh]"] = row.breakeven_spot_usd_per_mwh
    if results.treasury is not None:
        treasury = results.treasury
        table["closing cash [USD]"] = treasury["closing_cash_usd"].to_numpy()
        table["minimum cash [USD]"] = treasury["min_cash_usd"].fillna(0.0).to_numpy()
        table["BTC held [BTC]"] = treasury["closing_btc"].to_numpy()
        table["BTC sold [BTC]"] = treasury["btc_sold"].to_numpy()
    headers = list(table.columns)
    sheet.append(header_cells(sheet, headers))
    for row in zip(*(_python_values(table[c]) for c in headers)):
        sheet.append(list(row))
    n = len(table)
    position = {name: i + 1 for i, name in enumerate(headers)}
    dates = Reference(sheet, min_col=1, min_row=2, max_row=n + 1)

    def plot(chart, names, title, y_title):
        for name in names:
            chart.add_data(Reference(sheet, min_col=position[name], min_row=1, max_row=n + 1), titles_from_data=True)
        chart.set_categories(dates)
        chart.title, chart.y_axis.title, chart.width, chart.height = title, y_title, 24, 9
        return styled(chart)

    load = plot(BarChart(), [c for c in headers if c.endswith("[MW]")], "Site MW by machine model, and curtailed (daily mean)", "MW")
    load.grouping, load.overlap = "stacked", 100
    price = plot(LineChart(), [spot_column] + [c for c in headers if c.startswith("break-even ")],
                 f"Spot at {site_name} against each model's break-even (daily mean)", "USD/MWh")
    charts = [load, price]
    if results.treasury is not None:
        charts.append(plot(LineChart(), ["closing cash [USD]", "minimum cash [USD]"], "Closing cash against the minimum-cash covenant", "USD"))
        sold = plot(BarChart(), ["BTC sold [BTC]"], "BTC sold (bars, left) and held (line, right)", "BTC sold")
        held = plot(LineChart(), ["BTC held [BTC]"], None, "BTC held")
        held.y_axis.axId, held.y_axis.crosses = 200, "max"
        held.y_axis.delete = False
        sold += held
        charts.append(sold)
    months = [c for c in results.pnl_monthly.columns if c != "line"]
    # the opening position is a balance, not a month's result: it would dwarf every bar
    monthly = results.pnl_monthly[~results.pnl_monthly["line"].str.endswith("opening_position_revenue_usd")]
    sheet.append([])
    header_row = n + 3
    sheet.append(header_cells(sheet, ["P&L line [USD]"] + months))
    for row in monthly.itertuples(index=False):
        sheet.append([row[0]] + [float(v) for v in row[1:]])
    pnl = styled(BarChart())
    for offset in range(len(monthly)):
        pnl.add_data(Reference(sheet, min_col=1, max_col=len(months) + 1, min_row=header_row + 1 + offset), from_rows=True, titles_from_data=True)
    pnl.set_categories(Reference(sheet, min_col=2, max_col=len(months) + 1, min_row=header_row))
    pnl.grouping, pnl.overlap = "stacked", 100
    pnl.title, pnl.y_axis.title, pnl.width, pnl.height = "Monthly P&L by line", "USD", 24, 9
    charts.append(pnl)
    interconnect = results.interconnect[results.interconnect["site"] == "all sites"].drop(columns="site")
    sheet.append([])
    use_row = header_row + len(monthly) + 2
    sheet.append(header_cells(sheet, ["Month, all sites"] + list(interconnect.columns[1:])))
    for row in zip(*(_python_values(interconnect[c]) for c in interconnect.columns)):
        sheet.append(list(row))
    last_row = use_row + len(interconnect)
    use = BarChart()
    use.add_data(Reference(sheet, min_col=2, max_col=len(interconnect.columns), min_row=use_row, max_row=last_row), titles_from_data=True)
    use.set_categories(Reference(sheet, min_col=1, min_row=use_row + 1, max_row=last_row))
    use.grouping, use.overlap = "stacked", 100
    use.title, use.y_axis.title, use.width, use.height = "Interconnect use by month", "MW (monthly mean, all sites)", 24, 9
    charts.append(styled(use))
    column = get_column_letter(len(headers) + 2)
    for i, chart in enumerate(charts):
        sheet.add_chart(chart, f"{column}{2 + 20 * i}")


def styled(chart):
    """Straight lines and visible axes (openpyxl's defaults hide axes in recent Excel versions)."""
    for series in chart.series:
        series.smooth = False
    chart.x_axis.delete = chart.y_axis.delete = False
    return chart


def _assumptions_sheet(book: Workbook, case: Case) -> None:
    """Every input echoed, one per row, with the case's content hash."""
    sheet = book.create_sheet("Assumptions")
    sheet.sheet_view.showGridLines = False
    sheet.freeze_panes = "A4"
    sheet.column_dimensions["A"].width, sheet.column_dimensions["B"].width = 56, 60
    sheet.append(["Case content hash (SHA-256 of every input value and series)", case.content_hash])
    sheet.append(["Case file", str(case.source) if case.source else "(in memory)"])
    sheet.append(header_cells(sheet, ["Input", "Value"]))
    for name, value in _flatten(case.spec.model_dump(mode="json")):
        sheet.append([name, value])
    sheet.append([])
    sheet.append(header_cells(sheet, ["Series, per dispatch period", "min / mean / max"]))
    series = {
        "network.btc_price_usd [USD/BTC]": case.network.btc_price_usd,
        "network.difficulty": case.network.difficulty,
        "hashprice after pool fee [USD/PH/day]": case.network.hashprice_usd_per_ph_day,
    }
    series.update({f"spot at {site} [USD/MWh]": values for site, values in case.spot_usd_per_mwh.items()})
    for name, values in series.items():
        sheet.append([name, f"{values.min():,.6g} / {values.mean():,.6g} / {values.max():,.6g}"])


def _flatten(value, prefix: str = ""):
    """(dotted path, scalar) pairs of a nested mapping; lists of mappings indexed as [i]."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _flatten(item, f"{prefix}.{key}" if prefix else key)
    elif isinstance(value, list) and any(isinstance(item, (dict, list)) for item in value):
        for i, item in enumerate(value):
            yield from _flatten(item, f"{prefix}[{i}]")
    elif value is None:
        yield prefix, "(not set)"
    elif isinstance(value, list):
        yield prefix, ", ".join(map(str, value)) if value else "(none)"
    else:
        yield prefix, value


def _run_sheet(book: Workbook, results: Results, case: Case) -> None:
    """How the plan was made: versions, solver options and statistics."""
    sheet = book.create_sheet("Run")
    sheet.sheet_view.showGridLines = False
    sheet.column_dimensions["A"].width, sheet.column_dimensions["B"].width = 40, 40
    solve = results.solve
    rows = [
        ("hashplan version", __version__),
        ("solver", solve.solver),
        ("status", results.kpis["status"]),
        ("certified gap [fraction]", results.kpis["mip_gap"]),
        ("objective [USD]", solve.objective_usd),
        ("best bound [USD]", results.kpis["bound_usd"]),
        ("solve time in HiGHS [s]", solve.solve_seconds),
        ("hand-off to HiGHS [s]", solve.handoff_seconds),
        ("machine counts floored and repaired", solve.floored_counts),
        ("method", solve.method),
        ("dispatch periods", case.grid.n_periods),
    ] + [(f"solver.{name}", value) for name, value in case.spec.solver.model_dump().items()]
    sheet.append(header_cells(sheet, ["Run", "Value"]))
    for name, value in rows:
        # an option left unset reads as its YAML word, not as an empty cell
        sheet.append([name, "none" if value is None else value])


def _python_values(column: pd.Series) -> list:
    """Column values as plain Python objects openpyxl can write (NaN becomes an empty cell)."""
    if pd.api.types.is_datetime64_any_dtype(column):
        return column.dt.to_pydatetime().tolist()
    if pd.api.types.is_float_dtype(column):
        values = column.to_numpy(dtype=float)
        return [None if not np.isfinite(v) else v for v in values.tolist()]
    return column.tolist()


def header_cells(sheet, labels: list[str]) -> list[WriteOnlyCell]:
    """A header row: white bold text on dark blue, wrapped."""
    cells = []
    for label in labels:
        header = WriteOnlyCell(sheet, value=label)
        header.font, header.fill = _HEADER_FONT, _HEADER_FILL
        header.alignment = Alignment(wrap_text=True, vertical="top")
        cells.append(header)
    return cells


def cell(sheet, value, number_format: str | None = None, font: Font | None = None) -> WriteOnlyCell:
    """A cell with a number format and font, for write-only sheets."""
    written = WriteOnlyCell(sheet, value=value)
    if number_format:
        written.number_format = number_format
    if font:
        written.font = font
    return written
