"""Every bundled example solves from the command line and reproduces its stored reference.

``examples/<name>/reference.json`` holds the headline figures of the plan that the example's
README describes. A change that moves them is either a bug or a deliberate model change; in
the second case regenerate the reference and update the README in the same commit.
"""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from models.build import build_model
from optimizer.case import load_case
from optimizer.cli import main
from optimizer.solve import plan_violation, solve

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
YEAR_SCALE = {"pivot_2026"}
"""Examples that take minutes: run with ``pytest -m year``."""

CASES = [
    pytest.param(name, marks=pytest.mark.year) if name in YEAR_SCALE else name
    for name in sorted(p.parent.name for p in EXAMPLES.glob("*/case.yaml"))
]


@pytest.fixture(scope="module", params=CASES)
def solved(request, tmp_path_factory):
    out = tmp_path_factory.mktemp(request.param)
    assert main(["run", str(EXAMPLES / request.param / "case.yaml"), "--out", str(out), "--quiet"]) == 0
    return request.param, out, json.loads((out / "summary.json").read_text())


def test_example_reproduces_its_reference(solved):
    name, _, summary = solved
    reference = json.loads((EXAMPLES / name / "reference.json").read_text())
    for key, expected in reference.items():
        if isinstance(expected, str) or expected is None:
            assert summary[key] == expected, key
        else:
            # the plan is unique only up to the certified gap; headline figures within 0.1%
            assert summary[key] == pytest.approx(expected, rel=1e-3, abs=1e-6), key


def test_workbook_reconciles_with_summary(solved):
    _, out, summary = solved
    book = pd.ExcelFile(out / "report.xlsx")
    monthly = pd.read_excel(book, sheet_name="P&L")
    assert monthly["Total"].iloc[-1] == pytest.approx(summary["objective_usd"], rel=1e-12)
    sites = pd.read_excel(book, sheet_name="Sites")
    for column, key in [("4CP avoided vs running flat out [USD]", "four_cp_avoided_usd"), ("Unused block energy resold at spot [USD]", "fixed_block_resale_usd")]:
        assert sites[column].sum() == pytest.approx(summary[key], rel=1e-12, abs=1e-9)
    if "Treasury" in book.sheet_names:
        treasury = pd.read_excel(book, sheet_name="Treasury")
        assert treasury["BTC sold [BTC]"].sum() == pytest.approx(summary["btc_sold"], rel=1e-12)
        assert treasury["Closing cash [USD]"].iloc[-1] == pytest.approx(summary["ending_cash_usd"], rel=1e-12)
        np.testing.assert_allclose(treasury["Opening BTC [BTC]"].iloc[1:], treasury["Closing BTC [BTC]"].iloc[:-1], rtol=1e-12)


def test_cfo_plan_does_what_its_readme_says(tmp_path):
    assert main(["run", str(EXAMPLES / "cfo_q1_2026" / "case.yaml"), "--out", str(tmp_path), "--quiet"]) == 0
    treasury = pd.read_excel(tmp_path / "report.xlsx", sheet_name="Treasury").set_index("Date")
    sold = treasury["BTC sold [BTC]"]
    # pre-funds the coupon in early January, then holds through the dip until late March
    assert sold.loc["2026-01-04":"2026-01-05"].sum() == pytest.approx(253.4, abs=0.1)
    assert sold.loc["2026-01-06":"2026-03-27"].sum() == pytest.approx(0.0, abs=1e-6)
    assert treasury.loc["2026-03-31", "Closing BTC [BTC]"] == pytest.approx(1000.0, abs=1e-6)
    covenants = pd.read_excel(tmp_path / "report.xlsx", sheet_name="Covenants").set_index("Date")
    assert covenants.loc["2026-03-27", "Covenant headroom [USD]"] == pytest.approx(0.0, abs=0.01)


@pytest.mark.year
def test_pivot_plan_holds_in_the_full_hourly_model_and_its_gap_is_certified():
    case = load_case(EXAMPLES / "pivot_2026" / "case.yaml")
    model = build_model(case)
    report = solve(model, case.spec.solver)
    # every row and bound of the full hourly model, recompiled and evaluated at the plan
    assert plan_violation(model) <= 1e-6
    # one hall ordered in January, two in February, two in March (see the example's README)
    assert [model.hosting.halls[0, e].value for e in range(4)] == [1, 2, 2, 0]
    assert report.bound_usd >= report.objective_usd
    assert report.mip_gap <= case.spec.solver.mip_gap
    assert report.mip_gap == pytest.approx((report.bound_usd - report.objective_usd) / report.objective_usd, rel=1e-12)
