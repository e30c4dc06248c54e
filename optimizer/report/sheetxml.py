"""Table rows written as worksheet XML, a column at a time, into a workbook openpyxl has saved.

openpyxl's write-only sheets cost about 40 µs a cell (a cell object, type checks and a style
look-up each), so a 25,536-row hourly dispatch sheet took 8.1 s, most of the report stage;
this way it takes 0.75 s. A table's values become cell XML a column at a time (numbers as
the shortest text that reads back as the same double, each distinct string escaped once) and
:func:`splice_rows` puts the rows after the header row openpyxl wrote.
openpyxl still writes everything else: the header, widths, frozen panes and the styles whose
ids the cells carry.
"""

from __future__ import annotations

import datetime as dt
import re
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path, PurePosixPath
from xml.etree import ElementTree

import numpy as np
import pandas as pd
from openpyxl.utils import get_column_letter
from openpyxl.utils.exceptions import IllegalCharacterError

DATETIME_FORMAT = "yyyy-mm-dd h:mm:ss"
"""Format of a datetime cell whose column has none (openpyxl's choice)."""
DATE_FORMAT = "yyyy-mm-dd"
"""Format of a date cell whose column has none (openpyxl's choice)."""

_EXCEL_EPOCH = np.datetime64("1899-12-30T00:00:00", "ns")
_NS_PER_DAY = 86_400 * 10**9
_ILLEGAL = re.compile(r"[\000-\010]|[\013-\014]|[\016-\037]")
_MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_RELATIONSHIP = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"

Style = Callable[[str | None], int]
"""The workbook style id [-] of a cell with this number format (None: General)."""


def rows_xml(frame: pd.DataFrame, formats: Sequence[str | None], style: Style, first_row: int) -> str:
    """The ``<row>`` elements of ``frame``, its first row numbered ``first_row`` [-].

    Parameters
    ----------
    frame : pandas.DataFrame
        Values: numbers, booleans, naive datetimes and dates, strings; NaN, ±inf and None
        are left empty.
    formats : sequence of str or None
        Number format of each column (None: General, or a date format for date values).
    style : callable
        Registers a number format with the workbook and returns its style id.
    first_row : int
        Worksheet row number of the frame's first row (1-based).

    Raises
    ------
    TypeError
        A column holds a timezone-aware datetime or a value Excel has no cell type for.
    openpyxl.utils.exceptions.IllegalCharacterError
        A string holds a control character XML cannot carry.
    """
    numbers = np.arange(first_row, first_row + len(frame))
    columns = [
        _column_cells(frame[name], get_column_letter(i), numbers, fmt, style)
        for i, (name, fmt) in enumerate(zip(frame.columns, formats), start=1)
    ]
    return "".join(f'<row r="{n}">{"".join(cells)}</row>' for n, *cells in zip(numbers.tolist(), *columns))


def _column_cells(column: pd.Series, letter: str, numbers: np.ndarray, fmt: str | None, style: Style) -> list[str]:
    """One column's ``<c>`` elements, one per row ('' for an empty cell)."""
    refs = [f"{letter}{n}" for n in numbers.tolist()]
    if isinstance(column.dtype, pd.DatetimeTZDtype):
        raise TypeError(f"column {column.name!r}: Excel has no time zones; make the datetimes naive first")
    if pd.api.types.is_datetime64_dtype(column.dtype):
        stamps = column.to_numpy(dtype="datetime64[ns]")
        return _number_cells(refs, _serial(stamps), ~np.isnat(stamps), style(fmt or DATETIME_FORMAT))
    if column.dtype == bool:
        s = _style_attribute(style(fmt))
        return [f'<c r="{r}"{s} t="b"><v>{int(v)}</v></c>' for r, v in zip(refs, column.tolist())]
    if pd.api.types.is_integer_dtype(column.dtype) and not column.hasnans:
        values = column.to_numpy(dtype=np.int64)
        return _number_cells(refs, values, np.ones(len(values), dtype=bool), style(fmt))
    if pd.api.types.is_numeric_dtype(column.dtype) and column.dtype != object:
        values = column.to_numpy(dtype=float, na_value=np.nan)
        return _number_cells(refs, values, np.isfinite(values), style(fmt))
    if pd.api.types.infer_dtype(column, skipna=False) == "string":
        # a few names repeated down the column: each distinct one is checked and escaped once
        codes, names = pd.factorize(column)
        bodies = [_string_body(name, style(fmt), f"column {column.name!r}") for name in names]
        return [f'<c r="{r}"{bodies[c]}' for r, c in zip(refs, codes.tolist())]

    def styled(default: str | None) -> int:
        # a date takes a date format when its column has none
        return style(fmt or default)

    return [_value_cell(r, v, styled, f"column {column.name!r}") for r, v in zip(refs, column.tolist())]


def row_xml(number: int, cells: Sequence[tuple[object, int]]) -> str:
    """One ``<row>`` numbered ``number`` [-] of (value, style id) cells from column A on (None: empty)."""
    written = (
        _value_cell(f"{get_column_letter(i)}{number}", value, lambda default, s=style_id: s, f"row {number}")
        for i, (value, style_id) in enumerate(cells, start=1)
    )
    return f'<row r="{number}">{"".join(written)}</row>'


def _number_cells(refs: list[str], values: np.ndarray, present: np.ndarray, style_id: int) -> list[str]:
    s = _style_attribute(style_id)
    # a float's repr is the shortest text that reads back as the same double (openpyxl writes
    # 16 significant digits, which need not)
    texts = list(map(repr, values.tolist()))
    return [f'<c r="{r}"{s} t="n"><v>{v}</v></c>' if p else "" for r, v, p in zip(refs, texts, present.tolist())]


def _value_cell(ref: str, value, style: Style, where: str) -> str:
    """A cell holding one Python value; ``style(default)`` gives its style id, ``default`` being
    the format a date or datetime takes when the cell has none."""
    if value is None or value is pd.NaT or (isinstance(value, (float, np.floating)) and not np.isfinite(value)):
        return ""
    if isinstance(value, (bool, np.bool_)):
        return f'<c r="{ref}"{_style_attribute(style(None))} t="b"><v>{int(value)}</v></c>'
    if isinstance(value, (int, np.integer)):
        return f'<c r="{ref}"{_style_attribute(style(None))} t="n"><v>{int(value)}</v></c>'
    if isinstance(value, (float, np.floating)):
        return f'<c r="{ref}"{_style_attribute(style(None))} t="n"><v>{np.float64(value)!s}</v></c>'
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            raise TypeError(f"{where}: Excel has no time zones; make the datetimes naive first")
        return f'<c r="{ref}"{_style_attribute(style(DATETIME_FORMAT))} t="n"><v>{_serial(np.datetime64(value, "ns"))!s}</v></c>'
    if isinstance(value, dt.date):
        days = (value - dt.date(1899, 12, 30)).days
        return f'<c r="{ref}"{_style_attribute(style(DATE_FORMAT))} t="n"><v>{days}</v></c>'
    if isinstance(value, str):
        return f'<c r="{ref}"{_string_body(value, style(None), where)}'
    raise TypeError(f"{where}: Excel has no cell type for {type(value).__name__} value {value!r}")


def _string_body(value: str, style_id: int, where: str) -> str:
    """An inline-string cell after its reference: style, type and the escaped text."""
    if _ILLEGAL.search(value):
        raise IllegalCharacterError(f"{where}: {value!r} holds a control character XML cannot carry")
    space = ' xml:space="preserve"' if value != value.strip() else ""
    text = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return f'{_style_attribute(style_id)} t="inlineStr"><is><t{space}>{text}</t></is></c>'


def _serial(stamps: np.ndarray) -> np.ndarray:
    """Excel's serial date of naive ``datetime64[ns]`` values: days since 1899-12-30 [d]."""
    return (stamps - _EXCEL_EPOCH).astype(np.int64) / _NS_PER_DAY


def _style_attribute(style_id: int) -> str:
    return f' s="{style_id}"' if style_id else ""


def splice_rows(path: Path, rows: dict[str, str]) -> None:
    """Put ``rows[title]`` at the end of sheet ``title``'s rows in the saved workbook ``path``.

    Parameters
    ----------
    path : pathlib.Path
        A workbook openpyxl has saved; it is rewritten in place (the caller writes it as a
        temporary file and renames it when done).
    rows : dict of str to str
        ``<row>`` elements by sheet title, numbered after the rows the sheet already has.
    """
    with zipfile.ZipFile(path) as book:
        parts = [(info, book.read(info)) for info in book.infolist()]
        where = _sheet_parts(book)
    by_part = {where[title]: xml for title, xml in rows.items()}
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as book:
        for info, data in parts:
            if info.filename in by_part:
                text = data.decode("utf-8")
                if text.count("</sheetData>") != 1:
                    raise RuntimeError(f"{info.filename}: expected one </sheetData> to put the table's rows before")
                data = text.replace("</sheetData>", by_part[info.filename] + "</sheetData>").encode("utf-8")
            book.writestr(info, data)


def _sheet_parts(book: zipfile.ZipFile) -> dict[str, str]:
    """The zip member holding each sheet, by sheet title (from the workbook and its relationships)."""
    targets = {
        rel.get("Id"): rel.get("Target")
        for rel in ElementTree.fromstring(book.read("xl/_rels/workbook.xml.rels"))
    }
    parts = {}
    for sheet in ElementTree.fromstring(book.read("xl/workbook.xml")).iter(f"{_MAIN}sheet"):
        target = targets[sheet.get(_RELATIONSHIP)]
        # a target is relative to xl/ unless it starts at the package root
        parts[sheet.get("name")] = target.lstrip("/") if target.startswith("/") else str(PurePosixPath("xl") / target)
    return parts
