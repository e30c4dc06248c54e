"""Excel workbooks written from :class:`~optimizer.results.Results` (they compute nothing new)."""

from __future__ import annotations

from pathlib import Path

from optimizer.output import write_csv, write_json
from optimizer.report.workbook import write_report

PLAN_FILES = ("summary.json", "dispatch.csv", "thresholds.csv", "report.xlsx")
"""The files a plan is written as."""


def write_plan(folder: Path, results, case) -> None:
    """Write a plan's files (:data:`PLAN_FILES`) into ``folder``."""
    write_json(folder / "summary.json", results.kpis)
    write_csv(folder / "dispatch.csv", results.dispatch)
    write_csv(folder / "thresholds.csv", results.thresholds)
    write_report(folder / "report.xlsx", results, case)


__all__ = ["PLAN_FILES", "write_plan", "write_report"]
