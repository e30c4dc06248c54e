"""The scenario-pack workbook: scenarios side by side, a sensitivity grid, charts."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from openpyxl import Workbook
from openpyxl.chart import BarChart, Reference

from optimizer.output import atomic_write
from optimizer.report.workbook import BTC, FRACTION, NUMBER, USD, USD_CENTS, cell, header_cells, styled
from optimizer.scenarios import shortfall_usd

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


def pack_table(rows: list[dict]) -> pd.DataFrame:
    """One row per scenario with its inputs and the compared figures."""
    table = pd.DataFrame(
        [
            {
                **{k: row[k] for k in ("scenario", "btc_price_multiplier", "hashprice_multiplier", "mean_btc_price_usd", "mean_hashprice_usd_per_ph_day")},
                **{key: row.get(key) for key, *_ in COMPARED if key != "shortfall_usd"},
                "shortfall_usd": shortfall_usd(row),
                "value_usd": row.get("terminal_value_usd", row.get("objective_usd")),
                "error": row.get("error", ""),
            }
            for row in rows
        ]
    )
    return table


def write_pack(path: Path, rows: list[dict], case_name: str) -> Path:
    """Write ``pack.xlsx`` atomically: Scenarios, Comparison, Sensitivity (with a chart)."""
    table = pack_table(rows)

    def write(tmp: Path) -> None:
        book = Workbook(write_only=True)
        _scenarios_sheet(book, table, case_name)
        _comparison_sheet(book, table)
        _sensitivity_sheet(book, table)
        book.save(tmp)

    return atomic_write(path, write)


def _scenarios_sheet(book: Workbook, table: pd.DataFrame, case_name: str) -> None:
    sheet = book.create_sheet("Scenarios")
    sheet.sheet_view.showGridLines = False
    sheet.freeze_panes = "B3"
    sheet.append([f"Scenario pack: {case_name} ({len(table)} scenarios; BTC price and hashprice scaled from the base case)"])
    inputs = [("BTC price x", NUMBER), ("Hashprice x", NUMBER), ("Mean BTC price [USD/BTC]", USD), ("Mean hashprice [USD/PH/day]", USD_CENTS)]
    compared = [(f"{label} [{unit}]" if unit else label, fmt) for _, label, unit, fmt in COMPARED]
    headers = [("Scenario", None)] + inputs + compared + [("Error", None)]
    for i, (label, _) in enumerate(headers):
        sheet.column_dimensions[chr(ord("A") + i) if i < 26 else "Z"].width = max(12, min(len(label) + 2, 30))
    sheet.append(header_cells(sheet, [label for label, _ in headers]))
    keys = ["scenario", "btc_price_multiplier", "hashprice_multiplier", "mean_btc_price_usd", "mean_hashprice_usd_per_ph_day"]
    keys += [key for key, *_ in COMPARED] + ["error"]
    for record in table.to_dict(orient="records"):
        sheet.append([cell(sheet, _plain(record[k]), fmt) if fmt else _plain(record[k]) for k, (_, fmt) in zip(keys, headers)])


def _comparison_sheet(book: Workbook, table: pd.DataFrame) -> None:
    sheet = book.create_sheet("Comparison")
    sheet.sheet_view.showGridLines = False
    sheet.freeze_panes = "B2"
    sheet.column_dimensions["A"].width = 32
    sheet.append(header_cells(sheet, ["Figure"] + list(table["scenario"])))
    for key, label, unit, fmt in COMPARED:
        values = [_plain(v) for v in table[key]]
        sheet.append([f"{label} [{unit}]" if unit else label] + [cell(sheet, v, fmt) if fmt else v for v in values])


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


def _plain(value):
    """A value openpyxl can write: NaN and None become an empty cell."""
    if value is None or (isinstance(value, float) and value != value):
        return None
    return value
