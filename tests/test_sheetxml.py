"""Table rows written as worksheet XML read back as the values and formats openpyxl itself writes.

The reference for every cell is the same table appended cell by cell through openpyxl's own
write-only sheet, and the frame itself.
"""

import datetime as dt
import math
import zipfile

import numpy as np
import openpyxl
import pandas as pd
import pytest
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.utils.exceptions import IllegalCharacterError

from optimizer.report.sheetxml import row_xml, rows_xml, splice_rows

FRAME = pd.DataFrame(
    {
        "start": pd.to_datetime(["2026-01-01 00:00", "2026-03-08 02:00", None, "2026-12-31 23:00"]),
        "site": ["west", "A&B <north>", " padded ", "west"],
        "count": np.array([0, 7, -3, 10**12], dtype=np.int64),
        "mw": [30.500000000000004, float("nan"), -0.0, 1e-300],
        "usd": [1205.1339631211267, float("inf"), 2.5e15, -1 / 3],
        "on": [True, False, True, False],
        "mixed": [None, 3, 2.25, dt.date(2026, 2, 1)],
        "when": [dt.datetime(2026, 5, 1, 6, 30), None, "text", 1.0],
    }
)
FORMATS = ["yyyy-mm-dd hh:mm", None, "#,##0", "#,##0.00", '"$"#,##0', None, None, None]


def _spliced(path, frame, formats, below=()):
    """``frame`` under a header row through :mod:`optimizer.report.sheetxml`."""
    book = Workbook(write_only=True)
    sheet = book.create_sheet("Table")
    sheet.append(list(frame.columns))

    def style(number_format):
        written = WriteOnlyCell(sheet)
        if number_format:
            written.number_format = number_format
        return written.style_id

    rows = rows_xml(frame, formats, style, first_row=2)
    rows += "".join(row_xml(len(frame) + 2 + i, cells) for i, cells in enumerate(below))
    book.save(path)
    splice_rows(path, {"Table": rows})
    return path


def _appended(path, frame, formats):
    """The reference: ``frame`` appended cell by cell through openpyxl."""
    book = Workbook(write_only=True)
    sheet = book.create_sheet("Table")
    sheet.append(list(frame.columns))
    for row in frame.itertuples(index=False):
        cells = []
        for value, number_format in zip(row, formats):
            if value is None or value is pd.NaT or (isinstance(value, float) and not math.isfinite(value)):
                cells.append(None)
                continue
            written = WriteOnlyCell(sheet, value=value.to_pydatetime() if isinstance(value, pd.Timestamp) else value)
            if number_format:
                written.number_format = number_format
            cells.append(written)
        sheet.append(cells)
    book.save(path)
    return path


def _cells(path):
    sheet = openpyxl.load_workbook(path)["Table"]
    return [[(c.value, c.number_format if c.value is not None else None) for c in row] for row in sheet.iter_rows()]


def test_rows_read_back_as_openpyxl_writes_them(tmp_path):
    ours = _cells(_spliced(tmp_path / "ours.xlsx", FRAME, FORMATS))
    reference = _cells(_appended(tmp_path / "reference.xlsx", FRAME, FORMATS))
    assert len(ours) == len(reference) == len(FRAME) + 1
    for mine, theirs in zip(ours, reference):
        assert len(mine) == len(theirs)
        for (value, fmt), (expected, expected_fmt) in zip(mine, theirs):
            assert fmt == expected_fmt
            if isinstance(expected, (int, float)) and not isinstance(expected, bool):
                # openpyxl writes 16 significant digits (and -0.0 as the integer 0)
                assert value == pytest.approx(expected, rel=1e-15, abs=0.0)
            else:
                assert value == expected and type(value) is type(expected)


def test_rows_read_back_as_the_frame_exactly(tmp_path):
    rows = _cells(_spliced(tmp_path / "ours.xlsx", FRAME, FORMATS))
    assert [value for value, _ in rows[0]] == list(FRAME.columns)

    def column(name):
        i = list(FRAME.columns).index(name)
        return [row[i][0] for row in rows[1:]]

    assert column("start") == [dt.datetime(2026, 1, 1), dt.datetime(2026, 3, 8, 2), None, dt.datetime(2026, 12, 31, 23)]
    assert column("site") == ["west", "A&B <north>", " padded ", "west"]
    assert column("count") == [0, 7, -3, 10**12]
    # floats exactly, as their shortest round-trip text; NaN and inf as empty cells
    assert column("mw") == [30.500000000000004, None, -0.0, 1e-300]
    assert column("usd") == [1205.1339631211267, None, 2.5e15, -1 / 3]
    assert column("on") == [True, False, True, False]
    assert column("mixed") == [None, 3, 2.25, dt.datetime(2026, 2, 1)]
    assert rows[4][6][1] == "yyyy-mm-dd"  # a date in a column without a format shows as a date
    assert column("when") == [dt.datetime(2026, 5, 1, 6, 30), None, "text", 1.0]
    assert rows[1][7][1] == "yyyy-mm-dd h:mm:ss"


def test_rows_below_the_table_are_numbered_after_it(tmp_path):
    path = _spliced(tmp_path / "ours.xlsx", FRAME.iloc[:2], FORMATS, below=[[], [("Total", 0), (None, 0), (42.5, 0)]])
    sheet = openpyxl.load_workbook(path)["Table"]
    assert sheet.max_row == 5
    assert [c.value for c in sheet[5]][:3] == ["Total", None, 42.5]
    assert all(c.value is None for c in sheet[4])


@pytest.mark.parametrize(
    "column, error, words",
    [
        (pd.Series(pd.to_datetime(["2026-01-01"]).tz_localize("UTC"), name="start"), TypeError, "column 'start': Excel has no time zones"),
        (pd.Series(["fine", "bell\x07"], name="site"), IllegalCharacterError, "column 'site'"),
        (pd.Series([None, [1, 2]], name="odd"), TypeError, "column 'odd': Excel has no cell type for list"),
    ],
    ids=["timezone", "control character", "list"],
)
def test_values_excel_cannot_hold_are_refused_naming_the_column(column, error, words):
    with pytest.raises(error, match=words):
        rows_xml(column.to_frame(), [None], lambda number_format: 0, first_row=2)


def test_the_sheet_is_found_by_its_title_among_several(tmp_path):
    book = Workbook(write_only=True)
    for title in ("First", "Second & third"):
        book.create_sheet(title).append([title])
    path = tmp_path / "two.xlsx"
    book.save(path)
    splice_rows(path, {"Second & third": row_xml(2, [("below", 0)])})
    read = openpyxl.load_workbook(path)
    assert [c.value for c in read["First"]["A"]] == ["First"]
    assert [c.value for c in read["Second & third"]["A"]] == ["Second & third", "below"]
    with zipfile.ZipFile(path) as written:
        assert written.testzip() is None
