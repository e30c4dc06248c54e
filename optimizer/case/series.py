"""Time series from CSV files: read, validate and average onto the dispatch periods."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from optimizer.case import checks
from optimizer.case.errors import SeriesFileError


@dataclass(frozen=True)
class StepSeries:
    """A series read from CSV: each value holds from its timestamp to the next.

    Attributes
    ----------
    stamps_utc : pandas.DatetimeIndex
        Instants at which each value starts to hold [UTC].
    values : numpy.ndarray
        The values [unit of the column].
    end_utc : pandas.Timestamp
        Until when the last value holds: one step after the last timestamp [UTC].
    lines : numpy.ndarray
        The file line of each value, for error messages.
    """

    stamps_utc: pd.DatetimeIndex
    values: np.ndarray
    end_utc: pd.Timestamp
    lines: np.ndarray


def read_csv_table(path: Path, field: str) -> pd.DataFrame:
    """Read a CSV file as text columns indexed by file line number.

    Blank lines are skipped; a row may end in empty fields beyond the header (a trailing
    comma), but a row with more values than the header has is an error, so no value is ever
    dropped silently. Values are checked one by one afterwards, naming the line.
    """
    checks.check_file_size(path, checks.MAX_SERIES_FILE_BYTES, field)
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle, skipinitialspace=True)
            header = next(reader, None)
            if not header:
                raise SeriesFileError(field, f"{path.name} is empty", "write a header row `timestamp,<column>` and the series rows")
            lines, rows = [], []
            first_line = reader.line_num + 1
            for row in reader:
                # a row is named by the line it starts on (a quoted field may span lines)
                starts, first_line = first_line, reader.line_num + 1
                if not any(cell.strip() for cell in row):
                    continue
                if len(row) > len(header):
                    if any(cell.strip() for cell in row[len(header) :]):
                        raise SeriesFileError(
                            field,
                            f"{path.name} has {len(row)} values on this line but {len(header)} columns in its header",
                            "remove the extra values or name their column in the header",
                            row=f"line {starts}",
                        )
                    row = row[: len(header)]
                lines.append(starts)
                rows.append(row + [""] * (len(header) - len(row)))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise SeriesFileError(field, f"{path.name} is not a readable UTF-8 CSV file ({exc})", "save it as UTF-8 CSV with a header row") from None
    return pd.DataFrame(rows, columns=[name.strip() for name in header], index=lines, dtype=str)


def parse_timestamps(raw: pd.Series, timezone: str, field: str) -> pd.DatetimeIndex:
    """Parse ISO 8601 timestamps to UTC; naive ones are local to ``timezone``.

    A naive timestamp in the fall-back hour that appears once is read as its first
    (daylight-time) occurrence: its value then holds through both hours, as a step series does.
    """
    checks.check_timestamps_parse(raw, field)
    offsets = raw.map(checks.has_utc_offset).to_numpy(dtype=bool)
    checks.check_offsets_consistent(raw, offsets, field)
    if offsets[0]:
        return pd.DatetimeIndex(pd.to_datetime(raw, format="ISO8601", utc=True))
    naive = pd.DatetimeIndex(pd.to_datetime(raw, format="ISO8601"))
    checks.check_local_times_exist(naive, raw, timezone, field)
    checks.check_no_repeated_local_times(naive, raw, timezone, field)
    first_occurrence = np.ones(len(naive), dtype=bool)
    return naive.tz_localize(timezone, ambiguous=first_occurrence).tz_convert("UTC")


def read_step_series(table: pd.DataFrame, column: str, timezone: str, field: str) -> StepSeries:
    """Validate one column of a CSV table and return it as a step series."""
    checks.check_series_header(table, column, field)
    checks.check_series_has_rows(table, field)
    raw = table.iloc[:, 0].str.strip()
    checks.check_at_least_two_rows(raw, field)
    stamps = parse_timestamps(raw, timezone, field)
    checks.check_timestamps_unique(stamps, raw, field)
    checks.check_timestamps_sorted(stamps, raw, field)
    checks.check_no_gaps(stamps, raw, timezone, field)
    checks.check_values_finite(table[column].str.strip(), field)
    values = pd.to_numeric(table[column].str.strip()).to_numpy(dtype=float)
    return StepSeries(stamps_utc=stamps, values=values, end_utc=stamps[-1] + (stamps[-1] - stamps[-2]), lines=table.index.to_numpy())


def period_average(series: StepSeries, boundaries_utc: pd.DatetimeIndex) -> np.ndarray:
    """Time-weighted mean of a step series over each period.

    A coarser series is held constant over the periods it spans; a finer one is averaged.
    The integral of a step function is piecewise linear between its timestamps, so linear
    interpolation of the cumulative integral at the period boundaries is exact.

    Parameters
    ----------
    series : StepSeries
        The series, covering the boundaries.
    boundaries_utc : pandas.DatetimeIndex
        Period boundaries, n + 1 of them for n periods [UTC].

    Returns
    -------
    numpy.ndarray
        One mean value per period [unit of the series].
    """
    origin = boundaries_utc[0]
    knots = np.append((series.stamps_utc - origin).total_seconds().to_numpy(), (series.end_utc - origin).total_seconds())
    integral = np.concatenate(([0.0], np.cumsum(series.values * np.diff(knots))))
    at = (boundaries_utc - origin).total_seconds().to_numpy()
    return np.diff(np.interp(at, knots, integral)) / np.diff(at)
