"""The two-stage plan's workbook: what it is worth, the shared decisions, each scenario under it."""

from __future__ import annotations

from pathlib import Path

from openpyxl import Workbook

from optimizer.output import atomic_write
from optimizer.report.pack import COMPARED, _plain, shortfall_usd
from optimizer.report.workbook import FRACTION, NUMBER, USD, cell, header_cells


def robust_summary(plan, pack_name: str) -> dict:
    """The plan as ``robust.json``: figures with units in their names, decisions, scenario KPIs."""
    report = plan.report
    return {
        "pack": pack_name,
        "status": report.status,
        "objective_usd": report.objective_usd,
        "bound_usd": report.bound_usd if report.bound_usd == report.bound_usd else None,
        "mip_gap": report.mip_gap if report.mip_gap != float("inf") else None,
        "solve_method": report.method,
        "expected_value_usd": plan.expected_value_usd,
        "cvar_usd": plan.cvar_usd,
        "covenant_breach_probability": plan.breach_probability,
        "wait_and_see_usd": plan.wait_and_see_usd,
        "eev_usd": plan.eev_usd,
        "vss_usd": plan.vss_usd,
        "evpi_usd": plan.evpi_usd,
        "first_stage": plan.first_stage,
        "scenarios": [{"scenario": s.name, "probability": p, **results.kpis} for s, p, results in plan.scenarios],
    }


def write_robust(path: Path, summary: dict) -> Path:
    """Write ``robust.xlsx`` atomically: Summary, First stage, Scenarios."""

    def write(tmp: Path) -> None:
        book = Workbook(write_only=True)
        sheet = book.create_sheet("Summary")
        sheet.sheet_view.showGridLines = False
        sheet.column_dimensions["A"].width = 60
        sheet.column_dimensions["B"].width = 20
        sheet.append([f"Two-stage plan: {summary['pack']} ({len(summary['scenarios'])} scenarios, status {summary['status']})"])
        sheet.append(header_cells(sheet, ["Figure", "Value"]))
        figures = [
            ("Objective of the plan (RP) [USD]", "objective_usd", USD),
            ("Bound on any plan [USD]", "bound_usd", USD),
            ("Certified gap", "mip_gap", FRACTION),
            ("Expected value [USD]", "expected_value_usd", USD),
            ("CVaR of value [USD]", "cvar_usd", USD),
            ("Probability of a covenant breach", "covenant_breach_probability", FRACTION),
            ("Wait and see (WS) [USD]", "wait_and_see_usd", USD),
            ("Mean scenario's first stage in every scenario (EEV) [USD]", "eev_usd", USD),
            ("Value of the stochastic solution (VSS = RP - EEV) [USD]", "vss_usd", USD),
            ("Expected value of perfect information (EVPI = WS - RP) [USD]", "evpi_usd", USD),
        ]
        for label, key, fmt in figures:
            if summary[key] is not None:
                sheet.append([label, cell(sheet, summary[key], fmt)])
        sheet.append(["How it was solved", summary["solve_method"]])

        sheet = book.create_sheet("First stage")
        sheet.sheet_view.showGridLines = False
        sheet.column_dimensions["A"].width = 44
        sheet.append(["Decisions shared by every scenario (units, or BTC for sales)"])
        sheet.append(header_cells(sheet, ["Decision", "Plan", "Mean scenario's plan"]))
        for row in summary["first_stage"]:
            sheet.append([row["decision"], cell(sheet, row["value"], NUMBER), cell(sheet, row["mean_scenario_value"], NUMBER)])

        sheet = book.create_sheet("Scenarios")
        sheet.sheet_view.showGridLines = False
        sheet.freeze_panes = "B2"
        headers = ["Scenario", "Probability"] + [f"{label} [{unit}]" if unit else label for _, label, unit, _ in COMPARED]
        sheet.append(header_cells(sheet, headers))
        for row in summary["scenarios"]:
            values = [cell(sheet, _plain(shortfall_usd(row) if key == "shortfall_usd" else row.get(key)), fmt) if fmt else row.get(key) for key, _, _, fmt in COMPARED]
            sheet.append([row["scenario"], cell(sheet, row["probability"], FRACTION), *values])
        book.save(tmp)

    return atomic_write(path, write)
