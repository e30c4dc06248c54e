"""Write the workbook entries of the bad-input catalogue (``xlsx_*`` and ``xlsm_*`` folders).

Each entry starts from one small valid case (one site, two models, 24 hourly periods of
2023-07-01 in America/Chicago), written to a workbook by ``hashplan template`` and cut down
to the sheets it uses. One edit then makes it bad, and the entry's ``expected.txt`` gets the
part of the error message that names the sheet, cell and problem.

Run it from the repository root after a change to the workbook layout, and commit the
result (the workbooks are small binary files)::

    python tests/bad_inputs/make_workbooks.py
"""

from __future__ import annotations

import io
import tempfile
from collections.abc import Callable
from pathlib import Path

import openpyxl

from optimizer.case import load_case
from optimizer.case.excel import write_template

HERE = Path(__file__).resolve().parent

CASE_YAML = """\
name: workbook base
horizon: {start: 2023-07-01T00:00, end: 2023-07-02T00:00, resolution: 1h, timezone: America/Chicago}
network: {btc_price_usd: 30000, difficulty: 5.2e13, fees_btc_per_block: 0.15, block_height: 797000, pool_fee: 0.02}
miner_models:
  - {name: S19 XP, hashrate_th: 140, power_w: 3010}
  - {name: S21, hashrate_th: 200, power_w: 3500}
sites:
  - name: west
    interconnect_mw: 5
    aux_load_fraction: 0.04
    power: {spot_usd_per_mwh: {file: spot.csv, column: price_usd_per_mwh}, adder_usd_per_mwh: 3.0}
fleet:
  - {site: west, model: S19 XP, count: 600}
  - {site: west, model: S21, count: 400}
"""

SPOT_CSV = "timestamp,price_usd_per_mwh\n" + "".join(f"2023-07-01T{h:02d}:00,{20 + h}\n" for h in range(24))

UNUSED_SHEETS = ("Instructions", "Modes", "FixedBlock", "FourCP", "FourCPCandidates", "DemandResponse", "AntiCycling",
                 "Treasury", "Debt", "Opex", "Objective")
"""Sheets of sections the base case does not use: a workbook may leave them out."""

# the cells the edits below change, with the header each must sit under (the layout comes from the schema)
HEADERS = {
    ("Sites", "B"): "interconnect_mw", ("Sites", "D"): "power.spot_usd_per_mwh",
    ("Fleet", "A"): "site", ("Fleet", "B"): "model", ("Fleet", "C"): "count",
    ("TimeSeries", "A"): "timestamp", ("TimeSeries", "B"): "price_usd_per_mwh",
}


def base_workbook() -> bytes:
    """The valid base case as a workbook, without the sheets it does not use."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "case.yaml").write_text(CASE_YAML, encoding="utf-8")
        (folder / "spot.csv").write_text(SPOT_CSV, encoding="utf-8")
        write_template(folder / "full.xlsx", folder / "case.yaml")
        book = openpyxl.load_workbook(folder / "full.xlsx")
        for title in UNUSED_SHEETS:
            del book[title]
        for (sheet, column), header in HEADERS.items():
            assert str(book[sheet][f"{column}1"].value).split(" [")[0] == header, (sheet, column, header)
        book.save(folder / "case.xlsx")
        load_case(folder / "case.xlsx")  # the base is valid: each entry below is bad by its one edit only
        return (folder / "case.xlsx").read_bytes()


Edit = Callable[[bytes], bytes]
"""Makes an entry's file from the base workbook's bytes."""


def in_workbook(change: Callable[[openpyxl.Workbook], None]) -> Edit:
    """An edit that opens the base workbook, changes it and saves it."""

    def edit(base: bytes) -> bytes:
        book = openpyxl.load_workbook(io.BytesIO(base))
        change(book)
        out = io.BytesIO()
        book.save(out)
        return out.getvalue()

    return edit


def set_cell(sheet: str, cell: str, value) -> Edit:
    return in_workbook(lambda book: book[sheet].__setitem__(cell, value))


def add_sheet(title: str) -> Edit:
    return in_workbook(lambda book: book.create_sheet(title))


def delete_sheet(title: str) -> Edit:
    return in_workbook(lambda book: book.__delitem__(title))


@in_workbook
def duplicate_series_column(book: openpyxl.Workbook) -> None:
    """A second TimeSeries column headed like the first."""
    sheet = book["TimeSeries"]
    for row in range(1, sheet.max_row + 1):
        sheet.cell(row, 3, sheet.cell(row, 2).value)


# entry folder -> (file name, edit of the base workbook, expected text)
ENTRIES: dict[str, tuple[str, Edit, str]] = {
    "xlsx_bad_number_in_cell": (
        "case.xlsx", set_cell("Sites", "B2", "12,5"),
        "Sites!B2 (sites[0].interconnect_mw): input should be a valid number"),
    "xlsx_boolean_for_number": (
        "case.xlsx", set_cell("Sites", "B2", True),
        "Sites!B2 (sites[0].interconnect_mw): yes/no/true/false/on/off is a boolean"),
    "xlsx_negative_fleet_count": (
        "case.xlsx", set_cell("Fleet", "C2", -5),
        "Fleet!C2 (fleet[0].count): must be > 0 (got -5)"),
    "xlsx_fleet_unknown_model": (
        "case.xlsx", set_cell("Fleet", "B3", "S9"),
        "Fleet!B3 (fleet[1].model): unknown machine model 'S9'"),
    "xlsx_fleet_unknown_site": (
        "case.xlsx", set_cell("Fleet", "A2", "east"),
        "Fleet!A2 (fleet[0].site): unknown site 'east'"),
    # openpyxl stores a formula without its value, as any program that writes xlsx without a spreadsheet engine does
    "xlsx_formula_without_cached_value": (
        "case.xlsx", set_cell("Fleet", "C2", "=300*2"),
        "Fleet!C2 (fleet[0].count): the formula =300*2 has no stored value"),
    "xlsx_excel_error_value": (
        "case.xlsx", set_cell("Sites", "B2", "#DIV/0!"),
        "Sites!B2 (sites[0].interconnect_mw): the cell holds the Excel error #DIV/0!"),
    "xlsx_unknown_series_column": (
        "case.xlsx", set_cell("Sites", "D2", "series: price"),
        "Sites!D2 (sites[0].power.spot_usd_per_mwh): no TimeSeries column 'price'"),
    "xlsx_timeseries_bad_value": (
        "case.xlsx", set_cell("TimeSeries", "B5", "n/a"),
        "TimeSeries!B5 (sites[0].power.spot_usd_per_mwh): value 'n/a' is missing or not a finite number"),
    "xlsx_timeseries_bad_timestamp": (
        "case.xlsx", set_cell("TimeSeries", "A5", "July 1st"),
        "TimeSeries!A5 (sites[0].power.spot_usd_per_mwh): timestamp 'July 1st' is missing or not ISO 8601"),
    "xlsx_timeseries_duplicate_column": (
        "case.xlsx", duplicate_series_column,
        "TimeSeries!C1: column 'price_usd_per_mwh' appears twice"),
    "xlsx_unknown_sheet": (
        "case.xlsx", add_sheet("Sheet1"),
        "Sheet1: unknown sheet 'Sheet1'"),
    "xlsx_missing_sites_sheet": (
        "case.xlsx", delete_sheet("Sites"),
        "Sites (sites): required field is missing"),
    "xlsx_truncated": (
        "case.xlsx", lambda base: base[: len(base) // 2],
        "case.xlsx: not a readable .xlsx workbook"),
    "xlsx_csv_renamed": (
        "case.xlsx", lambda base: SPOT_CSV.encode(),
        "case.xlsx: not a readable .xlsx workbook"),
    "xlsm_macro_enabled": (
        "case.xlsm", lambda base: base,
        "case.xlsm: macro-enabled workbooks (.xlsm) are not read"),
}


def main() -> None:
    base = base_workbook()
    for name, (file_name, edit, expected) in ENTRIES.items():
        folder = HERE / name
        folder.mkdir(exist_ok=True)
        for old in folder.glob("case.*"):
            old.unlink()
        (folder / file_name).write_bytes(edit(base))
        (folder / "expected.txt").write_text(expected + "\n", encoding="utf-8")
    print(f"wrote {len(ENTRIES)} workbook entries under {HERE}")


if __name__ == "__main__":
    main()
