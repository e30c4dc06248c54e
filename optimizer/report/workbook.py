"""The report workbook: Summary, Dispatch, Sites and Breakeven sheets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from optimizer import __version__
from optimizer.output import atomic_write
from optimizer.results import Results

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
    ("objective_usd", "Objective (profit over the horizon)", "USD", USD),
    ("bound_usd", "Best bound on the objective", "USD", USD),
    ("mip_gap", "Certified optimality gap", "fraction", GAP),
    ("solve_seconds", "Solve time", "s", NUMBER),
    ("btc_mined", "BTC mined (expected, after pool fee)", "BTC", BTC),
    ("mining_revenue_usd", "Mining revenue", "USD", USD),
    ("energy_cost_usd", "Energy cost", "USD", USD),
    ("energy_cost_per_btc_usd", "Energy cost per BTC mined", "USD/BTC", USD),
    ("energy_mwh", "Energy consumed", "MWh", NUMBER),
    ("curtailed_mwh", "Curtailed energy", "MWh", NUMBER),
    ("average_power_price_paid_usd_per_mwh", "Average power price paid", "USD/MWh", USD_CENTS),
    ("uptime_fraction", "Uptime (machine-hours run / installed)", "fraction", FRACTION),
]
"""Summary sheet rows; the values are exactly those of ``summary.json``."""

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
}


def write_report(path: Path, results: Results, timezone: str) -> Path:
    """Write ``report.xlsx`` atomically.

    Parameters
    ----------
    path : pathlib.Path
        Target file.
    results : Results
        The solved plan.
    timezone : str
        Zone of the period timestamps, named in the Dispatch header.
    """

    def write(tmp: Path) -> None:
        book = Workbook(write_only=True)
        _summary_sheet(book, results)
        dispatch = results.dispatch.assign(period_start=results.dispatch["period_start"].dt.tz_localize(None))
        _table_sheet(book, "Dispatch", dispatch, timezone)
        _table_sheet(book, "Sites", results.sites, timezone)
        _table_sheet(book, "Breakeven", results.breakeven, timezone)
        book.save(tmp)

    return atomic_write(path, write)


def _summary_sheet(book: Workbook, results: Results) -> None:
    sheet = book.create_sheet("Summary")
    sheet.sheet_view.showGridLines = False
    for letter, width in zip("ABC", (44, 20, 12)):
        sheet.column_dimensions[letter].width = width
    sheet.append([_cell(sheet, f"hashplan plan: {results.kpis['case']}", font=_TITLE_FONT)])
    sheet.append([f"hashplan {__version__}, {results.solve.solver}"])
    sheet.append([])
    sheet.append(_header(sheet, ["Figure", "Value", "Unit"]))
    for key, label, unit, number_format in SUMMARY_ROWS:
        sheet.append([label, _cell(sheet, results.kpis[key], number_format), unit])
    sheet.append([])
    sheet.append(_header(sheet, ["P&L line (sums to the objective)", "Amount", "Unit"]))
    for line, usd in zip(results.pnl["line"], results.pnl["usd"]):
        sheet.append([line, _cell(sheet, float(usd), USD), "USD"])
    sheet.append([_cell(sheet, "Total", font=Font(bold=True)), _cell(sheet, float(results.pnl["usd"].sum()), USD, Font(bold=True)), "USD"])


def _table_sheet(book: Workbook, title: str, frame: pd.DataFrame, timezone: str) -> None:
    sheet = book.create_sheet(title)
    sheet.sheet_view.showGridLines = False
    sheet.freeze_panes = "A2"
    headers = [COLUMNS[c][0].format(tz=timezone) for c in frame.columns]
    formats = [COLUMNS[c][1] for c in frame.columns]
    for i, header in enumerate(headers, start=1):
        sheet.column_dimensions[get_column_letter(i)].width = max(12, min(len(header) + 2, 48))
    sheet.append(_header(sheet, headers))
    columns = [_python_values(frame[c]) for c in frame.columns]
    for row in zip(*columns):
        sheet.append([_cell(sheet, v, f) if f else v for v, f in zip(row, formats)])


def _python_values(column: pd.Series) -> list:
    """Column values as plain Python objects openpyxl can write (NaN becomes an empty cell)."""
    if pd.api.types.is_datetime64_any_dtype(column):
        return column.dt.to_pydatetime().tolist()
    if pd.api.types.is_float_dtype(column):
        values = column.to_numpy(dtype=float)
        return [None if not np.isfinite(v) else v for v in values.tolist()]
    return column.tolist()


def _header(sheet, labels: list[str]) -> list[WriteOnlyCell]:
    cells = []
    for label in labels:
        cell = WriteOnlyCell(sheet, value=label)
        cell.font, cell.fill = _HEADER_FONT, _HEADER_FILL
        cell.alignment = Alignment(wrap_text=True, vertical="top")
        cells.append(cell)
    return cells


def _cell(sheet, value, number_format: str | None = None, font: Font | None = None) -> WriteOnlyCell:
    cell = WriteOnlyCell(sheet, value=value)
    if number_format:
        cell.number_format = number_format
    if font:
        cell.font = font
    return cell
