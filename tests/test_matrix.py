"""optimizer.matrix compiles a model to the matrices Pyomo's own standard-form compiler gives.

Pyomo's ``LinearStandardFormCompiler`` (mixed form) is the independent reference: every
column, row, coefficient, right-hand side and the objective must be the same, matched by
variable and row names. The hand-built model has every form the direct reader handles and
those it leaves to Pyomo's visitor; the cases are the models the product builds.
"""

import numpy as np
import pyomo.environ as pyo
import pytest
import scipy.sparse

from models.build import build_model
from models.expr import MatrixRows, linear
from optimizer.matrix import InfeasibleConstantRow, compile_matrices
from test_reference_build import by_name, coefficients
from test_twin import CASES


def assert_same_as_pyomo(model):
    ours = compile_matrices(model)
    mine = by_name(ours.columns, ours.rows, ours.A, ours.rhs, ours.c, ours.offset)
    reference = coefficients(model)
    assert mine["columns"] == reference["columns"]
    assert mine["rhs"].keys() == reference["rhs"].keys()
    assert mine["matrix"].keys() == reference["matrix"].keys()
    for key, value in reference["matrix"].items():
        assert mine["matrix"][key] == pytest.approx(value, rel=1e-12), key
    assert mine["rhs"] == pytest.approx(reference["rhs"], rel=1e-12, abs=1e-12)
    assert mine["objective"] == pytest.approx(reference["objective"], rel=1e-12, abs=1e-12)
    assert mine["offset"] == pytest.approx(reference["offset"], rel=1e-12, abs=1e-12)
    assert ours.sense == next(model.component_data_objects(pyo.Objective, active=True)).sense
    return ours


def every_form():
    """A model with each kind of row and term the compiler meets."""
    m = pyo.ConcreteModel()
    m.x = pyo.Var(range(4), bounds=(0, 10))
    m.y = pyo.Var(domain=pyo.NonNegativeIntegers, bounds=(0, 5))
    m.fixed = pyo.Var(initialize=2.5)
    m.fixed.fix()
    m.unused = pyo.Var(bounds=(1, 2))
    m.price = pyo.Param(initialize=3.0, mutable=True)
    m.site_load = pyo.Expression(range(2), rule=lambda m, i: linear([1.0, 2.0], [m.x[i], m.x[i + 1]], 0.5))
    m.flat = pyo.Constraint(expr=linear([1.0, -2.0, 4.0], [m.x[0], m.x[1], m.y], 3.0) <= 7.0)
    m.bare = pyo.Constraint(expr=m.x[0] + m.x[2] >= 1.0)
    m.ranged = pyo.Constraint(expr=pyo.inequality(-1.0, linear([1.0, 1.0], [m.x[1], m.x[3]]), 6.0))
    m.equal = pyo.Constraint(expr=linear([2.0], [m.x[2]], 1.0) == m.x[3] + 4.0)
    m.repeated = pyo.Constraint(expr=linear([1.0, 2.0, -3.0], [m.x[0], m.x[0], m.x[1]]) <= 5.0)
    m.with_fixed = pyo.Constraint(expr=linear([1.0, 3.0], [m.x[2], m.fixed]) <= 9.0)
    m.only_fixed = pyo.Constraint(expr=linear([2.0], [m.fixed]) <= 6.0)
    m.scaled = pyo.Constraint(expr=1.5 * m.site_load[0] - m.site_load[1] + (-m.x[3]) <= 2.0)
    m.parameter = pyo.Constraint(expr=m.price * m.x[1] + m.y <= 8.0)
    m.off = pyo.Constraint(expr=m.x[0] <= 0.0)
    m.off.deactivate()
    A = scipy.sparse.csr_matrix(np.array([[1.0, -1.0, 0.0], [0.0, 2.0, 1.0], [1.0, 1.0, 1.0], [0.0, 1.0, -1.0], [1.0, 0.0, 0.0]]))
    m.rows = MatrixRows(
        [("a", 0), ("a", 1), ("b", 0), ("b", 1), ("c", 0)],
        A,
        np.array([-np.inf, 1.0, 2.0, 3.0, 0.5]),
        np.array([0.0, np.inf, 4.0, 3.0, 9.0]),
        [m.x[0], m.x[1], m.fixed],
    )
    m.rows["c", 0].deactivate()
    m.profit = pyo.Objective(expr=linear([1.0, 2.0], [m.x[0], m.fixed], 10.0) + m.price * m.y - 0.5 * m.site_load[1], sense=pyo.maximize)
    return m


def test_every_form_compiles_as_pyomo_compiles_it():
    compiled = assert_same_as_pyomo(every_form())
    names = {var.name for var in compiled.columns}
    assert "fixed" not in names and "unused" not in names
    kinds = {(row.constraint.name, row.bound_type) for row in compiled.rows}
    assert {("ranged", 1), ("ranged", -1), ("rows[b,0]", 1), ("rows[b,0]", -1), ("rows[b,1]", 0)} <= kinds
    assert not {name for name, _ in kinds} & {"only_fixed", "off", "rows[c,0]"}


def test_a_matrix_row_reads_as_an_ordinary_constraint():
    m = every_form()
    row = m.rows["b", 0]
    assert (row.lb, row.ub) == (2.0, 4.0)
    assert [(coef, var.name) for coef, var in (term.args for term in row.body.args)] == [(1.0, "x[0]"), (1.0, "x[1]"), (1.0, "fixed")]
    assert m.rows["b", 1].equality and m.rows["a", 1].ub is None
    copy = m.clone()
    assert copy.rows["a", 0].body.args[1].args[1] is copy.x[1]
    with pytest.raises(TypeError, match=r"rows\[a,0\] is a row of a matrix"):
        m.rows["a", 0].set_value(m.x[0] <= 1.0)


def test_matrix_rows_refuse_inconsistent_shapes_and_bounds():
    m = pyo.ConcreteModel()
    m.x = pyo.Var(range(2))
    A = scipy.sparse.csr_matrix(np.eye(2))
    with pytest.raises(ValueError, match="3 keys"):
        MatrixRows([0, 1, 2], A, np.zeros(2), np.ones(2), [m.x[0], m.x[1]])
    with pytest.raises(ValueError, match="lower <= upper"):
        MatrixRows([0, 1], A, np.array([0.0, 2.0]), np.ones(2), [m.x[0], m.x[1]])


def test_a_row_left_with_only_fixed_variables_must_hold():
    m = pyo.ConcreteModel()
    m.x = pyo.Var(initialize=4.0)
    m.y = pyo.Var(bounds=(0, 1))
    m.x.fix()
    m.broken = pyo.Constraint(expr=linear([1.0], [m.x]) <= 3.0)
    m.profit = pyo.Objective(expr=m.y)
    with pytest.raises(InfeasibleConstantRow, match="broken"):
        compile_matrices(m)


@pytest.mark.parametrize("name", list(CASES))
def test_product_models_compile_as_pyomo_compiles_them(name):
    assert_same_as_pyomo(build_model(CASES[name]()))
