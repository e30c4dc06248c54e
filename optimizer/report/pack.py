"""The scenario-pack workbook: scenarios side by side, a sensitivity grid, charts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from openpyxl import Workbook
from openpyxl.chart import BarChart, Reference
from openpyxl.utils import get_column_letter

from optimizer.output import atomic_write
from optimizer.report.workbook import BTC, FRACTION, NUMBER, USD, USD_CENTS, cell, header_cells, styled

COMPARED = [
    # key, label, unit, format
    ("status", "Status", "", None),
    ("objective_usd", "Objective", "USD", USD),
    ("terminal_value_usd", "Terminal value", "USD", USD),
    ("btc_mined", "BTC mined", "BTC", BTC),
    ("btc_sold", "BTC sold", "BTC", BTC),
    ("ending_cash_usd", "Ending cash", "USD", USD),
    ("mining_revenue_usd", "Mining revenue", "USD", USD),
    ("energy_cost_usd", "Energy cost", "USD", USD),
    ("curtailed_mwh", "Curtailed energy", "MWh", NUMBER),
    ("uptime_fraction", "Uptime", "fraction", FRACTION),
    ("all_in_cost_per_btc_usd", "All-in cost per BTC", "USD/BTC", USD),
    ("shortfall_usd", "Shortfalls, total", "USD", USD),
]
"""The figures compared across scenarios (those a case has; the rest are left blank)."""

GRIDS = [
    ("value_usd", "Terminal value (objective without a treasury) [USD]", USD),
    ("btc_sold", "BTC sold [BTC]", BTC),
    ("shortfall_usd", "Shortfalls, total [USD]", USD),
]


INPUTS = [
    # key, label, format: the scenario's inputs, shown when any scenario has them
    ("probability", "Probability", FRACTION),
    ("kind", "Kind", None),
    ("changes", "Changes from the base case", None),
    ("btc_price_multiplier", "BTC price x", NUMBER),
    ("hashprice_multiplier", "Hashprice x", NUMBER),
    ("seed", "Seed", None),
    ("draw", "Draw", None),
    ("weeks_from", "Power prices from the weeks of", None),
    ("mean_btc_price_usd", "Mean BTC price [USD/BTC]", USD),
    ("mean_hashprice_usd_per_ph_day", "Mean hashprice [USD/PH/day]", USD_CENTS),
    ("mean_spot_usd_per_mwh", "Mean spot price [USD/MWh]", USD_CENTS),
]


def pack_table(rows: list[dict]) -> pd.DataFrame:
    """One row per scenario with its inputs and the compared figures."""
    inputs = [key for key, *_ in INPUTS if any(key in row for row in rows)]
    table = pd.DataFrame(
        [
            {
                "scenario": row["scenario"],
                **{key: row.get(key) for key in inputs},
                **{key: row.get(key) for key, *_ in COMPARED if key != "shortfall_usd"},
                "shortfall_usd": shortfall_usd(row),
                "value_usd": row.get("terminal_value_usd", row.get("objective_usd")),
                "error": row.get("error", ""),
            }
            for row in rows
        ]
    )
    return table


def write_pack(path: Path, rows: list[dict], case_name: str, described: str = "BTC price and hashprice scaled from the base case") -> Path:
    """Write ``pack.xlsx`` atomically: Scenarios, Comparison, Statistics, and for a BTC price x
    hashprice grid the Sensitivity sheet (with charts)."""
    table = pack_table(rows)

    def write(tmp: Path) -> None:
        book = Workbook(write_only=True)
        _scenarios_sheet(book, table, f"Scenario pack: {case_name} ({len(table)} scenarios; {described})")
        _comparison_sheet(book, table)
        _statistics_sheet(book, table)
        if {"btc_price_multiplier", "hashprice_multiplier"} <= set(table.columns):
            _sensitivity_sheet(book, table)
        book.save(tmp)

    return atomic_write(path, write)


def _scenarios_sheet(book: Workbook, table: pd.DataFrame, title: str) -> None:
    sheet = book.create_sheet("Scenarios")
    sheet.sheet_view.showGridLines = False
    sheet.freeze_panes = "B3"
    sheet.append([title])
    inputs = [(key, label, fmt) for key, label, fmt in INPUTS if key in table.columns]
    compared = [(key, f"{label} [{unit}]" if unit else label, fmt) for key, label, unit, fmt in COMPARED]
    headers = [("scenario", "Scenario", None)] + inputs + compared + [("error", "Error", None)]
    for i, (_, label, _) in enumerate(headers):
        sheet.column_dimensions[get_column_letter(i + 1)].width = max(12, min(len(label) + 2, 30))
    sheet.append(header_cells(sheet, [label for _, label, _ in headers]))
    for record in table.to_dict(orient="records"):
        sheet.append([cell(sheet, _plain(record[k]), fmt) if fmt else _plain(record[k]) for k, _, fmt in headers])


def _comparison_sheet(book: Workbook, table: pd.DataFrame) -> None:
    sheet = book.create_sheet("Comparison")
    sheet.sheet_view.showGridLines = False
    sheet.freeze_panes = "B2"
    sheet.column_dimensions["A"].width = 32
    sheet.append(header_cells(sheet, ["Figure"] + list(table["scenario"])))
    for key, label, unit, fmt in COMPARED:
        values = [_plain(v) for v in table[key]]
        sheet.append([f"{label} [{unit}]" if unit else label] + [cell(sheet, v, fmt) if fmt else v for v in values])


def _statistics_sheet(book: Workbook, table: pd.DataFrame) -> None:
    """Each compared figure across the solved scenarios: probability-weighted mean, minimum,
    percentiles and maximum (each scenario counted at its probability when given)."""
    solved = table[table["status"] != "failed"]
    sheet = book.create_sheet("Statistics")
    sheet.sheet_view.showGridLines = False
    sheet.freeze_panes = "B3"
    sheet.column_dimensions["A"].width = 32
    sheet.append([f"{len(solved)} of {len(table)} scenarios solved; failed scenarios are left out"])
    columns = ["Mean", "Minimum", "P10", "P50", "P90", "Maximum"]
    sheet.append(header_cells(sheet, ["Figure"] + columns))
    weights = solved["probability"].to_numpy(dtype=float) if "probability" in solved else np.ones(len(solved))
    for key, label, unit, fmt in COMPARED:
        values = pd.to_numeric(solved[key], errors="coerce").to_numpy(dtype=float)
        known = ~np.isnan(values)
        if fmt is None or not known.any():
            continue
        stats = weighted_statistics(values[known], weights[known])
        sheet.append([f"{label} [{unit}]"] + [cell(sheet, stats[c], fmt) for c in columns])


def weighted_statistics(values: np.ndarray, weights: np.ndarray) -> dict[str, float]:
    """Weighted mean, minimum, P10, P50, P90 and maximum of ``values``.

    A percentile q is the smallest value whose cumulative weight reaches q (the inverse of
    the weighted distribution function, as for scenarios of given probability).
    """
    order = np.argsort(values, kind="stable")
    sorted_values, cumulative = values[order], np.cumsum(weights[order]) / weights.sum()

    def percentile(q: float) -> float:
        return float(sorted_values[np.searchsorted(cumulative, q - 1e-12)])

    return {
        "Mean": float(values @ weights / weights.sum()),
        "Minimum": float(sorted_values[0]),
        "P10": percentile(0.10),
        "P50": percentile(0.50),
        "P90": percentile(0.90),
        "Maximum": float(sorted_values[-1]),
    }


def _sensitivity_sheet(book: Workbook, table: pd.DataFrame) -> None:
    """A BTC price x hashprice grid per figure, then charts of terminal value and BTC sold by scenario."""
    sheet = book.create_sheet("Sensitivity")
    sheet.sheet_view.showGridLines = False
    sheet.column_dimensions["A"].width = 40
    btc = sorted(table["btc_price_multiplier"].unique())
    hashprice = sorted(table["hashprice_multiplier"].unique())
    for key, label, fmt in GRIDS:
        grid = table.pivot(index="btc_price_multiplier", columns="hashprice_multiplier", values=key).reindex(index=btc, columns=hashprice)
        sheet.append([label])
        sheet.append(header_cells(sheet, ["BTC price x  \\  hashprice x"] + [f"x{h:g}" for h in hashprice]))
        for b in btc:
            sheet.append([f"x{b:g}"] + [cell(sheet, _plain(v), fmt) for v in grid.loc[b]])
        sheet.append([])
    values_row = 4 + (len(btc) + 3) * len(GRIDS)
    sheet.append(header_cells(sheet, ["Scenario", "Terminal value (objective without a treasury) [USD]", "BTC sold [BTC]"]))
    for name, value, sold in zip(table["scenario"], table["value_usd"], table["btc_sold"]):
        sheet.append([name, _plain(value), _plain(sold)])
    last = values_row - 1 + len(table)
    for column, (title, unit), anchor in ((2, ("Terminal value by scenario", "USD"), "E2"), (3, ("BTC sold by scenario", "BTC"), "E24")):
        chart = styled(BarChart())
        chart.add_data(Reference(sheet, min_col=column, min_row=values_row - 1, max_row=last), titles_from_data=True)
        chart.set_categories(Reference(sheet, min_col=1, min_row=values_row, max_row=last))
        chart.title, chart.y_axis.title, chart.width, chart.height = title, unit, 24, 10
        sheet.add_chart(chart, anchor)


def shortfall_usd(row: dict) -> float:
    """Total of a scenario's shortfalls [USD] (0 without a treasury or when all limits are met)."""
    return float(np.sum([s["amount_usd"] for s in row.get("shortfalls", [])]))


def _plain(value):
    """A value openpyxl can write: NaN and None become an empty cell."""
    if value is None or (isinstance(value, float) and value != value):
        return None
    return value
