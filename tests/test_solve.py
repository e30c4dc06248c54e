"""Solver paths: time limit with a plan, time limit without one, unbounded, numerical trouble, determinism."""

import dataclasses

import highspy
import numpy as np
import pyomo.environ as pyo
import pytest

from models.build import build_model
from optimizer import solve as solve_module
from optimizer.case import load_case
from optimizer.cli import main
from optimizer.solve import NoPlanError, plan_violation, solve
from test_dispatch import random_case
from test_twin import write_case  # bench/run.py's, importable once test_twin has put bench/ on the path


def _with_status(real_run, status, keep_solution=True):
    """Wrap ``_run`` so HiGHS appears to have stopped with ``status``."""

    def run(*args, **kwargs):
        result = real_run(*args, **kwargs)
        if keep_solution:
            return dataclasses.replace(result, status=status)
        return dataclasses.replace(result, status=status, has_solution=False, objective=float("nan"))

    return run


def test_time_limit_returns_the_best_plan_found_with_its_gap(monkeypatch):
    _, case = random_case(4)
    monkeypatch.setattr(solve_module, "_run", _with_status(solve_module._run, highspy.HighsModelStatus.kTimeLimit))
    model = build_model(case)
    report = solve(model, case.spec.solver)
    assert report.status == "time_limit"
    assert np.isfinite(report.objective_usd) and report.objective_usd <= report.bound_usd
    assert report.mip_gap == pytest.approx((report.bound_usd - report.objective_usd) / abs(report.objective_usd))
    assert all(var.value is not None for var in model.fleet.running.values())


def test_no_plan_within_the_time_limit_is_a_clear_error(monkeypatch):
    _, case = random_case(4)
    monkeypatch.setattr(solve_module, "_run", _with_status(solve_module._run, highspy.HighsModelStatus.kTimeLimit, keep_solution=False))
    with pytest.raises(NoPlanError, match="no feasible plan found within solver.time_limit_s") as info:
        solve(build_model(case), case.spec.solver)
    assert info.value.status == "time_limit"


def test_cli_exits_3_when_no_plan_is_found(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(solve_module, "_run", _with_status(solve_module._run, highspy.HighsModelStatus.kTimeLimit, keep_solution=False))
    assert main(["run", "--out", str(tmp_path / "out"), "--quiet"]) == 3
    assert capsys.readouterr().err.startswith("no plan (time_limit): no feasible plan found")
    assert not (tmp_path / "out").exists()


def test_an_unbounded_model_is_reported_as_unbounded():
    # maximise x with x - y <= 1 and nothing limiting y: no plan has a finite value
    model = pyo.ConcreteModel()
    model.x = pyo.Var(domain=pyo.NonNegativeReals)
    model.y = pyo.Var(domain=pyo.NonNegativeReals)
    model.row = pyo.Constraint(expr=model.x - model.y <= 1)
    model.value = pyo.Objective(expr=model.x, sense=pyo.maximize)
    _, case = random_case(4)
    with pytest.raises(NoPlanError, match="unbounded") as info:
        solve(model, case.spec.solver)
    assert info.value.status in ("unbounded", "infeasible_or_unbounded")


def test_a_plan_highs_does_not_confirm_is_reported_as_numerical_trouble(monkeypatch):
    _, case = random_case(4)
    monkeypatch.setattr(solve_module, "_run", _with_status(solve_module._run, highspy.HighsModelStatus.kUnknown))
    report = solve(build_model(case), case.spec.solver)
    assert report.status == "numerical_trouble"


def test_numerical_trouble_without_a_plan_exits_3_with_the_diagnosis(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(solve_module, "_run", _with_status(solve_module._run, highspy.HighsModelStatus.kSolveError, keep_solution=False))
    assert main(["run", "--out", str(tmp_path / "out"), "--quiet"]) == 3
    assert capsys.readouterr().err.startswith("no plan (numerical_trouble): HiGHS could not solve the model reliably (status kSolveError)")
    assert not (tmp_path / "out").exists()


def test_a_real_short_time_limit_gives_a_consistent_answer():
    # whether HiGHS finishes in 50 ms depends on the machine: either outcome must be coherent
    data, case = random_case(1)
    case = dataclasses.replace(case, spec=case.spec.model_copy(update={"solver": case.spec.solver.model_copy(update={"integer_strategy": "integer", "time_limit_s": 0.05, "mip_gap": 0.0})}))
    try:
        report = solve(build_model(case), case.spec.solver)
    except NoPlanError as exc:
        assert exc.status == "time_limit"
        return
    assert report.status in ("time_limit", "optimal")
    assert report.objective_usd <= report.bound_usd + 1e-6 * abs(report.bound_usd)


def test_same_case_same_plan():
    _, case = random_case(7)
    plans = []
    for _ in range(2):
        model = build_model(case)
        report = solve(model, case.spec.solver)
        plans.append((report.objective_usd, report.bound_usd, [v.value for v in model.fleet.running.values()]))
    assert plans[0] == plans[1]


def test_plan_violation_is_zero_at_a_solved_plan_and_measures_a_broken_one():
    _, case = random_case(4)
    model = build_model(case)
    solve(model, case.spec.solver)
    assert plan_violation(model) <= 1e-6
    # running more machines than installed breaks the variable's bound by one machine, the
    # site's interconnect row and (with several modes) the model's mode-sharing row by their
    # excess, each evaluated here on Pyomo's own expressions rather than the compiled matrix
    var = model.fleet.running[0, 0]
    var.set_value(var.ub + 1.0, skip_validation=True)
    c = case.machine_classes[0]
    rows = [model.power.site_load_within_interconnect[c.site, 0]]
    if (c.site, c.model, 0) in model.fleet.machines_within_installed:
        rows.append(model.fleet.machines_within_installed[c.site, c.model, 0])
    assert plan_violation(model) == pytest.approx(max([1.0] + [pyo.value(row.body) - row.upper for row in rows]), rel=1e-9)


@pytest.mark.parametrize("bound", [float("inf"), float("nan")])
def test_a_plan_without_a_finite_bound_has_no_certified_gap(bound):
    # an infinite bound once read as a gap of 0 (inf - x is within any share of inf)
    assert solve_module._relative_gap(100.0, bound) == float("inf")


class _LostWarmStart:
    """A HiGHS instance whose second run ends with status Unknown, as a warm start that lost its way did."""

    def __init__(self, real):
        self.real, self.runs, self.cleared = real, 0, 0

    def __getattr__(self, name):
        return getattr(self.real, name)

    def run(self):
        self.runs += 1
        return self.real.run()

    def clearSolver(self):
        self.cleared += 1
        return self.real.clearSolver()

    def getModelStatus(self):
        return highspy.HighsModelStatus.kUnknown if self.runs == 2 else self.real.getModelStatus()


def test_a_warm_run_that_ends_unknown_is_solved_again_cold(monkeypatch):
    _, case = random_case(4)
    expected = solve(build_model(case), case.spec.solver)
    instances = []
    real_highs = solve_module._highs
    monkeypatch.setattr(solve_module, "_highs", lambda *args: instances.append(_LostWarmStart(real_highs(*args))) or instances[-1])
    report = solve(build_model(case), case.spec.solver)
    (highs,) = instances
    assert highs.runs >= 3 and highs.cleared == 1
    assert report.status == expected.status == "optimal"
    assert report.objective_usd == pytest.approx(expected.objective_usd, rel=1e-9)


def test_the_compiled_model_reaches_highs_as_compiled_or_not_at_all():
    m = pyo.ConcreteModel()
    m.x = pyo.Var(range(2), bounds=(0, 4))
    m.n = pyo.Var(domain=pyo.NonNegativeIntegers, bounds=(0, 2.5))
    m.row = pyo.Constraint(expr=m.x[0] + 2 * m.x[1] + m.n <= 5.5)
    m.profit = pyo.Objective(expr=m.x[0] + m.x[1] + 3 * m.n + 1.0, sense=pyo.maximize)
    problem = solve_module._compile(m)
    highs = highspy.Highs()
    highs.setOptionValue("output_flag", False)
    problem.pass_to(highs)
    highs.run()
    # by hand: n = 2 (integer, 3 a unit), then x0 = 3.5 (1 a unit of row), x1 = 0 (0.5 a unit of row)
    assert highs.getInfo().objective_function_value == pytest.approx(1.0 + 6.0 + 3.5)
    problem.pass_to(highs, relaxed=True)
    highs.run()
    assert highs.getInfo().objective_function_value == pytest.approx(1.0 + 7.5 + 3.0)  # n = 2.5, x0 = 3
    broken = dataclasses.replace(problem, col_lower=np.full_like(problem.col_lower, np.nan))
    with pytest.raises(RuntimeError, match="HiGHS refused the compiled model"):
        broken.pass_to(highs)


def test_a_variable_flagged_whole_floors_its_continuous_unfixed_members_only():
    m = pyo.ConcreteModel()
    m.counts = pyo.Var(range(4), domain=pyo.NonNegativeReals)
    m.counts[1].domain = pyo.NonNegativeIntegers
    m.counts[2].fix(3.0)
    m.whole_integer = pyo.Var(range(2), domain=pyo.NonNegativeIntegers)
    m.one = pyo.Var()
    m.b = pyo.Block()
    m.b.floor_and_repair = pyo.Suffix(direction=pyo.Suffix.LOCAL)
    m.b.floor_and_repair.set_value(m.counts, 2, expand=False)
    m.b.floor_and_repair.set_value(m.whole_integer, 3, expand=False)
    m.b.floor_and_repair[m.one] = 1
    stages = solve_module._floor_and_repair_stages(m)
    # stage 3 flags only integers: no stage, so no re-solve that floors nothing
    assert {stage: [var.name for var in variables] for stage, variables in stages.items()} == {1: ["one"], 2: ["counts[0]", "counts[3]"]}


@pytest.mark.parametrize("sense", [pyo.maximize, pyo.minimize])
def test_the_dual_value_is_the_lp_value_at_its_duals_and_above_it_at_any_others(sense):
    # max 3 x + 2 y + 1 (or min of its negative) s.t. x + y <= 4, x + 3 y <= 6, z - x == 0,
    # 0 <= x <= 3, y >= 0, z free. By hand: x = 3, y = 1, value 12, both rows tight (degenerate):
    # duals (2, 0, 0) give 4 x 2 + 3 x (3 - 2) + 1 = 12 and (0, 2/3, 0) give 6 x 2/3 + 3 x 7/3 + 1 = 12
    m = pyo.ConcreteModel()
    m.x = pyo.Var(bounds=(0, 3))
    m.y = pyo.Var(domain=pyo.NonNegativeReals)
    m.z = pyo.Var()
    m.first = pyo.Constraint(expr=m.x + m.y <= 4)
    m.second = pyo.Constraint(expr=m.x + 3 * m.y <= 6)
    m.tie = pyo.Constraint(expr=m.z - m.x == 0)
    flip = 1.0 if sense == pyo.maximize else -1.0
    m.objective = pyo.Objective(expr=flip * (3 * m.x + 2 * m.y + 1), sense=sense)
    session = solve_module._Session(m, solve_module.SolverOptions())
    session.highs.run()
    assert flip * session.highs.getInfo().objective_function_value == pytest.approx(12.0)
    dual_value = solve_module._DualValue(session)
    duals = np.asarray(session.highs.getSolution().row_dual, dtype=float)
    assert dual_value(duals) == pytest.approx(12.0, rel=1e-12)
    rng = np.random.default_rng(0)
    for _ in range(200):
        other = duals + rng.normal(0.0, 2.0, size=duals.size)
        assert dual_value(other) >= 12.0 - 1e-9
    # z is free: a dual on its row that leaves z a reduced cost is no bound at all
    assert dual_value(duals + np.array([0.0, 0.0, flip * 1.0])) == np.inf
    # held x <= 1: y = 5/3 (second row) and value 3 + 10/3 + 1; dual 2/3 on the second row
    session.set_bounds(session.indices([m.x]), [0.0], [1.0])
    assert dual_value(np.array([0.0, flip * 2.0 / 3.0, 0.0])) == pytest.approx(3 + 10 / 3 + 1, rel=1e-12)


@pytest.mark.parametrize("value, nearer", [(1.2, (0.0, 1.0)), (1.7, (2.0, 3.0)), (1.5, (2.0, 3.0))])
def test_a_node_splits_into_two_boxes_the_nearer_to_its_value_last(value, nearer):
    # a decision in [0, 3] at 1.2 (1.7, 1.5) in the node's LP splits into x <= 1 and x >= 2;
    # 1 is nearer 1.2, 2 nearer 1.7, and a tie goes up
    lower, upper = np.array([0.0, 5.0]), np.array([3.0, 5.0])
    children = solve_module._children_nearer_last(lower, upper, np.array([value, 5.0]), 0)
    assert sorted((box[0][0], box[1][0]) for box in children) == [(0.0, 1.0), (2.0, 3.0)]
    assert (children[-1][0][0], children[-1][1][0]) == nearer
    assert all(box[0][1] == box[1][1] == 5.0 for box in children)  # the other decision is not touched
    assert lower.tolist() == [0.0, 5.0] and upper.tolist() == [3.0, 5.0]  # the parent's box is left as it was


def test_a_node_finished_in_slices_leaves_the_plan_solve_a_feasible_start(tmp_path):
    # a week of the pivot case with 4 models a site: when warm nodes were stopped every few
    # thousand iterations, its last branch-and-bound node was solved in slices and HiGHS ended it
    # "optimal" with primal values 5e-7 off their rows (the values kept up to date through the
    # iterations, not recomputed). The plan solve, warm from it, then reported optimal with no
    # feasible solution. Re-inverting the basis recomputes them.
    case = load_case(write_case(tmp_path, 1, 4))
    model = build_model(case)
    report = solve(model, case.spec.solver)
    assert "branch and bound" in report.method and report.status in ("optimal", "feasible")
    assert plan_violation(model) <= 1e-6
    assert report.mip_gap <= case.spec.solver.mip_gap


def test_a_repair_that_ends_optimal_with_values_off_its_rows_is_solved_again_from_its_basis(tmp_path):
    # three weeks of the pivot case with 3 models a site: once installed machines had a finite
    # upper bound, the warm LP after the running counts were floored (stage 2) ended "optimal"
    # with one row 7.5e-6 off and no feasible solution, and the solve stopped with NoPlanError.
    # From the same basis re-inverted it is feasible, in 0 iterations.
    case = load_case(write_case(tmp_path, 3, 3))
    model = build_model(case)
    report = solve(model, case.spec.solver)
    assert report.status in ("optimal", "feasible")
    assert plan_violation(model) <= 1e-6
    assert report.mip_gap <= case.spec.solver.mip_gap
