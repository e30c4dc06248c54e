"""The linopy twin of bench/twin.py is hashplan's model: the same columns, rows, objective and LP optimum.

The twin writes every row and objective coefficient again from the case's data, so agreement
also checks the Pyomo build against a second, independent construction. Rows are matched
without names: at a random point every row of one model must leave the same slack as a row of
the other (a random point tells distinct rows apart), and both objectives must take one value.
"""

import sys
import tempfile
from pathlib import Path

import highspy
import numpy as np
import pytest
import scipy.sparse as sp

from models.build import build_model
from optimizer.case import load_case
from optimizer.solve import _compile
from test_dispatch import random_case
from test_reference_build import renewal_and_hosting_case

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from run import write_case  # noqa: E402  (bench/ is not a package)
from twin import build_twin  # noqa: E402


def pivot_two_weeks():
    """The pivot example over two weeks with two catalogue models per site: debt, lead times, three sites."""
    with tempfile.TemporaryDirectory() as folder:
        return load_case(write_case(Path(folder), 2, 2))


CASES = {
    "modes and fixed blocks, seed 3": lambda: random_case(3)[1],
    "modes and fixed blocks, seed 11": lambda: random_case(11)[1],
    "renewal, hosting and covenant": renewal_and_hosting_case,
    "cfo_q1_2026": lambda: load_case(ROOT / "examples" / "cfo_q1_2026" / "case.yaml"),
    "pivot, two weeks": pivot_two_weeks,
}


def relaxed_optimum(highs: highspy.Highs) -> tuple[str, float]:
    """Status and objective of the model in ``highs`` with every column continuous."""
    n = highs.getNumCol()
    highs.changeColsIntegrality(n, np.arange(n, dtype=np.int32), np.full(n, highspy.HighsVarType.kContinuous.value, dtype=np.uint8))
    highs.setOptionValue("output_flag", False)
    highs.run()
    return highs.modelStatusToString(highs.getModelStatus()), highs.getInfo().objective_function_value


def twin_columns(repn, twin, highs: highspy.Highs) -> np.ndarray:
    """For each column of the compiled Pyomo model, the twin's column in ``highs`` (by name and index position)."""
    labels = twin.model.matrices.vlabels
    column_of_label = np.full(int(labels.max()) + 1, -1)
    column_of_label[labels] = np.arange(len(labels))
    positions = {}
    found = []
    for var in repn.columns:
        component = var.parent_component()
        if component.local_name not in positions:
            positions[component.local_name] = {id(v): j for j, v in enumerate(component.values())}
        label = twin.columns[component.local_name].ravel()[positions[component.local_name][id(var)]]
        found.append(column_of_label[label])
    return np.array(found)


def slacks(lp: highspy.HighsLp, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted slacks of the rows at ``x``: |activity - rhs| of equalities, and each finite side's slack of the others.

    Neither depends on how a row is written (a <= b or -a >= -b, either side of an equality).
    """
    a = lp.a_matrix_
    kind = sp.csc_matrix if a.format_ == highspy.MatrixFormat.kColwise else sp.csr_matrix
    matrix = kind((a.value_, a.index_, a.start_), shape=(lp.num_row_, lp.num_col_))
    activity = matrix @ x
    lower, upper = np.asarray(lp.row_lower_), np.asarray(lp.row_upper_)
    equal = lower == upper
    sides = np.concatenate([(upper - activity)[~equal & np.isfinite(upper)], (activity - lower)[~equal & np.isfinite(lower)]])
    return np.sort(np.abs(activity - upper)[equal]), np.sort(sides)


@pytest.mark.parametrize("name", list(CASES))
def test_the_twin_is_the_same_model(name):
    case = CASES[name]()
    model = build_model(case)  # kept alive: compiled columns refer to their components weakly
    problem = _compile(model)
    repn, integer = problem.repn, problem.integer
    ours = highspy.Highs()
    ours.setOptionValue("output_flag", False)
    problem.pass_to(ours)
    lp = ours.getLp()
    twin = build_twin(case)
    theirs = twin.model.to_highspy()
    twin_lp = theirs.getLp()
    assert (twin_lp.num_col_, twin_lp.num_row_) == (lp.num_col_, lp.num_row_)
    column = twin_columns(repn, twin, theirs)
    assert np.array_equal(np.sort(column), np.arange(lp.num_col_))
    assert np.array_equal(np.asarray(twin_lp.col_lower_)[column], lp.col_lower_)
    assert np.array_equal(np.asarray(twin_lp.col_upper_)[column], lp.col_upper_)
    twin_integer = np.array([kind == highspy.HighsVarType.kInteger for kind in twin_lp.integrality_]) if twin_lp.integrality_ else np.zeros(lp.num_col_, bool)
    assert np.array_equal(twin_integer[column], integer)

    x = np.random.default_rng(0).uniform(0.0, 10.0, lp.num_col_)
    x_twin = np.empty_like(x)
    x_twin[column] = x
    assert np.asarray(twin_lp.col_cost_) @ x_twin + twin.constant_usd == pytest.approx(np.asarray(lp.col_cost_) @ x + lp.offset_, rel=1e-10)
    for mine, its in zip(slacks(lp, x), slacks(twin_lp, x_twin)):
        np.testing.assert_allclose(its, mine, rtol=1e-9, atol=1e-6)
    status, objective = relaxed_optimum(ours)
    twin_status, twin_objective = relaxed_optimum(theirs)
    assert (status, twin_status) == ("Optimal", "Optimal")
    assert twin_objective + twin.constant_usd == pytest.approx(objective, rel=1e-9)


def test_the_twin_refuses_what_it_does_not_write():
    case = load_case(ROOT / "examples" / "ercot_west_2023" / "case.yaml")
    with pytest.raises(ValueError, match=r"site 'west'.*power.four_cp"):
        build_twin(case)
