"""Excel workbooks written from :class:`~optimizer.results.Results` (they compute nothing new)."""

from optimizer.report.workbook import write_report

__all__ = ["write_report"]
