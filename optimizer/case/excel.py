"""The Excel case workbook: a fillable template written from a case, and read back as a case.

The sheets are derived from the schema (:mod:`optimizer.case.schema`), so a section added to
it gets its sheet and columns without a change here:

- the case's own scalar fields (``name``) are on the ``Case`` sheet;
- a top-level sub-model (``horizon``, ``treasury``...) is a Field/Value sheet named after the
  field in CamelCase (``Horizon``, ``Treasury``), one row per field with its unit, default and
  description; sub-models inside it are flattened to dotted field names;
- a list of sub-models (``sites``, ``fleet``, ``debt``...) is a table, one row per entry and
  one column per field, headed ``field [unit]``. Inside an entry, a required sub-model
  (``sites[].power``) is flattened into dotted columns (``power.spot_usd_per_mwh``), while an
  optional sub-model or a list of them (``power.four_cp``, ``power.demand_response``,
  ``miner_models[].modes``) gets its own sheet whose first columns (``site``, ``model``) name
  the entry it belongs to;
- a list of scalars (hours, dates, intervals) is comma-separated text in one cell;
- a number-or-series field holds a number, or ``series: <column>`` naming a column of the
  ``TimeSeries`` sheet (first column ``timestamp``; each value holds until the next value in
  its column, so a blank cell keeps the value above).

Reading builds the mapping that the YAML file would give and hands it to the same
:func:`~optimizer.case.load.parse_spec` and :func:`~optimizer.case.load.prepare_case`, so a
workbook passes exactly the checks a YAML case does; errors are re-addressed to the sheet and
cell, e.g. ``Sites!B2 (sites[0].interconnect_mw)``. Workbooks are read as data only: cached
formula values, never formulas evaluated or macros run.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
import types
import typing
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, field
from itertools import zip_longest
from pathlib import Path
from typing import Annotated, Any, Literal, get_args, get_origin

import numpy as np
import openpyxl
import pandas as pd
from openpyxl.comments import Comment
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from optimizer.case.errors import CaseError, SchemaError
from optimizer.case.load import load_case, parse_spec, prepare_case
from optimizer.case.model import Case
from optimizer.case.schema import CaseSpec, SeriesRef
from optimizer.case.series import StepSeries, read_csv_table, read_step_series
from optimizer.output import atomic_write

WORKBOOK_SUFFIX = ".xlsx"
INSTRUCTIONS_SHEET = "Instructions"
CASE_SHEET = "Case"
SERIES_SHEET = "TimeSeries"
SERIES_PREFIX = "series:"
"""A number-or-series cell holding ``series: <column>`` refers to that TimeSeries column."""

VALIDATED_ROWS = 1000
"""Rows of each table sheet that get drop-downs and range checks [rows]."""

_ACRONYMS = {"cp": "CP", "hpc": "HPC"}
_HEADER_FONT = Font(bold=True, color="FFFFFF")
_HEADER_FILL = PatternFill("solid", fgColor="1F3864")
_REQUIRED_FILL = PatternFill("solid", fgColor="833C0B")
_TITLE_FONT = Font(bold=True, size=14)
_DATETIME_FORMAT = "yyyy-mm-dd hh:mm"
_DATE_FORMAT = "yyyy-mm-dd"
_FIELD_SHEET_HEADER = ("Field", "Value", "Unit", "Default", "Description")
_SAVE_AS_XLSX = "save it from Excel as an Excel Workbook (.xlsx)"


# --- the layout: which sheet and column each schema field lives in ----------------------------


@dataclass(frozen=True)
class FieldType:
    """What a schema field holds, as far as the workbook is concerned.

    Attributes
    ----------
    model : type or None
        The sub-model, when the field holds one or a list of them.
    one, many : bool
        A single sub-model is allowed; a list of sub-models is allowed (both for ``X | list[X]``).
    scalar : type or None
        The scalar type, or the element type of a list of scalars (float, int, str, datetime...).
    is_list : bool
        A list of scalars (written as comma-separated text).
    series : bool
        A time series may be given instead of a number.
    optional : bool
        ``None`` is allowed.
    """

    model: type[BaseModel] | None
    one: bool
    many: bool
    scalar: Any
    is_list: bool
    series: bool
    optional: bool


def field_type(annotation: Any) -> FieldType:
    """Classify a pydantic field annotation (unions, ``Annotated`` and lists unwrapped)."""
    args = _union_args(annotation)
    optional = type(None) in args
    series = SeriesRef in args
    model, one, many, scalar, is_list = None, False, False, None, False
    for arg in (a for a in args if a not in (type(None), SeriesRef)):
        arg = _unwrap(arg)
        if _is_model(arg):
            model, one = arg, True
        elif get_origin(arg) is list:
            element = _unwrap(get_args(arg)[0])
            if _is_model(element):
                model, many = element, True
            else:
                scalar, is_list = element, True
        else:
            scalar = arg
    return FieldType(model, one, many, scalar, is_list, series, optional)


@dataclass
class Column:
    """A scalar field: a column of a table sheet, or a row of a Field/Value sheet.

    Attributes
    ----------
    name : str
        Dotted path inside the sheet's entry, e.g. ``power.spot_usd_per_mwh``.
    info : pydantic.fields.FieldInfo
        The schema field (description, default, bounds).
    type : FieldType
        What it holds.
    required : bool
        The field must be filled in whenever its entry is present.
    """

    name: str
    info: FieldInfo
    type: FieldType
    required: bool

    @property
    def unit(self) -> str:
        """The unit in brackets in the field's description, shortened for a header ('' if none)."""
        found = re.search(r"\[([^\]]+)\]", self.info.description or "")
        return re.split(r" of | unless |[;,]", found[1])[0].strip() if found else ""

    @property
    def header(self) -> str:
        """Table header: the field name and its unit, e.g. ``interconnect_mw [MW]``."""
        return f"{self.name} [{self.unit}]" if self.unit else self.name

    @property
    def default_text(self) -> str:
        """``required``, or the default as it would be typed ('' when the default is blank)."""
        if self.required:
            return "required"
        if self.info.is_required():  # in an optional section: needed when the section is given
            return "required in the section"
        default = self.info.get_default(call_default_factory=True)
        if isinstance(default, BaseModel) or default is None or default == []:
            return ""
        if isinstance(default, (int, float)):
            return _number_text(default)
        return _list_text(default) if isinstance(default, list) else str(default)


@dataclass
class Key:
    """A column of a nested sheet that names the entry of a parent sheet its row belongs to.

    Attributes
    ----------
    header : str
        Column header, e.g. ``site``.
    sheet : Sheet
        The list sheet whose entries it names.
    by_name : bool
        Entries are named by their ``name`` field; otherwise by their number (1 = first).
    """

    header: str
    sheet: "Sheet"
    by_name: bool


@dataclass
class Sheet:
    """A sheet of the workbook and the part of the schema it holds.

    Attributes
    ----------
    title : str
        Sheet name.
    model : type
        The schema model of one entry (one row of a table, or the whole Field/Value sheet).
    attach : str
        Dotted path of the field that holds the entries, relative to an entry of ``parent``.
    parent : Sheet or None
        The sheet whose entries hold this one's; ``None`` for the ``Case`` sheet.
    table : bool
        One row per entry (otherwise Field/Value rows).
    one, many : bool
        A single entry per parent is allowed; a list of entries is allowed.
    keys : list of Key
        Columns naming the parent entry (nested tables only).
    columns : list of Column
        The scalar fields.
    description : str
        What the sheet holds (from the schema).
    """

    title: str
    model: type[BaseModel]
    attach: str
    parent: "Sheet | None"
    table: bool
    one: bool
    many: bool
    keys: list[Key] = field(default_factory=list)
    columns: list[Column] = field(default_factory=list)
    description: str = ""

    @property
    def headers(self) -> list[str]:
        """Table headers: the keys, then the columns."""
        return [k.header for k in self.keys] + [c.header for c in self.columns]

    @property
    def by_name(self) -> bool:
        """Entries are identified by their ``name`` column."""
        return "name" in self.model.model_fields


def layout(root: type[BaseModel] = CaseSpec) -> list[Sheet]:
    """The workbook's sheets for a case schema, parents before the sheets nested in them.

    Parameters
    ----------
    root : type
        The case model (:class:`~optimizer.case.schema.CaseSpec` or an extension of it).

    Returns
    -------
    list of Sheet
        ``Case`` first, then each section and, right after it, the sheets nested in it.
    """
    case = Sheet(CASE_SHEET, root, attach="", parent=None, table=False, one=True, many=False, description=_doc(root))
    sheets = [case]
    _add_fields(case, root, "", True, sheets)
    return sheets


def _add_fields(sheet: Sheet, model: type[BaseModel], prefix: str, required: bool, sheets: list[Sheet]) -> None:
    for name, info in model.model_fields.items():
        kind = field_type(info.annotation)
        path = prefix + name
        needed = required and info.is_required()
        if kind.model is None:
            sheet.columns.append(Column(path, info, kind, needed))
        elif sheet.parent is None or kind.many or (sheet.table and kind.optional):
            child = _child_sheet(sheet, path, info, kind, {s.title for s in sheets})
            sheets.append(child)
            # a table row is an entry given, so its required fields are needed; an optional
            # Field/Value section needs them only when it is given
            _add_fields(child, kind.model, "", child.table or info.is_required(), sheets)
        else:
            # a sub-model that is always there (or a section inside a Field/Value sheet) reads
            # best as dotted columns beside its parent's
            _add_fields(sheet, kind.model, path + ".", needed, sheets)


def _child_sheet(parent: Sheet, path: str, info: FieldInfo, kind: FieldType, taken: set[str]) -> Sheet:
    leaf = path.rsplit(".", 1)[-1]
    title = _camel(leaf)
    if (parent.parent is not None and parent.parent.parent is not None) or title in taken:
        title = parent.title + title  # FourCPCandidates: a bare "Candidates" would not say of what
    keys = list(parent.keys)
    if parent.many:
        singular = _singular(parent.attach.rsplit(".", 1)[-1])
        keys.append(Key(singular if parent.by_name else f"{singular}_entry", parent, parent.by_name))
    return Sheet(
        title=title[:31],
        model=kind.model,
        attach=path,
        parent=parent,
        table=parent.parent is not None or kind.many,
        one=kind.one,
        many=kind.many,
        keys=keys,
        description=info.description or _doc(kind.model),
    )


# --- reading a workbook ----------------------------------------------------------------------


@dataclass(frozen=True)
class _Uncached:
    """A formula cell whose value Excel never stored (written by a program, never opened)."""

    formula: str


@dataclass(frozen=True)
class _ExcelError:
    """A cell whose stored value is an Excel error such as #DIV/0!."""

    code: str


@dataclass
class WorkbookInput:
    """A case workbook read into the mapping a YAML case file gives.

    Attributes
    ----------
    data : dict
        The case mapping, for :func:`~optimizer.case.load.parse_spec`.
    tables : dict of SeriesRef to pandas.DataFrame
        One text table (``timestamp`` and the column) per TimeSeries column, indexed by the
        worksheet row of each value, for :func:`~optimizer.case.load.prepare_case`.
    cells : dict of str to str
        Dotted schema path -> the cell it was read from, e.g. ``sites[0].interconnect_mw`` ->
        ``Sites!B2``.
    series_columns : dict of str to str
        ``TimeSeries:<column>`` (as series errors name it) -> the column's letter.
    """

    data: dict
    tables: dict[SeriesRef, pd.DataFrame]
    cells: dict[str, str]
    series_columns: dict[str, str]

    def locate(self, error: CaseError) -> CaseError:
        """The error with its field re-addressed to the worksheet cell, e.g. ``Fleet!B3 (fleet[1].model)``."""
        path, _, series = error.field.partition(" = ")
        letter = self.series_columns.get(series)
        if letter is not None:
            line = re.fullmatch(r"line (\d+)", error.row or "")
            # series checks report the row; only the value checks are about the value's cell
            column = letter if line is None or error.problem.startswith("value") else "A"
            cell = f"{SERIES_SHEET}!{column}{line[1] if line else 1}"
            return type(error)(f"{cell} ({path})", error.problem, error.fix)
        cell = _nearest_cell(self.cells, error.field)
        return type(error)(f"{cell} ({error.field})", error.problem, error.fix, error.row) if cell else error


def load_workbook_case(path: Path) -> Case:
    """Read, validate and prepare a case workbook, as :func:`~optimizer.case.load.load_case` does a YAML file.

    Parameters
    ----------
    path : pathlib.Path
        An ``.xlsx`` workbook laid out as :func:`write_template` writes it.

    Returns
    -------
    Case
        The validated case with per-period arrays.

    Raises
    ------
    CaseError
        Naming the sheet and cell, the schema field, and the fix. No model has been built.
    """
    book = read_workbook(path)
    try:
        spec = parse_spec(book.data)
        return prepare_case(spec, path.parent, source=path, tables=book.tables)
    except CaseError as error:
        raise book.locate(error) from None


def read_workbook(path: Path, root: type[BaseModel] = CaseSpec) -> WorkbookInput:
    """Read a case workbook's cells into the case mapping and its series tables (no schema checks yet).

    Parameters
    ----------
    path : pathlib.Path
        The ``.xlsx`` file. Other suffixes (``.xlsm``, ``.xls``...) are refused.
    root : type
        The case model whose layout the workbook follows.

    Returns
    -------
    WorkbookInput
        The case mapping, the series tables and the cell each field was read from.

    Raises
    ------
    CaseError
        For an unreadable file, a formula without a stored value, an Excel error value, an
        unknown sheet, column or field, or a row naming an entry that does not exist.
    """
    _check_workbook_path(path)
    grids = _read_grids(path)
    return _WorkbookReader(grids, layout(root)).read()


def _check_workbook_path(path: Path) -> None:
    if not path.exists():
        raise SchemaError(str(path), "case file not found", "check the path")
    if path.is_dir():
        raise SchemaError(str(path), "is a folder", "give the path of the case workbook inside it")
    suffix = path.suffix.lower()
    if suffix == ".xlsm":
        raise SchemaError(path.name, "macro-enabled workbooks (.xlsm) are not read: a case holds data, and macros are never run", _SAVE_AS_XLSX)
    if suffix != WORKBOOK_SUFFIX:
        raise SchemaError(path.name, f"{suffix or 'a file without a suffix'} is not an .xlsx workbook", _SAVE_AS_XLSX)


def _read_grids(path: Path) -> dict[str, list[list[Any]]]:
    """Every sheet's cell values, row by row; formulas without a stored value and Excel errors marked."""
    try:
        # cached values come only with data_only=True, and which cells hold formulas only without it
        with closing(openpyxl.load_workbook(path, read_only=True, data_only=True)) as cached, closing(
            openpyxl.load_workbook(path, read_only=True, data_only=False)
        ) as written:
            return {title: _grid(title, cached[title], written[title]) for title in cached.sheetnames}
    except CaseError:
        raise
    except Exception as exc:  # a damaged file surfaces as zip, XML, key or value errors from deep in openpyxl
        detail = " ".join(str(exc).split()) or type(exc).__name__
        raise SchemaError(path.name, f"not a readable .xlsx workbook ({detail})", _SAVE_AS_XLSX) from None


MAX_WORKBOOK_COLUMNS = 200
"""Widest sheet read [columns]: the case sheets have a few dozen. Rows are read only this wide,
so a cell far to the right (column XFD) cannot make every row 16,384 cells long."""


def _grid(title: str, values, formulas) -> list[list[Any]]:
    declared = values.max_column  # the sheet's own <dimension>, when its writer gave one
    if declared is not None and declared > MAX_WORKBOOK_COLUMNS:
        raise SchemaError(
            f"{title}!{get_column_letter(declared)}", f"the sheet has cells out to column {get_column_letter(declared)}",
            f"delete the cells to the right of the table (it is read up to column {get_column_letter(MAX_WORKBOOK_COLUMNS)})",
        )
    # then trust the cells, not the declared size (some writers understate it)
    values.reset_dimensions()
    formulas.reset_dimensions()
    width = MAX_WORKBOOK_COLUMNS + 1
    grid = []
    for value_row, formula_row in zip_longest(values.iter_rows(max_col=width), formulas.iter_rows(max_col=width), fillvalue=()):
        row = [_cell_value(value, formula) for value, formula in zip_longest(value_row, formula_row)]
        if len(row) == width and not _blank(row[-1]):
            cell = f"{title}!{get_column_letter(width)}{len(grid) + 1}"
            raise SchemaError(cell, f"a value beyond column {get_column_letter(MAX_WORKBOOK_COLUMNS)}", "delete the cells to the right of the table")
        grid.append(row[:MAX_WORKBOOK_COLUMNS])
    return grid


def _cell_value(value, formula) -> Any:
    cached = getattr(value, "value", None)
    if getattr(formula, "data_type", None) == "f" and cached in (None, ""):
        return _Uncached(str(formula.value))
    if getattr(value, "data_type", None) == "e":
        return _ExcelError(str(cached))
    return cached


class _WorkbookReader:
    """Turns the cell grids into the case mapping, recording where each field was read."""

    def __init__(self, grids: dict[str, list[list[Any]]], sheets: list[Sheet]):
        self.grids = grids
        self.sheets = sheets
        self.data: dict = {}
        self.cells: dict[str, str] = {}
        # per sheet: the identity of each entry (its keys, then its name or number) -> (entry, path)
        self.entries: dict[str, dict[tuple, tuple[dict, str]]] = {}
        self.series_names: list[str] = []
        self.sections: list[tuple[str, dict]] = []

    def read(self) -> WorkbookInput:
        self._check_sheet_names()
        tables, series_columns = self._read_series()
        for sheet in self.sheets:
            if sheet.table:
                self._read_table(sheet)
            else:
                self._read_fields(sheet)
        for section, values in self.sections:
            if values:  # an optional section is in the case when any of its values is given
                _set_dotted(self.data, section, values)
        return WorkbookInput(self.data, tables, self.cells, series_columns)

    def _check_sheet_names(self) -> None:
        known = [INSTRUCTIONS_SHEET] + [s.title for s in self.sheets] + [SERIES_SHEET]
        for title in self.grids:
            if title not in known:
                close = difflib.get_close_matches(title, known, n=1)
                hint = f"did you mean {close[0]}? " if close else ""
                raise SchemaError(title, f"unknown sheet {title!r}", f"{hint}rename or delete it; the sheets read are {', '.join(known)}")

    # the time series: one text table per column, as read_csv_table gives a CSV file

    def _read_series(self) -> tuple[dict[SeriesRef, pd.DataFrame], dict[str, str]]:
        rows = self.grids.get(SERIES_SHEET, [])
        if not rows:
            return {}, {}
        header = rows[0]
        first = _text(_checked(header[0], f"{SERIES_SHEET}!A1")) if header else ""
        if first.lower() != "timestamp":
            raise SchemaError(f"{SERIES_SHEET}!A1", f"the first column is headed {first!r}, not 'timestamp'", "head column A `timestamp`")
        stamps = [_stamp_text(row[0], f"{SERIES_SHEET}!A{r}") if row else "" for r, row in enumerate(rows[1:], start=2)]
        tables, columns = {}, {}
        for c, cell in enumerate(header[1:], start=1):
            letter = get_column_letter(c + 1)
            name = _header_name(_checked(cell, f"{SERIES_SHEET}!{letter}1"))
            if not name:
                self._no_values_under(rows, c, f"{SERIES_SHEET}!{letter}")
                continue
            if name in self.series_names:
                raise SchemaError(f"{SERIES_SHEET}!{letter}1", f"column {name!r} appears twice", "give each series column its own name")
            self.series_names.append(name)
            lines, texts, times = [], [], []
            for r, row in enumerate(rows[1:], start=2):
                value = row[c] if c < len(row) else None
                if _blank(value):  # a blank cell keeps the value above: step series need only their changes
                    continue
                lines.append(r)
                texts.append(_series_text(value, f"{SERIES_SHEET}!{letter}{r}"))
                times.append(stamps[r - 2])
            ref = SeriesRef(file=SERIES_SHEET, column=name)
            tables[ref] = pd.DataFrame({"timestamp": times, name: texts}, index=lines, dtype=str)
            columns[f"{SERIES_SHEET}:{name}"] = letter
        return tables, columns

    # Field/Value sheets

    def _read_fields(self, sheet: Sheet) -> None:
        section = sheet.attach
        rows = self.grids.get(sheet.title)
        if section:
            self.cells[section] = f"{sheet.title}!B2" if rows is not None else sheet.title
        columns = {c.name: c for c in sheet.columns}
        values = self.data if not section else {}
        seen: dict[str, int] = {}
        for r, row in enumerate((rows or [])[1:], start=2):
            name = _text(_checked(row[0], f"{sheet.title}!A{r}")) if row else ""
            value = row[1] if len(row) > 1 else None
            if not name:
                if not _blank(value):
                    raise SchemaError(
                        f"{sheet.title}!B{r}", "a value without a field name in column A", "name its field in column A, or clear the value"
                    )
                continue
            if name not in columns:
                raise _unknown(f"{sheet.title}!A{r}", "field", name, list(columns))
            if name in seen:
                raise SchemaError(f"{sheet.title}!A{r}", f"field {name!r} is already given on row {seen[name]}", "keep one row per field")
            seen[name] = r
            path = _join(section, name)
            self.cells[path] = f"{sheet.title}!B{r}"
            converted = self._convert(columns[name], value, self.cells[path], path)
            if converted is not _BLANK:
                _set_dotted(values, name, converted)
        if section:
            # attached once every sheet is read: a table nested in this section may still add to it
            self.sections.append((section, values))
        self.entries[sheet.title] = {(): (values, section)}

    # tables

    def _read_table(self, sheet: Sheet) -> None:
        rows = self.grids.get(sheet.title)
        if sheet.parent.parent is None:  # a whole list that is wrong (empty, or needing a section) is its sheet
            self.cells[sheet.attach] = f"{sheet.title}!A2" if rows is not None else sheet.title
        self.entries[sheet.title] = {}
        if not rows:  # a deleted sheet is an empty one
            return
        at = self._table_header(sheet, rows)
        parents = self.entries[sheet.parent.title]
        groups: dict[tuple, list[tuple[int, list]]] = {}
        for r, row in enumerate(rows[1:], start=2):
            if all(_blank(v) for v in row):
                continue
            identity = tuple(
                self._key(target, row[c] if c < len(row) else None, f"{sheet.title}!{get_column_letter(c + 1)}{r}")
                for c, target in sorted(at.items())
                if isinstance(target, Key)
            )
            if identity not in parents:
                c = max(c for c, target in at.items() if isinstance(target, Key))
                raise self._unknown_parent(sheet, identity, f"{sheet.title}!{get_column_letter(c + 1)}{r}")
            groups.setdefault(identity, []).append((r, row))
        index = self.entries[sheet.title]
        for identity, members in groups.items():
            owner, owner_path = parents[identity]
            if not sheet.many and len(members) > 1:
                raise SchemaError(
                    f"{sheet.title}!A{members[1][0]}",
                    f"rows {members[0][0]} and {members[1][0]} are for the same {sheet.keys[-1].header}",
                    f"keep one row per {sheet.keys[-1].header}: this section is given once",
                )
            as_list = sheet.many and not (sheet.one and len(members) == 1)
            base = _join(owner_path, sheet.attach)
            items = []
            for j, (r, row) in enumerate(members):
                path = f"{base}[{j}]" if as_list else base
                self.cells[path] = f"{sheet.title}!A{r}"
                entry: dict = {}
                for c, column in at.items():
                    if isinstance(column, Key):
                        continue
                    cell = self.cells[_join(path, column.name)] = f"{sheet.title}!{get_column_letter(c + 1)}{r}"
                    converted = self._convert(column, row[c] if c < len(row) else None, cell, _join(path, column.name))
                    if converted is not _BLANK:
                        _set_dotted(entry, column.name, converted)
                own = ((entry.get("name") if sheet.by_name else j + 1),) if sheet.many else ()
                index[identity + own] = (entry, path)
                items.append(entry)
            _set_dotted(owner, sheet.attach, items if as_list else items[0])

    def _table_header(self, sheet: Sheet, rows: list[list[Any]]) -> dict[int, Key | Column]:
        """Column position -> the key or field it holds, from the header row."""
        keys = {k.header: k for k in sheet.keys}
        columns = {c.name: c for c in sheet.columns}
        at: dict[int, Key | Column] = {}
        for c, cell in enumerate(rows[0]):
            where = f"{sheet.title}!{get_column_letter(c + 1)}"
            name = _header_name(_checked(cell, f"{where}1"))
            if not name:
                self._no_values_under(rows, c, where)
                continue
            found = keys.get(name) or columns.get(name)
            if found is None:
                raise _unknown(f"{where}1", "column", name, list(keys) + list(columns))
            if any(found is other for other in at.values()):
                raise SchemaError(f"{where}1", f"column {name!r} appears twice", "keep one column per field")
            at[c] = found
        for key in sheet.keys:
            if not any(key is target for target in at.values()):
                raise SchemaError(
                    f"{sheet.title}!A1", f"no {key.header!r} column", f"add a `{key.header}` column naming the {key.sheet.title} entry of each row"
                )
        return at

    def _key(self, key: Key, value, cell: str):
        if _blank(_checked(value, cell)):
            raise SchemaError(cell, f"the {key.header} is blank", f"name the {key.sheet.title} entry this row belongs to")
        if key.by_name:
            return _text(value)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and float(value).is_integer() and value >= 1:
            return int(value)
        raise SchemaError(
            cell, f"{key.header} {value!r} is not an entry number", f"give the number of the {key.sheet.title} entry (1 = the first entry)"
        )

    def _unknown_parent(self, sheet: Sheet, identity: tuple, cell: str) -> CaseError:
        key = sheet.keys[-1]
        if sheet.parent is not key.sheet and identity in self.entries[key.sheet.title]:
            # e.g. a FourCPCandidates row for a site that has no FourCP row
            return SchemaError(
                cell,
                f"{sheet.parent.title} has no row for {key.header} {identity[-1]!r}",
                f"add that row on the {sheet.parent.title} sheet, or remove this one",
            )
        known = [p[-1] for p in self.entries[key.sheet.title] if p[:-1] == identity[:-1]]
        return SchemaError(cell, f"unknown {key.header} {identity[-1]!r}", f"use one of {known} (from the {key.sheet.title} sheet)")

    def _convert(self, column: Column, value, cell: str, path: str):
        """A cell value as the YAML file would give it (``_BLANK`` when empty)."""
        if _blank(value):
            return _BLANK
        where = f"{cell} ({path})"
        _checked(value, where)
        kind = column.type
        if kind.series and isinstance(value, str):
            text = value.strip()
            if text.lower().startswith(SERIES_PREFIX):
                name = text[len(SERIES_PREFIX) :].strip()
                if name not in self.series_names:
                    raise SchemaError(where, f"no {SERIES_SHEET} column {name!r}", f"use one of {self.series_names}, or type a number")
                return {"file": SERIES_SHEET, "column": name}
            if not _is_number(text):
                raise SchemaError(
                    where, f"{text!r} is neither a number nor a series", f"type a number, or `{SERIES_PREFIX} <column>` naming a {SERIES_SHEET} column"
                )
        if kind.is_list:
            items = _split_list(value) if isinstance(value, str) else [value]
            return [_scalar(kind.scalar, item) for item in items]
        return _scalar(kind.scalar, value)

    def _no_values_under(self, rows: list[list[Any]], c: int, where: str) -> None:
        for r, row in enumerate(rows[1:], start=2):
            if c < len(row) and not _blank(row[c]):
                raise SchemaError(f"{where}{r}", "a value in a column without a header", "head the column with its field name, or clear it")


class _Blank:
    """No value: the field is left out of the mapping, so the schema default applies."""


_BLANK = _Blank()


def _unknown(cell: str, what: str, name: str, allowed: list[str]) -> CaseError:
    close = difflib.get_close_matches(name, allowed, n=1)
    hint = f"did you mean {close[0]}? " if close else ""
    return SchemaError(cell, f"unknown {what} {name!r}", f"{hint}correct it or remove it; allowed here: {', '.join(allowed)}")


def _checked(value, where: str):
    """The value, unless it is a formula without a stored value or an Excel error."""
    if isinstance(value, _Uncached):
        raise SchemaError(
            where, f"the formula {value.formula} has no stored value", "type the value, or open and save the file in Excel so its value is stored"
        )
    if isinstance(value, _ExcelError):
        raise SchemaError(where, f"the cell holds the Excel error {value.code}", "correct the formula or type the value")
    return value


def _scalar(target, value):
    """Excel's types to the schema's: date cells to dates, numbers typed in text fields to text."""
    if isinstance(value, str):
        return value.strip()
    if target is dt.date and isinstance(value, dt.datetime):
        return value.date()
    if (target is str or get_origin(target) is Literal) and isinstance(value, (int, float)) and not isinstance(value, bool):
        return _number_text(value)
    return value


def _series_text(value, cell: str) -> str:
    """A TimeSeries value as the text a CSV file would hold (series checks parse and name it)."""
    _checked(value, cell)
    if isinstance(value, float):
        return repr(value)
    return str(value).strip()


def _stamp_text(value, cell: str) -> str:
    """A timestamp cell as ISO 8601 text: Excel date-times are naive, so local to the horizon's zone."""
    if _blank(value):
        return ""
    _checked(value, cell)
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return _number_text(value) if isinstance(value, (int, float)) else str(value).strip()


# --- writing the template --------------------------------------------------------------------


def write_template(path: Path, source: Path) -> Path:
    """Write a fillable case workbook holding a case's values and series.

    Parameters
    ----------
    path : pathlib.Path
        The workbook to write (``.xlsx``), atomically.
    source : pathlib.Path
        A case (``.yaml`` with its CSV series, or a case workbook); it is fully validated first.

    Returns
    -------
    pathlib.Path
        ``path``.

    Raises
    ------
    CaseError
        If ``path`` is not an ``.xlsx`` file or the source case is invalid.
    """
    if path.suffix.lower() != WORKBOOK_SUFFIX:
        raise SchemaError(str(path), "the template must be written as an .xlsx file", f"name it e.g. {path.with_suffix(WORKBOOK_SUFFIX).name}")
    spec = load_case(source).spec
    book = template_workbook(spec, case_series(spec, source))
    return atomic_write(path, book.save)


def case_series(spec: CaseSpec, source: Path) -> dict[SeriesRef, StepSeries]:
    """Every series a case refers to, read from its CSV files or from its workbook's TimeSeries sheet."""
    given = read_workbook(source, type(spec)).tables if source.suffix.lower() == WORKBOOK_SUFFIX else None
    files: dict[Path, pd.DataFrame] = {}
    series: dict[SeriesRef, StepSeries] = {}
    for path, _, ref in _series_fields(spec):
        where = f"{path} = {ref.file}:{ref.column}"
        if ref in series:
            continue
        if given is not None:
            table = given[ref]
        else:
            csv_path = source.parent / ref.file
            if csv_path not in files:
                files[csv_path] = read_csv_table(csv_path, where)
            table = files[csv_path]
        series[ref] = read_step_series(table, ref.column, spec.horizon.timezone, where)
    return series


def template_workbook(spec: CaseSpec, series: dict[SeriesRef, StepSeries]) -> openpyxl.Workbook:
    """The case workbook for a case: Instructions, one sheet per schema section, TimeSeries.

    Parameters
    ----------
    spec : CaseSpec
        The case whose values fill the sheets; its class gives the layout.
    series : dict of SeriesRef to StepSeries
        The series it refers to (see :func:`case_series`).

    Returns
    -------
    openpyxl.Workbook
        The workbook, not yet saved.
    """
    sheets = layout(type(spec))
    headers = _series_headers(spec)
    book = openpyxl.Workbook()
    _instructions_sheet(book.active, sheets)
    names = _name_ranges(sheets)
    entries: dict[str, list[tuple[tuple, Any]]] = {}
    for sheet in sheets:
        entries[sheet.title] = _entries_of(sheet, entries, spec)
        target = book.create_sheet(sheet.title)
        if sheet.table:
            _write_table(target, sheet, entries[sheet.title], headers, names)
        else:
            _write_fields(target, sheet, entries[sheet.title], headers, names)
    _write_series(book.create_sheet(SERIES_SHEET), spec, series, headers)
    return book


def _entries_of(sheet: Sheet, entries: dict, spec: CaseSpec) -> list[tuple[tuple, Any]]:
    """(identity of the parent entry, entry) for each entry of ``sheet``, parents in order."""
    if sheet.parent is None:
        return [((), spec)]
    found = []
    for parent_identity, owner in entries[sheet.parent.title]:
        value = _get_dotted(owner, sheet.attach)
        if value is None and not sheet.table:
            found.append((parent_identity, None))  # an absent section still lists its fields
        for j, item in enumerate(value if isinstance(value, list) else [] if value is None else [value]):
            own = ((item.name if sheet.by_name else j + 1),) if sheet.many else ()
            found.append((parent_identity + own, item))
    return found


def _entry_keys(sheet: Sheet, identity: tuple) -> tuple:
    """The key cells of an entry: the identity of its parent (the entry's own name is a column)."""
    return identity[: len(sheet.keys)]


def _write_fields(target, sheet: Sheet, entries: list, headers: dict, names: dict) -> None:
    _header_row(target, _FIELD_SHEET_HEADER)
    _, entry = entries[0]
    for r, column in enumerate(sheet.columns, start=2):
        value = _cell_for(column, _get_dotted(entry, column.name), headers)
        target.cell(r, 1, column.name).font = Font(bold=column.required)
        _put(target.cell(r, 2), value)
        target.cell(r, 3, column.unit)
        target.cell(r, 4, column.default_text)
        target.cell(r, 5, column.info.description or "").alignment = Alignment(wrap_text=True, vertical="top")
        _validate(target, column, f"B{r}", names)
    target.freeze_panes = "B2"
    widths = [max(len(c.name) for c in sheet.columns) + 2 if sheet.columns else 12, 26, 14, 14, 90]
    for c, width in enumerate(widths, start=1):
        target.column_dimensions[get_column_letter(c)].width = width


def _write_table(target, sheet: Sheet, entries: list, headers: dict, names: dict) -> None:
    _header_row(target, sheet.headers)
    for c, key in enumerate(sheet.keys, start=1):
        header = target.cell(1, c)
        header.fill = _REQUIRED_FILL
        what = "name" if key.by_name else "entry number (1 = the first entry)"
        header.comment = Comment(f"Required. The {what} of the {key.sheet.title} entry this row belongs to.", "hashplan", width=300, height=80)
        if key.by_name:
            _validate_list(target, names.get(key.sheet.title), f"{get_column_letter(c)}2:{get_column_letter(c)}{VALIDATED_ROWS}", key.header)
    for c, column in enumerate(sheet.columns, start=len(sheet.keys) + 1):
        header = target.cell(1, c)
        if column.required:
            header.fill = _REQUIRED_FILL
        default = column.default_text
        prefix = "Required. " if column.required else (f"Default: {default}. " if default else "Optional. ")
        header.comment = Comment(prefix + (column.info.description or ""), "hashplan", width=360, height=110)
        letter = get_column_letter(c)
        _validate(target, column, f"{letter}2:{letter}{VALIDATED_ROWS}", names)
    for r, (identity, entry) in enumerate(entries, start=2):
        for c, key_value in enumerate(_entry_keys(sheet, identity), start=1):
            target.cell(r, c, key_value)
        for c, column in enumerate(sheet.columns, start=len(sheet.keys) + 1):
            _put(target.cell(r, c), _cell_for(column, _get_dotted(entry, column.name), headers))
    target.freeze_panes = target.cell(2, len(sheet.keys) + 2 if sheet.columns else 1).coordinate
    _fit_columns(target)


def _write_series(target, spec: CaseSpec, series: dict[SeriesRef, StepSeries], headers: dict[SeriesRef, str]) -> None:
    """The TimeSeries sheet: the union of all series' timestamps, each column filled at its own."""
    units = {}
    users: dict[SeriesRef, list[str]] = {}
    for path, info, ref in _series_fields(spec):
        unit = Column(path, info, field_type(info.annotation), False).unit
        units.setdefault(ref, unit)
        users.setdefault(ref, []).append(f"{path} [{unit}]" if unit else path)
    refs = list(series)
    _header_row(target, ["timestamp"] + [f"{headers[ref]} [{units[ref]}]" if units.get(ref) else headers[ref] for ref in refs])
    target.cell(1, 1).comment = Comment(
        "Date-times are read in the horizon's time zone; text with a UTC offset (2023-11-05T01:00-06:00) is read as given.",
        "hashplan",
        width=320,
        height=80,
    )
    for c, ref in enumerate(refs, start=2):
        target.cell(1, c).comment = Comment("Used by " + ", ".join(users.get(ref, [])), "hashplan", width=320, height=80)
    if refs:
        stamps = pd.DatetimeIndex(sorted(set().union(*(set(series[ref].stamps_utc) for ref in refs))))
        frame = pd.DataFrame({ref: pd.Series(series[ref].values, index=series[ref].stamps_utc) for ref in refs}, index=stamps)
        labels = _stamp_labels(stamps, spec.horizon.timezone)
        for label, row in zip(labels, frame.itertuples(index=False)):
            target.append([label] + [None if np.isnan(v) else float(v) for v in row])
        if labels and isinstance(labels[0], dt.datetime):
            for (cell,) in target.iter_rows(min_row=2, max_col=1):
                cell.number_format = _DATETIME_FORMAT
    target.freeze_panes = "B2"
    target.column_dimensions["A"].width = 26
    for c, ref in enumerate(refs, start=2):
        target.column_dimensions[get_column_letter(c)].width = max(14, len(str(target.cell(1, c).value)) + 2)


def _stamp_labels(stamps: pd.DatetimeIndex, timezone: str) -> list:
    """Local Excel date-times when each reads back as the same instant, else ISO text with offsets.

    Excel date-times carry no zone; around a fall-back change the local hour repeats, and
    then only text with its UTC offset tells the two apart.
    """
    local = stamps.tz_convert(timezone)
    naive = local.tz_localize(None)
    back = naive.tz_localize(timezone, ambiguous=np.ones(len(naive), dtype=bool), nonexistent="NaT")
    if naive.is_unique and not back.isna().any() and (back == stamps).all():
        return [stamp.to_pydatetime() for stamp in naive]
    return [_iso(stamp.to_pydatetime()) for stamp in local]


def _series_headers(spec: CaseSpec) -> dict[SeriesRef, str]:
    """TimeSeries column names: the CSV column, prefixed by its file's stem when two files share it."""
    refs = list(dict.fromkeys(ref for _, _, ref in _series_fields(spec)))
    columns = [ref.column for ref in refs]
    return {ref: ref.column if columns.count(ref.column) == 1 else f"{Path(ref.file).stem}.{ref.column}" for ref in refs}


def _series_fields(value: Any, path: str = "") -> Iterator[tuple[str, FieldInfo, SeriesRef]]:
    """(dotted path, field, reference) for every series a case refers to, in schema order."""
    if isinstance(value, list):
        for i, item in enumerate(value):
            yield from _series_fields(item, f"{path}[{i}]")
    elif isinstance(value, BaseModel) and not isinstance(value, SeriesRef):
        for name, info in type(value).model_fields.items():
            item = getattr(value, name)
            if isinstance(item, SeriesRef):
                yield _join(path, name), info, item
            else:
                yield from _series_fields(item, _join(path, name))


def _cell_for(column: Column, value: Any, headers: dict[SeriesRef, str]) -> Any:
    """A schema value as a cell value: numbers and date-times as themselves, lists as text."""
    if value is None:
        return None
    if isinstance(value, SeriesRef):
        return f"{SERIES_PREFIX} {headers[value]}"
    if isinstance(value, list):
        # an empty list that is not the default (e.g. no obligation hours) must stay visible
        default = column.info.get_default(call_default_factory=True)
        return "[]" if not value and default != [] else _list_text(value) or None
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return _iso(value)  # Excel date-times have no zone
    return value


def _put(cell, value) -> None:
    cell.value = value
    if isinstance(value, dt.datetime):
        cell.number_format = _DATETIME_FORMAT
    elif isinstance(value, dt.date):
        cell.number_format = _DATE_FORMAT


def _header_row(target, labels, row: int = 1) -> None:
    for c, label in enumerate(labels, start=1):
        cell = target.cell(row, c, label)
        cell.font, cell.fill = _HEADER_FONT, _HEADER_FILL


def _fit_columns(target) -> None:
    for column in target.iter_cols(max_row=min(target.max_row, 60)):
        width = max((len(_display(cell.value)) for cell in column), default=8)
        target.column_dimensions[column[0].column_letter].width = max(10, min(width + 2, 48))


def _display(value) -> str:
    """The text a cell shows, for its column's width."""
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    return "" if value is None else str(value)


def _instructions_sheet(target, sheets: list[Sheet]) -> None:
    target.title = INSTRUCTIONS_SHEET
    target["A1"] = "hashplan case workbook"
    target["A1"].font = _TITLE_FONT
    lines = [
        "Fill in the sheets, then check the case with `hashplan validate case.xlsx` and plan it with `hashplan run case.xlsx`.",
        "The workbook is read as data: the values Excel stored, never formulas re-computed or macros run. "
        "A formula is fine once Excel has saved its value; save the file as an Excel Workbook (.xlsx), not .xlsm.",
        "Field sheets (Case, Horizon, Network, ...): one field per row; type the Value. The Default column says which fields are required; "
        "a blank Value takes the default. An optional section (Treasury, Opex, ...) is in the case when any of its values is filled in.",
        "Table sheets (MinerModels, Sites, Fleet, ...): one row per entry, one column per field, headed `field [unit]`. "
        "Hover over a header for its description. Dark red headers are required. Blank cells take the default.",
        "Nested sheets (Modes, FixedBlock, FourCP, DemandResponse, AntiCycling, ...) belong to an entry of another sheet: "
        "their first column (model, site) names that entry. A section given once per entry (FourCP, AntiCycling) has at most one row per entry; "
        "FixedBlock takes one row or several.",
        "Lists (hours, dates, intervals) go in one cell, comma-separated, e.g. `22, 23, 0, 1`; type `[]` for an empty list.",
        "Time series: a field that takes a number or a series holds a number, or `series: <column>` naming a column of the TimeSeries sheet. "
        "TimeSeries has a `timestamp` column, then one column per series. "
        "Each value holds from its timestamp until the next value in its column, "
        "so a blank cell keeps the value above (a daily BTC price beside hourly power prices needs one value a day). "
        "The last value holds for one more step of its column. A coarser series is held, a finer one averaged; each must cover the horizon.",
        "Times: date-time cells are local times in the horizon's time zone. "
        "Where a local time is ambiguous (the repeated hour when clocks fall back), "
        "write ISO 8601 text with its UTC offset, e.g. 2023-11-05T01:00-06:00, in every row of the column.",
        "Units: power in MW at sites and W per machine, energy in MWh, hashrate in TH/s per machine and EH/s for the network, money in USD, "
        "BTC in BTC, fractions as decimals (0.02 = 2%).",
        "Errors name the sheet, the cell and the schema field, e.g. `Sites!B2 (sites[0].interconnect_mw): must be > 0 (got -5). Fix: ...`.",
    ]
    for r, line in enumerate(lines, start=3):
        target.cell(r, 1, line).alignment = Alignment(wrap_text=True, vertical="top")
        target.merge_cells(start_row=r, start_column=1, end_row=r, end_column=5)
        target.row_dimensions[r].height = 15 * (1 + len(line) // 150)
    r = len(lines) + 4
    _header_row(target, ("Sheet", "Column / field", "Unit", "Default", "Description"), row=r)
    for sheet in sheets:
        r += 1
        kind = "table: one row per entry" if sheet.table else "fields"
        target.cell(r, 1, sheet.title).font = Font(bold=True)
        target.cell(r, 5, f"{sheet.description} ({kind})")
        for key in sheet.keys:
            r += 1
            target.cell(r, 1, sheet.title)
            target.cell(r, 2, key.header)
            target.cell(r, 4, "required")
            target.cell(r, 5, f"The {'name' if key.by_name else 'entry number'} of the {key.sheet.title} entry the row belongs to")
        for column in sheet.columns:
            r += 1
            for c, value in enumerate((sheet.title, column.name, column.unit, column.default_text, column.info.description or ""), start=1):
                target.cell(r, c, value)
    r += 1
    target.cell(r, 1, SERIES_SHEET).font = Font(bold=True)
    target.cell(r, 5, "Time series: `timestamp`, then one column per series, referred to as `series: <column>`")
    for c, width in enumerate((18, 36, 14, 16, 100), start=1):
        target.column_dimensions[get_column_letter(c)].width = width


# --- data validation -------------------------------------------------------------------------


def _name_ranges(sheets: list[Sheet]) -> dict[str, str]:
    """The absolute range of each named table's name column, for drop-downs of names.

    Keyed by sheet title, and also by field name for the top-level tables, which the schema
    refers to in descriptions such as "Site name (from `sites`)".
    """
    ranges = {}
    for sheet in sheets:
        if sheet.table and sheet.by_name:
            letter = get_column_letter(len(sheet.keys) + [c.name for c in sheet.columns].index("name") + 1)
            ranges[sheet.title] = f"'{sheet.title}'!${letter}$2:${letter}${VALIDATED_ROWS}"
            if sheet.parent is not None and sheet.parent.parent is None:
                ranges[f"`{sheet.attach}`"] = ranges[sheet.title]
    return ranges


def _validate(target, column: Column, cells: str, names: dict[str, str]) -> None:
    """A drop-down for names and choices, a range check for bounded numbers."""
    kind = column.type
    referred = re.search(r"\(from (`\w+`)\)", column.info.description or "")
    if referred and kind.scalar is str and not kind.is_list:
        _validate_list(target, names.get(referred[1]), cells, column.name)
        return
    if get_origin(kind.scalar) is Literal and not kind.is_list:
        choices = ",".join(str(choice) for choice in get_args(kind.scalar))
        _validate_list(target, f'"{choices}"', cells, column.name)
        return
    if kind.is_list or kind.scalar not in (int, float):
        return
    first = cells.split(":")[0]
    limits = {"gt": ">", "ge": ">=", "lt": "<", "le": "<="}
    bounds = _bounds(column.info)
    tests = [f"{first}{limits[op]}{value:g}" for op, value in bounds.items()]
    if kind.scalar is int:
        tests.insert(0, f"{first}=INT({first})")
    if not tests:
        return
    number = f"AND(ISNUMBER({first}),{','.join(tests)})"
    rule = f"OR(ISTEXT({first}),{number})" if kind.series else number
    wanted = " and ".join(f"{limits[op]} {value:g}" for op, value in bounds.items())
    what = "a whole number" if kind.scalar is int else "a number"
    message = f"{column.name}: {what}{' ' + wanted if wanted else ''}{f' [{column.unit}]' if column.unit else ''}"
    if kind.series:
        message += f", or {SERIES_PREFIX} <column>"
    rule_check = DataValidation(type="custom", formula1=rule, allow_blank=True, showErrorMessage=True, errorTitle="hashplan", error=message)
    rule_check.add(cells)
    target.add_data_validation(rule_check)


def _validate_list(target, source: str | None, cells: str, name: str) -> None:
    if source is None:
        return
    choice = DataValidation(
        type="list", formula1=source, allow_blank=True, showErrorMessage=True, errorTitle="hashplan", error=f"{name}: pick one from the list"
    )
    choice.add(cells)
    target.add_data_validation(choice)


def _bounds(info: FieldInfo) -> dict[str, float]:
    """The gt/ge/lt/le bounds of a number field, also when they sit inside a number-or-series union."""
    found = list(info.metadata)
    for arg in _union_args(info.annotation, unwrap=False):
        if get_origin(arg) is Annotated:
            for meta in get_args(arg)[1:]:
                found += getattr(meta, "metadata", [meta])
    bounds = {}
    for meta in found:
        for op in ("gt", "ge", "lt", "le"):
            value = getattr(meta, op, None)
            if isinstance(value, (int, float)):
                bounds[op] = value
    return bounds


# --- small helpers ---------------------------------------------------------------------------


def _union_args(annotation: Any, unwrap: bool = True) -> list:
    if unwrap:
        annotation = _unwrap(annotation)
    return list(get_args(annotation)) if get_origin(annotation) in (typing.Union, types.UnionType) else [annotation]


def _unwrap(annotation: Any) -> Any:
    return get_args(annotation)[0] if get_origin(annotation) is Annotated else annotation


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _camel(name: str) -> str:
    return "".join(_ACRONYMS.get(token, token.capitalize()) for token in name.split("_"))


def _singular(name: str) -> str:
    """``sites`` -> ``site``, ``miner_models`` -> ``model``; a name not in the plural is kept."""
    if not name.endswith("s"):
        return name
    return name.rsplit("_", 1)[-1][:-1]


def _doc(model: type[BaseModel]) -> str:
    return (model.__doc__ or "").strip().split("\n")[0]


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _set_dotted(target: dict, dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    for part in parents:
        target = target.setdefault(part, {})
    target[last] = value


def _get_dotted(source: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if source is None:
            return None
        source = getattr(source, part)
    return source


def _nearest_cell(cells: dict[str, str], path: str) -> str | None:
    """The cell of ``path`` or, for an error inside a list cell or about a whole entry, of its nearest parent."""
    while path:
        if path in cells:
            return cells[path]
        path = re.sub(r"(\[\d+\]|\.?[^.\[\]]+)$", "", path)
    return None


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _text(value: Any) -> str:
    if _blank(value):
        return ""
    return _number_text(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else str(value).strip()


def _header_name(value: Any) -> str:
    """The field name in a header such as ``interconnect_mw [MW]``."""
    return _text(value).split(" [")[0].strip()


def _number_text(value: int | float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _split_list(text: str) -> list[str]:
    text = text.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    return [item.strip() for item in text.split(",") if item.strip()]


def _list_text(values: list) -> str:
    return ", ".join(_iso(v) if isinstance(v, (dt.datetime, dt.date)) else str(v) for v in values)


def _iso(value: dt.date) -> str:
    """ISO 8601 to the minute when the seconds are zero (2023-06-27T17:00-05:00)."""
    if isinstance(value, dt.datetime) and value.second == 0 and value.microsecond == 0:
        return value.isoformat(timespec="minutes")
    return value.isoformat()
