"""Time series from CSV files: read, validate and average onto the dispatch periods."""

from __future__ import annotations

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
    """

    stamps_utc: pd.DatetimeIndex
    values: np.ndarray
    end_utc: pd.Timestamp


def read_csv_table(path: Path, field: str) -> pd.DataFrame:
    """Read a CSV file as text columns (values are checked one by one afterwards)."""
    try:
        return pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True, encoding="utf-8-sig")
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise SeriesFileError(field, f"{path.name} is not a readable CSV file ({exc})".replace("\n", " "), "save it as UTF-8 CSV with a header row") from None


def parse_timestamps(raw: pd.Series, timezone: str, field: str) -> pd.DatetimeIndex:
    """Parse ISO 8601 timestamps to UTC; naive ones are local to ``timezone``.

    A naive timestamp in the fall-back hour that appears once is read as its first
    (daylight-time) occurrence: its value then holds through both hours, as a step series does.
    """
    checks.check_timestamps_parse(raw, field)
    checks.check_offsets_consistent(raw, field)
    if checks.has_utc_offset(raw.iloc[0]):
        return pd.DatetimeIndex(pd.to_datetime(raw, format="ISO8601", utc=True))
    naive = pd.DatetimeIndex(pd.to_datetime(raw, format="ISO8601"))
    checks.check_local_times_exist(naive, timezone, field)
    checks.check_no_repeated_local_times(naive, timezone, field)
    first_occurrence = np.ones(len(naive), dtype=bool)
    return naive.tz_localize(timezone, ambiguous=first_occurrence).tz_convert("UTC")


def read_step_series(table: pd.DataFrame, column: str, timezone: str, field: str) -> StepSeries:
    """Validate one column of a CSV table and return it as a step series."""
    checks.check_series_header(table, column, field)
    if table.empty:
        raise SeriesFileError(field, "the file has a header but no rows", "add the time series rows")
    stamps = parse_timestamps(table.iloc[:, 0].str.strip(), timezone, field)
    checks.check_timestamps_unique(stamps, field)
    checks.check_timestamps_sorted(stamps, field)
    checks.check_values_finite(table[column].str.strip(), field)
    values = pd.to_numeric(table[column].str.strip()).to_numpy(dtype=float)
    step = stamps[-1] - stamps[-2] if len(stamps) > 1 else pd.Timedelta(0)
    return StepSeries(stamps_utc=stamps, values=values, end_utc=stamps[-1] + step)


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
    end = max(series.end_utc, boundaries_utc[-1]) if len(series.values) == 1 else series.end_utc
    knots = np.append((series.stamps_utc - origin).total_seconds().to_numpy(), (end - origin).total_seconds())
    integral = np.concatenate(([0.0], np.cumsum(series.values * np.diff(knots))))
    at = (boundaries_utc - origin).total_seconds().to_numpy()
    return np.diff(np.interp(at, knots, integral)) / np.diff(at)
