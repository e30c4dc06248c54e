"""Typed input errors: each names the field (and CSV row where relevant) and the fix."""

from __future__ import annotations


class CaseError(ValueError):
    """A case that cannot be planned, explained in one line.

    Parameters
    ----------
    field : str
        Dotted path of the offending input, e.g. ``sites[0].interconnect_mw`` or
        ``ercot.csv:price``.
    problem : str
        What is wrong, with the offending value.
    fix : str
        What the user should do.
    row : str, optional
        CSV line number or timestamp, when the problem is in a time series.
    """

    def __init__(self, field: str, problem: str, fix: str, row: str | None = None):
        self.field = field
        self.problem = problem
        self.fix = fix
        self.row = row
        super().__init__(self.message)

    @property
    def message(self) -> str:
        where = f"{self.field} ({self.row})" if self.row else self.field
        return f"{where}: {self.problem}. Fix: {self.fix}"


class SchemaError(CaseError):
    """A field is missing, unknown, of the wrong type or out of range."""


class UnknownNameError(CaseError):
    """A name refers to a site, model or mode that the case does not define."""


class PlausibilityError(CaseError):
    """A value is in range but almost certainly in the wrong unit."""


class SeriesFileError(CaseError):
    """A time-series file cannot be found, is outside the case folder or lacks a column."""


class SeriesError(CaseError):
    """A time series has bad timestamps or values, or does not cover the horizon."""
