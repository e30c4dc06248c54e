"""The only module that talks to the solver: HiGHS through ``highspy``.

The Pyomo model is compiled to matrices once (``optimizer.matrix``, which reads flat linear
rows and ``MatrixRows`` directly: 3.2 s on a 3-site x 12-model year where Pyomo's
standard-form compiler took 9 s) and passed to one HiGHS instance in one call (DESIGN.md: the
persistent interface is slower still). Every later solve changes column bounds in that
instance and re-solves warm from the last basis, never recompiling.

Integer monthly decisions (HPC halls) are chosen by a best-first branch and bound whose nodes
are the full model's LP relaxation (every integer relaxed). The largest LP value left
unexplored certifies the plan then solved with those decisions held. A screening model (the
same case on a coarser clock) may supply the first decisions tried, else the root's rounded
down. Warm nodes stop early, at HiGHS's ``objective_bound``, once the dual value of their duals
shows they cannot beat the best candidate (:class:`_DualValue`).

Machine counts marked in a ``floor_and_repair`` suffix are solved continuous, then floored
and held stage by stage (the suffix value), the model re-solved after each stage: the first
solve's bound (or the branch and bound's) certifies the final plan's gap.

With price blocks (``solver.price_blocks_per_day``) the same search and repair run on the
model of the blocked case; the plan is written out hour by hour into the full model, and its
gap is certified by a Lagrangian bound on the full model (:class:`_SiteBound`) at each leaf of
the search, with the leaf's own duals: begun in a background thread as the search leaves each
leaf (highspy releases the GIL in a solve), its site LPs one after another, the last stopped
once the leaf's bound is within the gap asked of the best plan.
"""

from __future__ import annotations

import functools
import gc
import heapq
import math
import os
import sys
import time
import weakref
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FuturesTimeout
from dataclasses import dataclass
from operator import attrgetter
from typing import TYPE_CHECKING

import highspy
import numpy as np
import pyomo.environ as pyo
from pyomo.common.collections import ComponentMap
from pyomo.common.gc_manager import PauseGC
from scipy.sparse import bmat
from scipy.sparse.csgraph import connected_components

from models.expr import object_array
from optimizer.case.schema import Solver as SolverOptions
from optimizer.matrix import ColumnIndex, Matrices, Rows, column_bounds, compile_matrices, integer_columns
from optimizer.memory import c_function, give_back_free_memory, keep_malloc_lean

if TYPE_CHECKING:
    from models.build import PriceBlocks

FLOOR_TOLERANCE = 1e-6
"""A relaxed count within this of the integer above is taken as that integer [units]."""

MIP_FEASIBILITY_TOLERANCE = 1e-6
"""HiGHS's default ``mip_feasibility_tolerance``: how far a MIP plan's rows may be off [row units]."""

MIN_REPAIR_SECONDS = 1.0
"""Time the repair solve always gets, even after the first solve used the whole limit [s]."""

BRANCH_GAP_SHARE = 0.5
"""Share of ``solver.mip_gap`` the decision search may leave open; the rest is for flooring counts [-]."""

TRY_ROOT_FLOORED = True
"""Whether the decision search tries the root LP's decisions rounded down as its first candidate [-]."""

INTEGRALITY_TOLERANCE = 1e-6
"""A relaxed decision within this of an integer is taken as that integer [units]."""

LEAF_GAP_SHARE = 0.9
"""Share of ``solver.mip_gap`` a leaf's bound on the hourly model may leave above the plan [-].

A leaf's last site LP stops once its dual value shows the leaf's L within this share of the gap
above the plan's hourly value (:class:`_Enough`); the rest keeps the sum that is L, rounded,
from taking the certified gap past ``mip_gap``."""

DUAL_TOLERANCE = 1e-7
"""HiGHS's default ``dual_feasibility_tolerance``: a reduced cost this close to 0, relative to its terms, is 0 [-]."""

WRITTEN_OUT_TOLERANCE = 1e-7
"""Largest violation of an hourly row by a written-out price-block plan, relative to the row's bound (at least 1) [-]."""

MALLOC_MMAP_THRESHOLD_BYTES = 2**20
"""Arrays at least this large are given back to the system when freed (``keep_malloc_lean``) [bytes]."""

MALLOC_ARENAS = 2
"""Malloc arenas the process's threads share, the search's and the site LPs' (``keep_malloc_lean``) [-]."""

_FEASIBLE = highspy.SolutionStatus.kSolutionStatusFeasible
_CONFIRMED = (highspy.HighsModelStatus.kOptimal, highspy.HighsModelStatus.kTimeLimit)
"""Statuses of a run whose plan HiGHS stands by; any other status with a plan is numerical trouble."""
_SETTLED = (highspy.HighsModelStatus.kOptimal, highspy.HighsModelStatus.kInfeasible, highspy.HighsModelStatus.kTimeLimit)
"""Statuses a branch-and-bound LP ends with when nothing went wrong."""
_BOUNDED = (highspy.HighsModelStatus.kOptimal, highspy.HighsModelStatus.kObjectiveBound)
"""A site LP's status when :class:`_SiteBound` knows a bound on it: its optimum, or a dual value at most the one asked."""
_NO_PLAN = (highspy.HighsModelStatus.kInfeasible, highspy.HighsModelStatus.kUnbounded, highspy.HighsModelStatus.kUnboundedOrInfeasible)
"""Statuses that rule out a plan, even when HiGHS returns a feasible point (as it does when unbounded)."""


class NoPlanError(RuntimeError):
    """The solver returned no feasible plan (infeasible, unbounded, or nothing found in time)."""

    def __init__(self, status: str, message: str):
        self.status = status
        super().__init__(message)


@dataclass(frozen=True)
class SolveReport:
    """What the solver did.

    Attributes
    ----------
    status : str
        ``optimal`` (gap within ``mip_gap``), ``feasible`` (a plan with a larger certified gap),
        ``time_limit`` (the best plan found when time ran out) or ``numerical_trouble`` (HiGHS
        returned a plan but could not confirm it: check it with :func:`plan_violation`).
    objective_usd : float
        Objective of the returned plan [USD].
    bound_usd : float
        Best bound on the objective of any plan [USD] (nan when none is known).
    mip_gap : float
        Certified relative gap (bound - objective) / |objective| [-] (inf when no bound).
    solve_seconds : float
        Time inside HiGHS, all solves, as the solve waited for it [s] (site LPs run in the
        background while the search runs count only while waited for after it).
    handoff_seconds : float
        Time compiling the model to matrices and passing them to HiGHS [s].
    floored_counts : int
        Relaxed machine counts floored by the repair step [-].
    solver : str
        Solver name and version.
    method : str
        How the plan was found and its bound obtained, in words.
    duals : pyomo.common.collections.ComponentMap
        Constraint -> d(objective)/d(right-hand side) from the LP with machine counts
        continuous and true integers fixed at the plan's values [objective unit per constraint
        unit]; empty when that LP did not solve to optimality.
    """

    status: str
    objective_usd: float
    bound_usd: float
    mip_gap: float
    solve_seconds: float
    handoff_seconds: float
    floored_counts: int
    solver: str
    duals: ComponentMap
    method: str = "one solve"


@dataclass(frozen=True)
class _Search:
    values: list[float]  # the decisions' values in the plan, in the order given
    bound: float  # objective bound on any plan [objective unit]
    nodes: int  # LPs solved
    closed_early: int  # of which closed at their dual value before their end
    seconds: float
    stopped: highspy.HighsModelStatus | None  # why the search stopped early (time limit or trouble), if it did


@dataclass(frozen=True)
class _Run:
    status: highspy.HighsModelStatus
    has_solution: bool
    objective: float
    bound: float
    seconds: float
    row_duals: np.ndarray | None  # one per compiled row; None when the run was a MIP or not optimal
    values: np.ndarray | None  # the solution, one value per compiled column; None without one


def solver_name() -> str:
    """The solver and its version, for reports."""
    return f"HiGHS {_new_highs().version()}"


def solve(
    model: pyo.ConcreteModel,
    options: SolverOptions,
    log: Callable[[str], None] | None = None,
    screen: pyo.ConcreteModel | None = None,
    blocks: PriceBlocks | None = None,
) -> SolveReport:
    """Solve the model and load the plan into its variables.

    Parameters
    ----------
    model : pyomo.environ.ConcreteModel
        A built model with one active objective.
    options : Solver
        Time limit [s], relative gap [-] and threads [-].
    log : callable, optional
        Receives one line per stage, for progress output.
    screen : pyomo.environ.ConcreteModel, optional
        The same case built on a coarser clock: solved first to supply the first choice of the
        integer variables flagged ``monthly_decision`` tried by the branch and bound.
    blocks : models.build.PriceBlocks, optional
        The same case on price blocks: its model is solved instead, its plan written out into
        ``model`` hour by hour, and the gap certified against a bound on ``model``. The blocks
        are re-cut first and the new ones solved; a caller that keeps no reference to these lets
        them be freed (on the 3-site x 12-model year, 65 MB less through the search).

    Returns
    -------
    SolveReport

    Raises
    ------
    NoPlanError
        When no feasible plan exists or none was found in the time limit.
    """
    say = log or (lambda _: None)
    started = time.perf_counter()
    # left to glibc's defaults, the arrays HiGHS frees stayed with the process and each thread of the
    # site LPs had its own arena: the 3-site x 12-model year on price blocks peaked 300 MB higher
    keep_malloc_lean(MALLOC_MMAP_THRESHOLD_BYTES, MALLOC_ARENAS)

    def remaining() -> float:
        return max(options.time_limit_s - (time.perf_counter() - started), MIN_REPAIR_SECONDS)

    hourly = None
    if blocks is not None:
        say("compiling the hourly model for the bound on the plan")
        hourly = _SiteBound(model, options)
        blocks, recut_seconds, recut_handoff_seconds, whole_bound = _refined(blocks, model, hourly, options, remaining(), say)
        # the blocks given are garbage in reference cycles, as is any Pyomo model: collected here, before the
        # search's memory grows (3 x 12 year: peak 1,375-1,395 MB against 1,450-1,456 MB)
        gc.collect()
        give_back_free_memory()
        refined_seconds = hourly.seconds  # the site LPs of the re-cut; the leaves' run beside the search
    session = _Session(model if blocks is None else blocks.model, options)
    runs, bound, method, search, screened = [], None, "one solve", None, None
    decisions = [var for var in _monthly_decisions(session.model) if var.is_integer() and not var.fixed]
    if decisions or hourly is not None:
        first_try = None
        if screen is not None and decisions:
            say("screening the monthly decisions on the coarser clock")
            screened = solve(screen, options, lambda line: say(f"  screening: {line}"))
            first_try = [screen.find_component(var.name).value for var in decisions]
        if decisions:
            say(f"branching on {len(decisions)} integer monthly decisions over the full LP relaxation")
        else:
            say("solving the blocked LP relaxation for the duals of the daily treasury")
        coupling, on_leaf = None, _ignore_leaf
        if hourly is not None:
            leaf_bounds = _LeafBounds(hourly, [model.find_component(var.name) for var in decisions], started + options.time_limit_s, options.mip_gap)
            coupling, on_leaf = hourly.rows_in(session), leaf_bounds.add
        search = _branch_on_decisions(session, decisions, options, remaining(), say, first_try, coupling, on_leaf)
        if search.stopped in _NO_PLAN:
            raise NoPlanError(_status_name(search.stopped), _no_plan_message(search.stopped, options))
        bound = search.bound
        session.hold(decisions, search.values)
        started_from = f", first trying the choice screened at {screen.time.period_hours[0]:g} h" if screened is not None else ""
        method = (
            f"monthly decisions by best-first branch and bound on the {'full' if blocks is None else 'blocked'} LP relaxation "
            f"({search.nodes} LPs, {search.closed_early} of them closed early at their dual value{started_from}), "
            "plan certified against the largest LP value left unexplored"
        )
    stages = _floor_and_repair_stages(session.model)
    relaxed = [var for stage in stages.values() for var in stage]
    say(f"solving with {solver_name()} ({len(relaxed):,} machine counts relaxed, then floored)")
    first = _run(session, remaining())
    if not first.has_solution or first.status in _NO_PLAN:
        raise NoPlanError(_status_name(first.status), _no_plan_message(first.status, options))
    runs.append(first)
    for stage, variables in stages.items():
        relaxed_values = session.values_of(runs[-1].values, variables)
        values = [math.floor(min(value, var.ub) + FLOOR_TOLERANCE) for var, value in zip(variables, relaxed_values)]
        say(f"repairing: {len(variables):,} counts floored (stage {stage}), re-solving the rest warm")
        session.hold(variables, values)
        runs.append(_run(session, remaining()))
        if not runs[-1].has_solution or runs[-1].status in _NO_PLAN:
            raise NoPlanError(
                _status_name(runs[-1].status),
                "the plan with machine counts floored has no feasible completion; "
                "set solver.integer_strategy: integer to solve with integer counts",
            )
    # the first run's: the LP with counts continuous, whose duals the report describes
    duals = session.duals_of(first.row_duals)
    if duals is None:
        duals = session.lp_duals(runs[-1].values, remaining())
    session.load(runs[-1].values)
    session_seconds, session_handoff_seconds = session.seconds, session.handoff_seconds
    # the plan is loaded: the session's compile and HiGHS instance go before the wait for the
    # leaves, where the site LPs' memory peaks (the 3 x 12 year: 1,396 MB at peak against 1,422-1,428 MB)
    del session
    give_back_free_memory()
    objective = runs[-1].objective
    bound = first.bound if bound is None else bound
    statuses = [run.status for run in runs] + ([search.stopped] if search is not None and search.stopped is not None else [])
    troubled = False
    if hourly is not None:
        say(f"writing the plan out hour by hour; bounding the hourly model at the {len(leaf_bounds.futures)} leaves of the search")
        blocks.write_out(model)
        objective, violation = hourly.plan_value()
        # the leaves not yet begun need only certify the plan as it is on the hours
        leaf_bounds.enough.plan = objective
        waited = time.perf_counter()
        leaves_bound = leaf_bounds.largest(say)
        waited = time.perf_counter() - waited
        if leaves_bound is None:
            statuses.append(highspy.HighsModelStatus.kTimeLimit)
            bound, at = whole_bound, "the re-cut's duals, every leaf together (time ran out before each leaf had its own)"
        elif leaves_bound <= whole_bound:
            bound, at = leaves_bound, "each leaf's duals"
        else:
            bound, at = whole_bound, "the re-cut's duals, every leaf together (below the leaves' own)"
        duals = blocks.hourly_duals(duals or ComponentMap(), model)
        method = (
            f"price blocks: {method}; the plan written out hour by hour "
            f"(largest hourly row violation {violation:.1e} of its bound) and certified against a Lagrangian bound on the "
            f"hourly model, the daily treasury priced at {at} and each site's hours solved as an LP"
        )
        # the written-out plan must keep the hourly rows as it kept the blocked ones
        troubled = violation > WRITTEN_OUT_TOLERANCE
    gap = _relative_gap(objective, bound)
    if troubled or any(status not in _CONFIRMED for status in statuses):
        status = "numerical_trouble"
    elif highspy.HighsModelStatus.kTimeLimit in statuses:
        status = "time_limit"
    elif gap <= options.mip_gap + 1e-12:
        status = "optimal"
    else:
        status = "feasible"
    extra = 0.0 if hourly is None else refined_seconds + waited + recut_seconds
    return SolveReport(
        status=status,
        objective_usd=objective,
        bound_usd=bound,
        mip_gap=gap,
        solve_seconds=session_seconds + extra + (screened.solve_seconds if screened is not None else 0.0),
        handoff_seconds=session_handoff_seconds
        + (0.0 if hourly is None else hourly.handoff_seconds + recut_handoff_seconds)
        + (screened.handoff_seconds if screened is not None else 0.0),
        floored_counts=len(relaxed),
        solver=solver_name(),
        duals=duals or ComponentMap(),
        method=method,
    )


def _refined(
    blocks: PriceBlocks, model: pyo.ConcreteModel, hourly: _SiteBound, options: SolverOptions, time_limit_s: float, say: Callable[[str], None]
) -> tuple[PriceBlocks, float, float, float]:
    """(the price blocks re-cut where the hourly dispatch of the bound's site LPs changes, HiGHS seconds, hand-off seconds,
    L(y) at the blocked LP's duals y, a bound on the whole hourly model [objective unit]; +inf if not computed).

    The blocked model's LP relaxation (every integer relaxed) gives duals y on the daily
    treasury; the site LPs of L(y) then dispatch every hour at those prices, and cutting the
    blocks wherever that dispatch changes lets the rebuilt blocked model run it. On the pivot
    example this took the LP relaxation from 0.68% below the hourly LP to within 5e-8 of it
    (2,199 -> 3,211 blocks). Without an optimal LP the blocks are kept as they are.
    """
    session = _Session(blocks.model, options)
    session.solve_integers(np.zeros_like(session.integer))
    session.highs.setOptionValue("time_limit", float(time_limit_s))
    session.highs.run()
    seconds = session.seconds, session.handoff_seconds
    if session.highs.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        return blocks, *seconds, math.inf
    duals = np.asarray(session.highs.getSolution().row_dual, dtype=float)[hourly.rows_in(session)]
    none = np.zeros(0, dtype=np.int64)
    whole = hourly.value(duals, none, none, none)
    if not math.isfinite(whole):
        return blocks, *seconds, math.inf
    hourly.load_local()
    refined = blocks.refined(model)
    say(f"price blocks: {blocks.model.time.period_hours.size:,}, re-cut where the hourly dispatch at the blocked LP's duals changes: "
        f"{refined.model.time.period_hours.size:,}")
    return refined, *seconds, whole


class _Session:
    """One model compiled once and passed to one HiGHS instance, re-solved warm as bounds change.

    Holding variables (the chosen decisions, floored counts) changes their columns' bounds in
    HiGHS, never the Pyomo model, so each re-solve starts from the last basis instead of a
    fresh compile and a cold solve. An integer column is solved as integer only while its
    bounds leave it a choice, so a model whose integers are all held re-solves as a warm LP.
    """

    def __init__(self, model: pyo.ConcreteModel, options: SolverOptions):
        began = time.perf_counter()
        self.model = model
        problem = _compile(model)
        self.repn, self.integer = problem.repn, problem.integer
        self.columns = self.repn.columns
        self.column_of = ColumnIndex(self.columns)
        self.lower = problem.col_lower.copy()
        self.upper = problem.col_upper.copy()
        self.row_lower, self.row_upper = problem.row_lower, problem.row_upper
        self.offset = self.repn.offset
        self.sign = 1.0 if self.columns and self.repn.sense == pyo.maximize else -1.0
        self.solving_integer = self.integer.copy()
        self.highs = _highs(options, options.time_limit_s)
        if self.columns:
            problem.pass_to(self.highs)
        self.handoff_seconds = time.perf_counter() - began

    @property
    def seconds(self) -> float:
        """Time inside HiGHS over every solve of this session [s]."""
        return self.highs.getRunTime()

    def indices(self, variables: list) -> np.ndarray:
        """Column of each variable; -1 for one the compiler dropped (in no row, no cost)."""
        return self.column_of(variables).astype(np.int32)

    def set_bounds(self, columns: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> None:
        """Bounds of the given columns in HiGHS (dropped columns, marked -1, are skipped)."""
        kept = columns >= 0
        columns, lower, upper = columns[kept], np.asarray(lower, dtype=float)[kept], np.asarray(upper, dtype=float)[kept]
        if columns.size:
            self.lower[columns], self.upper[columns] = lower, upper
            self.highs.changeColsBounds(len(columns), columns, lower, upper)

    def hold(self, variables: list, values: list[float]) -> None:
        """Hold variables at values for every later solve of the session."""
        self.set_bounds(self.indices(variables), values, values)

    def minimise_negated(self, negated: bool) -> None:
        """Pose a maximisation to HiGHS as the minimisation of its negative (``negated``), or as itself.

        The basis is kept: both are the same LP. A minimisation is always posed as itself.
        """
        if not self.columns or self.repn.sense != pyo.maximize:
            return
        everything = np.arange(len(self.columns), dtype=np.int32)
        flip = -1.0 if negated else 1.0
        self.highs.changeObjectiveSense(highspy.ObjSense.kMinimize if negated else highspy.ObjSense.kMaximize)
        self.highs.changeColsCost(len(everything), everything, flip * np.asarray(self.repn.c, dtype=float))
        self.highs.changeObjectiveOffset(flip * self.offset)

    def solve_integers(self, integer: np.ndarray) -> None:
        """Solve the columns marked in ``integer`` as integers and every other column as continuous."""
        changed = np.flatnonzero(integer != self.solving_integer).astype(np.int32)
        if changed.size:
            kinds = np.where(integer[changed], highspy.HighsVarType.kInteger.value, highspy.HighsVarType.kContinuous.value).astype(np.uint8)
            self.highs.changeColsIntegrality(len(changed), changed, kinds)
            self.solving_integer = integer.copy()

    def values_of(self, solution: np.ndarray, variables: list) -> list[float]:
        """The variables' values in a solution vector; 0 for a dropped variable (never held, see ``set_bounds``)."""
        return [float(solution[j]) if j >= 0 else 0.0 for j in self.indices(variables).tolist()]

    def duals_of(self, row_duals: np.ndarray | None) -> ComponentMap | None:
        """Constraint -> its rows' duals summed (a ranged constraint has two rows); None for None."""
        if row_duals is None:
            return None
        duals = ComponentMap()
        for constraint, dual in zip(self.repn.rows.constraints.tolist(), row_duals.tolist()):
            duals[constraint] = duals.get(constraint, 0.0) + dual
        return duals

    def lp_duals(self, solution: np.ndarray, time_limit_s: float) -> ComponentMap | None:
        """Duals of the LP with true integers held at the plan's values, the plan staying as it is.

        The integer values come from a MIP solved to HiGHS's MIP feasibility tolerance, so this
        LP accepts rows off by as much; at the LP's tighter default it could be infeasible by 1e-7.
        """
        integers = np.flatnonzero(self.integer).astype(np.int32)
        self.set_bounds(integers, solution[integers], solution[integers])
        # the session's last solve: the looser tolerance is not reset
        self.highs.setOptionValue("primal_feasibility_tolerance", MIP_FEASIBILITY_TOLERANCE)
        return self.duals_of(_run(self, time_limit_s).row_duals)

    def load(self, solution: np.ndarray) -> None:
        """Load a solution vector into the model's variables (integer columns rounded)."""
        values = np.asarray(solution, dtype=float).copy()
        values[self.integer] = np.round(values[self.integer]) + 0.0  # + 0.0 turns -0.0 into 0.0
        for var, value in zip(self.columns, values.tolist()):
            var.set_value(value, skip_validation=True)
        _load_unused(self.model, self.column_of.ids())


def _run(session: _Session, time_limit_s: float) -> _Run:
    """Solve the session's model once at its current bounds, warm from the last basis.

    Integer columns still free are solved as integers (a MIP, whose bound is HiGHS's dual
    bound); with none free the run is an LP and returns its duals.
    """
    if not session.columns:
        return _Run(highspy.HighsModelStatus.kOptimal, True, session.offset, session.offset, 0.0, None, np.zeros(0))
    highs = session.highs
    began = highs.getRunTime()
    free_integer = session.integer & (session.lower < session.upper)
    session.solve_integers(free_integer)
    highs.setOptionValue("time_limit", began + float(time_limit_s))
    highs.run()
    if not free_integer.any():
        _recompute_if_off(highs)
    if highs.getModelStatus() not in _SETTLED + _NO_PLAN:
        # a warm start can lose its way (status unknown after flooring a 3-week blocked case); a cold one did not
        highs.clearSolver()
        highs.run()
    status = highs.getModelStatus()
    info = highs.getInfo()
    has_solution = info.primal_solution_status == _FEASIBLE
    objective = info.objective_function_value if has_solution else math.nan
    if free_integer.any():
        bound = info.mip_dual_bound
    else:
        bound = objective if status == highspy.HighsModelStatus.kOptimal else math.nan
    solution = highs.getSolution()
    row_duals = None
    if not free_integer.any() and status == highspy.HighsModelStatus.kOptimal:
        row_duals = np.asarray(solution.row_dual, dtype=float)
    values = np.asarray(solution.col_value, dtype=float) if has_solution else None
    return _Run(status, has_solution, objective, bound, highs.getRunTime() - began, row_duals, values)


def _ignore_leaf(lower: np.ndarray, upper: np.ndarray, duals: np.ndarray | None, best: float) -> None:
    """The search's ``on_leaf`` when nothing is bounded at its leaves."""


def _branch_on_decisions(
    session: _Session,
    decisions: list,
    options: SolverOptions,
    time_limit_s: float,
    say: Callable[[str], None],
    first_try: list[float] | None = None,
    coupling_rows: np.ndarray | None = None,
    on_leaf: Callable[[np.ndarray, np.ndarray, np.ndarray | None, float], None] = _ignore_leaf,
) -> _Search:
    """Best-first branch and bound on integer decisions, each node the model's LP relaxation.

    A node is the LP with every integer relaxed and each decision x_k held within the node's
    bounds [l_k, u_k]; its value z is an upper bound on every plan in the node (for a
    maximisation; signs flip for a minimisation). Nodes are taken largest parent value first
    and re-solved warm from the last basis. A node whose decisions are all integral is a
    candidate; z* is the largest candidate value. A fractional node with z above

        z* + BRANCH_GAP_SHARE x mip_gap x |z*|

    is split on its first fractional decision (x_k <= floor, x_k >= ceil); otherwise it is
    closed. The first candidate tried is the root's decisions rounded down (``TRY_ROOT_FLOORED``):
    fewer halls only free interconnect and cash, so it is most often a plan. On the 3-site x
    12-model year on price blocks it was one at the second LP ($193.1M, against the best $196.7M),
    where diving first found $188.7M at the eleventh. Should it have no plan, nothing can be
    closed until there is a candidate, so the search dives: it takes the child of the node just
    split that is nearer that node's x_k, depth first, down to whole decisions.

    Once there is a candidate, a warm node's LP is given HiGHS's ``objective_bound`` at z*: the
    dual simplex stops once its dual objective shows the node cannot beat the best candidate,
    and the node is closed at the dual value of the duals it stopped at (:class:`_DualValue`, an
    upper bound on the node's LP, computed here rather than taken from HiGHS; a stop it does not
    bear out is solved on), so a node far below the best candidate is not solved to its end. A
    node so closed is worth no more than z*, as it would be solved to its end, so the search's
    bound is the one solving every node to its end gives. (Stopped at the value a node must
    exceed to be split instead, nodes closed just below it, and flooring's loss came on top: on
    ``examples/pivot_2026`` the certified gap rose to 0.12%, and 0.13% on price blocks, where a
    leaf's bound at a stopped node's duals is at least that node's dual value.) HiGHS stops at
    the bound on a minimisation only, so a maximisation is searched as the minimisation of its
    negative and restored after. This replaced stopping the LPs every 5% of the cold LP's
    iterations to check their dual value, where each restart cost iterations. The warm LPs run
    on unperturbed costs: HiGHS's dual simplex perturbs them by default, and the duals of a
    stopped iterate are then dual feasible only for the perturbed costs, their dual value +inf
    where a reduced cost meets an infinite bound.
    The bound is the largest z (or dual value) of any closed, candidate or (on time out) open
    node, so it is valid for any plan; the decisions returned are the best candidate's.
    ``first_try`` (e.g. a screened choice) is solved first, as a candidate. The search stops
    early enough to leave the plan solve and its repairs as long as the first, cold LP took;
    on the time limit, the plan takes the best candidate's decisions, or the first LP's floored.
    Every node left (closed, whole-hall, infeasible or still open) is passed to ``on_leaf`` as
    it is left, with its bounds, the duals of the ``coupling_rows`` (None without them) and the
    best candidate's value so far (-inf before one; in the maximisation's sense, as every value
    here). The duals are its own LP's, or its parent's when it was not solved or had no LP
    optimum (any duals give a valid Lagrangian bound).
    """
    began = session.seconds
    end = time.perf_counter() + time_limit_s
    deadline = end
    highs, sign = session.highs, session.sign
    session.solve_integers(np.zeros_like(session.integer))
    columns = session.indices(decisions)
    lower0, upper0 = session.lower[columns].copy(), session.upper[columns].copy()

    cold_seconds = None
    _, perturbation = highs.getOptionValue("dual_simplex_cost_perturbation_multiplier")
    dual_value = _DualValue(session)
    session.minimise_negated(sign > 0)
    # HiGHS now minimises -z: its objective is -z and its row duals times -sign are the model's own

    def coupling_duals(solution: highspy.HighsSolution) -> np.ndarray | None:
        return None if coupling_rows is None else -sign * np.asarray(solution.row_dual, dtype=float)[coupling_rows]

    def solve_node(
        lower: np.ndarray, upper: np.ndarray, close_at: float = -math.inf
    ) -> tuple[float, np.ndarray | None, np.ndarray | None] | None | highspy.HighsModelStatus:
        """(value, decisions, coupling rows' duals) at an optimal node, or (dual value, None, duals) at a warm node
        closed early, its dual value at most ``close_at``; None when infeasible, else the status that stopped it."""
        nonlocal deadline, cold_seconds
        session.set_bounds(columns, lower, upper)
        before = highs.getRunTime()
        highs.setOptionValue("time_limit", before + max(deadline - time.perf_counter(), 0.0))
        if cold_seconds is None:
            highs.run()
            # the first LP was the cold one: the plan and its repairs, warm, get at least as long
            cold_seconds = highs.getRunTime() - before
            deadline = end - cold_seconds
            # unperturbed costs keep a stopped node's duals dual feasible, so their dual value is finite
            highs.setOptionValue("dual_simplex_cost_perturbation_multiplier", 0.0)
        else:
            # before any candidate nothing can be closed, so the LP runs to its end
            highs.setOptionValue("objective_bound", -close_at if close_at > -math.inf else highspy.kHighsInf)
            highs.run()
            highs.setOptionValue("objective_bound", highspy.kHighsInf)
            if highs.getModelStatus() == highspy.HighsModelStatus.kObjectiveBound:
                solution = highs.getSolution()
                value = dual_value(-sign * np.asarray(solution.row_dual, dtype=float))
                if value <= close_at:
                    return value, None, coupling_duals(solution)
                highs.run()
            _recompute_if_off(highs)
            if highs.getModelStatus() not in _SETTLED:
                # as in _run, a warm start can lose its way (status unknown on a 12-block pivot year)
                say(f"  branch and bound: a warm LP ended {highs.modelStatusToString(highs.getModelStatus())}, restarting it cold")
                highs.clearSolver()
                highs.setOptionValue("time_limit", highs.getRunTime() + max(deadline - time.perf_counter(), 0.0))
                highs.run()
        status = highs.getModelStatus()
        if status == highspy.HighsModelStatus.kOptimal:
            solution = highs.getSolution()
            values = np.asarray(solution.col_value, dtype=float)[columns]
            return -highs.getInfo().objective_function_value, values, coupling_duals(solution)
        if status == highspy.HighsModelStatus.kInfeasible:
            return None
        return status

    def open_to(best: float) -> float:
        """Value a node must exceed to be split; nothing is closed before a candidate is found."""
        return -math.inf if best == -math.inf else best + BRANCH_GAP_SHARE * options.mip_gap * abs(best)

    best, chosen, closed, nodes, cut_short, stopped = -math.inf, None, -math.inf, 0, 0, None
    if first_try is not None:
        tried = np.clip(np.round(np.asarray(first_try, dtype=float)), lower0, upper0)
        outcome = solve_node(tried, tried)
        nodes += 1
        if isinstance(outcome, tuple):
            best, chosen = outcome[0], tried
    fallback = None
    heap, pushed = [(-math.inf, 0, lower0, upper0, None)], 1
    while heap:
        if best == -math.inf:
            # diving: the node pushed last, the previous node's child nearer its LP's decision
            last = min(range(len(heap)), key=lambda i: heap[i][1])
            heap[last], heap[-1] = heap[-1], heap[last]
            key, _, lower, upper, parent_duals = heap.pop()
            heapq.heapify(heap)
        else:
            key, _, lower, upper, parent_duals = heapq.heappop(heap)
        parent = -key
        if parent <= open_to(best):
            closed = max(closed, parent)
            on_leaf(lower, upper, parent_duals, best)
            continue
        outcome = solve_node(lower, upper, best) if time.perf_counter() < deadline else highspy.HighsModelStatus.kTimeLimit
        if isinstance(outcome, highspy.HighsModelStatus):
            # nothing below this node or the open ones is known beyond their parents' values
            stopped = outcome
            closed = max([closed, parent] + [-entry[0] for entry in heap])
            for entry in [(lower, upper, parent_duals)] + [entry[2:] for entry in heap]:
                on_leaf(*entry, best)
            break
        nodes += 1
        if outcome is None:
            on_leaf(lower, upper, parent_duals, best)
            continue
        value, values, duals = outcome
        if values is None:
            cut_short += 1
            closed = max(closed, value)
            on_leaf(lower, upper, duals, best)
            say(f"  branch and bound: {nodes} LPs, one closed early at its dual value ${sign * value:,.0f}, {len(heap)} open")
            continue
        fractional = np.flatnonzero(np.abs(values - np.round(values)) > INTEGRALITY_TOLERANCE)
        if fallback is None:
            fallback = np.floor(values + INTEGRALITY_TOLERANCE)
            if TRY_ROOT_FLOORED and fractional.size and best == -math.inf:
                # a candidate, not a node of the search: the root's children still hold every plan
                tried = np.clip(fallback, lower0, upper0)
                trial = solve_node(tried, tried)
                nodes += 1
                if isinstance(trial, tuple):
                    best, chosen = trial[0], tried
        if not fractional.size:
            closed = max(closed, value)
            if value > best:
                best, chosen = value, np.round(values)
            on_leaf(lower, upper, duals, best)
        elif value <= open_to(best):
            closed = max(closed, value)
            on_leaf(lower, upper, duals, best)
        else:
            # the nearer child pushed last: taken first among equal values, and dived into
            for child_lower, child_upper in _children_nearer_last(lower, upper, values, fractional[0]):
                heapq.heappush(heap, (-value, -pushed, child_lower, child_upper, duals))
                pushed += 1
        found = f"best whole-hall node ${sign * best:,.0f}" if chosen is not None else "no whole-hall node yet"
        say(f"  branch and bound: {nodes} LPs, {found}, {len(heap)} open")
    if chosen is None:
        chosen = lower0 if fallback is None else fallback
    session.set_bounds(columns, lower0, upper0)
    session.minimise_negated(False)
    highs.setOptionValue("dual_simplex_cost_perturbation_multiplier", perturbation)
    return _Search(
        values=[float(v) + 0.0 for v in chosen],
        bound=sign * max(closed, best),
        nodes=nodes,
        closed_early=cut_short,
        seconds=session.seconds - began,
        stopped=stopped,
    )


def _children_nearer_last(
    lower: np.ndarray, upper: np.ndarray, values: np.ndarray, k: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """The two (lower, upper) boxes a node splits into on decision k (x_k <= floor, x_k >= ceil of its
    LP value), the one nearer that value last (the upper one on a tie)."""
    below, above = upper.copy(), lower.copy()
    below[k], above[k] = math.floor(values[k]), math.ceil(values[k])
    children = [(lower, below), (above, upper)]
    if values[k] - math.floor(values[k]) < 0.5:
        children.reverse()
    return children


class _SiteBound:
    """A bound on every plan of the full (hourly) model from duals of the rows that couple its sites.

    For max {c x + c0 : l <= A x <= u, xl <= x <= xu} and any multipliers y, one per row,

        c x = (c - A'y) x + y'A x <= (c - A'y) x + sum_i max(y_i l_i, y_i u_i).

    Pricing only the coupling rows C (flagged ``couples_sites``: the daily treasury) and
    keeping the rest R, no plan is worth more than

        L(y) = c0 + sum_{i in C} max(y_i l_i, y_i u_i)
               + max {(c - A_C'y) x : l_R <= A_R x <= u_R, xl <= x <= xu}

    (y_i taken as 0 where the bound it meets is infinite). The last term separates into the
    connected parts of A_R (one per site: its fleet, halls and hours), each an LP kept in its
    own HiGHS instance and re-solved warm, and the columns in no kept row, each at its best
    bound. On a column without a finite bound, a reduced cost within HiGHS's dual tolerance of
    0, relative to the size of the terms it is the difference of, counts as 0 (on the pivot
    example, BTC held on one day came out at 1.7e-4 USD/BTC from terms of 7e4), the same
    tolerance within which HiGHS's own LP bounds hold. Integers are relaxed, so L also bounds the mixed-integer model; a leaf's
    bounds on the decisions restrict it to that leaf's plans. The y come from the blocked
    model's LP: its coupling rows have the same names on both clocks.
    """

    def __init__(self, model: pyo.ConcreteModel, options: SolverOptions):
        began = time.perf_counter()
        with PauseGC():
            repn = compile_matrices(model)
        if repn.sense != pyo.maximize:
            raise ValueError("the price-block bound is for a maximisation")
        self.repn = repn
        problem = _Problem.of(repn)
        self.bounds = problem.bounds
        self.col_lower, self.col_upper, row_lower, row_upper = self.bounds
        coupling = _coupling_rows(model, repn.rows)
        self.coupling_keys = _row_keys(repn.rows, coupling)
        self.row_lower, self.row_upper = row_lower[coupling], row_upper[coupling]
        rows = repn.A.tocsr()
        self.coupling_t = rows[coupling].T.tocsr()
        self.coupling_t_size = abs(self.coupling_t)
        kept_rows = np.flatnonzero(~coupling)
        kept = rows[kept_rows]
        _, labels = connected_components(bmat([[None, kept], [kept.T, None]]), directed=False)
        in_kept = np.diff(kept.tocsc().indptr) > 0
        column_label = labels[len(kept_rows):]
        self.free = np.flatnonzero(~in_kept)
        self.parts, self.site_rows = [], []
        for label in np.unique(column_label[in_kept]):
            columns = np.flatnonzero(in_kept & (column_label == label))
            part_rows = np.flatnonzero(labels[: len(kept_rows)] == label)
            rows_of_model = kept_rows[part_rows]
            # minimised (costs negated): HiGHS's dual simplex stops at ``objective_bound`` on a minimisation only
            part = Matrices(
                columns=[repn.columns[j] for j in columns],
                c=-repn.c[columns],
                offset=0.0,
                A=kept[part_rows][:, columns].tocsc(),
                rhs=repn.rhs[rows_of_model],
                rows=repn.rows.take(rows_of_model),
                sense=pyo.minimize,
            )
            # the whole model's bounds, sliced: a site's columns and rows bound as they do in it
            part_problem = _Problem(
                part, self.col_lower[columns], self.col_upper[columns], row_lower[rows_of_model], row_upper[rows_of_model], problem.integer[columns]
            )
            highs = _highs(options, highspy.kHighsInf)
            # unpresolved: on the 3-site x 12-model year the hall site's cold LP took 4.2 s against
            # 12.0 s presolved, and from the basis it leaves the leaves' site LPs took 14.6 s against
            # 36 s (``bench/leaves.py``); nor does HiGHS keep presolve's work arrays (80 MB a site)
            highs.setOptionValue("presolve", "off")
            part_problem.pass_to(highs, relaxed=True)
            self.parts.append((columns, highs))
            self.site_rows.append((part.A, row_lower[rows_of_model], row_upper[rows_of_model]))
        self.last_seconds = [0.0] * len(self.parts)  # each site LP's last solve, in HiGHS [s]
        self.column_of = ColumnIndex(repn.columns)
        # each site LP is its own HiGHS instance and highspy releases the GIL while it runs, so the
        # sites can solve side by side: the re-cut's cold solves do (the leaves do not: _LeafBounds)
        self._pool = ThreadPoolExecutor(max_workers=max(1, min(len(self.parts), options.threads or os.cpu_count() or 1)))
        weakref.finalize(self, self._pool.shutdown)
        self.handoff_seconds = time.perf_counter() - began
        self.seconds = 0.0

    def rows_in(self, session: _Session) -> np.ndarray:
        """The coupling rows' positions in another session's model (the blocked one), where they have the same names."""
        coupling = _coupling_rows(session.model, session.repn.rows)
        position = dict(zip(_row_keys(session.repn.rows, coupling), np.flatnonzero(coupling).tolist()))
        return np.array([position[key] for key in self.coupling_keys], dtype=np.int32)

    def load_local(self) -> None:
        """Load the site LPs' last solutions into the model's variables (columns in no site LP: 0)."""
        x = np.zeros(len(self.repn.columns))
        for part_columns, highs in self.parts:
            x[part_columns] = highs.getSolution().col_value
        for var, value in zip(self.repn.columns, x.tolist()):
            var.set_value(value, skip_validation=True)

    def value(
        self,
        duals: np.ndarray | None,
        columns: np.ndarray,
        lower: np.ndarray,
        upper: np.ndarray,
        deadline: float = math.inf,
        side_by_side: bool = True,
        enough: float = math.inf,
    ) -> float:
        """L(y) for the coupling rows' duals y, with the given columns held within [lower, upper] [objective unit].

        -inf when a site's LP is infeasible (no plan in the leaf), +inf when no bound is known
        (or a site's LP was stopped at ``deadline``, a ``time.perf_counter`` time [s]). The sites
        are solved side by side in threads, or one after another. One after another, the site
        that took longest at the last call goes last, and stops once the dual value of its
        current duals (:func:`_weak_dual_value`) puts L at most ``enough``: the L returned is
        then that bound on the leaf, valid but above the least one, which nobody needs.
        """
        if duals is None:
            return math.inf
        began = time.perf_counter()
        y, total = _priced_rows(duals, self.row_lower, self.row_upper)
        total += self.repn.offset
        d = self.repn.c - self.coupling_t @ y
        col_lower, col_upper = self.col_lower.copy(), self.col_upper.copy()
        col_lower[columns], col_upper[columns] = lower, upper
        free = self.free
        scale = np.abs(self.repn.c[free]) + (self.coupling_t_size @ np.abs(y))[free]
        total += _best_at_bounds(d[free], scale, col_lower[free], col_upper[free])

        def solve_site(site: int, stop_at: float = math.inf) -> tuple[highspy.HighsModelStatus, float]:
            """(status, the site's value in the maximisation's sense), stopped once that is known to be at most ``stop_at``."""
            part_columns, highs = self.parts[site]
            local = np.arange(len(part_columns), dtype=np.int32)
            highs.changeColsCost(len(local), local, -d[part_columns])
            highs.changeColsBounds(len(local), local, col_lower[part_columns], col_upper[part_columns])
            highs.setOptionValue("time_limit", highs.getRunTime() + max(deadline - time.perf_counter(), 0.0))
            highs.setOptionValue("objective_bound", -stop_at if math.isfinite(stop_at) else highspy.kHighsInf)
            ran = highs.getRunTime()
            highs.run()
            if highs.getModelStatus() == highspy.HighsModelStatus.kObjectiveBound:
                # HiGHS's own check of its dual objective is not taken on trust: weak duality at its row duals
                A, row_lower, row_upper = self.site_rows[site]
                bound = _weak_dual_value(
                    d[part_columns], A.T, abs(A).T, -np.asarray(highs.getSolution().row_dual, dtype=float),
                    row_lower, row_upper, col_lower[part_columns], col_upper[part_columns],
                )
                if bound <= stop_at:
                    self.last_seconds[site] = highs.getRunTime() - ran
                    return highspy.HighsModelStatus.kObjectiveBound, bound
                highs.setOptionValue("objective_bound", highspy.kHighsInf)
                highs.run()
            self.last_seconds[site] = highs.getRunTime() - ran
            return highs.getModelStatus(), -highs.getInfo().objective_function_value

        # every site finishes before the next call changes its costs again
        if side_by_side:
            solved = list(self._pool.map(solve_site, range(len(self.parts))))
        else:
            solved = []
            order = sorted(range(len(self.parts)), key=self.last_seconds.__getitem__)
            for site in order:
                known = total + sum(site_value for _, site_value in solved)
                last = site == order[-1] and all(status in _BOUNDED for status, _ in solved) and math.isfinite(known)
                solved.append(solve_site(site, enough - known if last else math.inf))
        # what HiGHS frees in small pieces stays in malloc's heap unless given back: on the year, while
        # the site LPs were presolved, RSS through the leaves was 1,300 MB with this, 1,410 MB without
        give_back_free_memory()
        for status, site_value in solved:
            if status == highspy.HighsModelStatus.kInfeasible:
                total = -math.inf
                break
            if status not in _BOUNDED:
                total = math.inf
                break
            total += site_value
        self.seconds += time.perf_counter() - began
        return total if not math.isnan(total) else math.inf

    def plan_value(self) -> tuple[float, float]:
        """(objective, largest violation of a row or column bound relative to the bound, at least 1) of the loaded plan."""
        x = np.array([var.value for var in self.repn.columns], dtype=float)
        return float(self.repn.c @ x + self.repn.offset), _worst_violation(self.repn, x, self.bounds, relative=True)


def _coupling_rows(model: pyo.ConcreteModel, rows: Rows) -> np.ndarray:
    """Whether each row is of a constraint a ``couples_sites`` suffix flags [-]."""
    flagged = {id(component) for component, _ in _flagged(model, "couples_sites")}
    return np.fromiter((id(constraint.parent_component()) in flagged for constraint in rows.constraints.tolist()), dtype=bool, count=len(rows))


def _row_keys(rows: Rows, chosen: np.ndarray) -> list[tuple[str, int]]:
    """(constraint name, bound type) of the chosen rows: the same on any clock.

    Only the chosen rows are named: a name walks the row's parents, and naming every row of the
    3-site x 12-model year's blocked model took 1.0 s.
    """
    return [(constraint.name, bound_type) for constraint, bound_type in zip(rows.constraints[chosen].tolist(), rows.bound_types[chosen].tolist())]


def _recompute_if_off(highs: highspy.Highs) -> None:
    """Solve again from the same basis, re-inverted, an LP that ended optimal with primal values off their rows.

    A warm dual simplex can end optimal with primal values updated, not recomputed: 5e-7 off
    their rows in search nodes solved on after a stop, 7.5e-6 in the repair of a 3-week case
    (``bench/run.py --measure 3 3``) once every machine count had a finite upper bound. Setting
    the basis again re-inverts it, and the values are computed afresh.
    """
    if highs.getModelStatus() == highspy.HighsModelStatus.kOptimal and highs.getInfo().primal_solution_status != _FEASIBLE:
        highs.setBasis(highs.getBasis())
        highs.run()


class _LeafBounds:
    """:class:`_SiteBound`'s L at each leaf of a search, begun in a background thread as the search leaves it.

    HiGHS runs the search on one core; the other solves the leaves' site LPs meanwhile, one
    site after another, and goes on after the search. The leaves are taken in the order they
    were left, each site LP warm from the leaf before. On the 3-site x 12-model year on price
    blocks the leaves took about 100 s after the search; most of it now runs within it. Side by
    side after the search, two sites' LPs at once, they took 24-28 s after it against 34.5 s, but
    the two solves' transient allocations took the run's peak from 1,422 MB to 1,466-1,483 MB.

    A leaf's L need not be the least: its last site LP stops once L is shown within
    ``LEAF_GAP_SHARE`` of ``mip_gap`` above the plan (:class:`_Enough`).
    """

    def __init__(self, hourly: _SiteBound, decisions: list, deadline: float, mip_gap: float):
        columns = hourly.column_of(decisions)
        self.hourly, self.kept, self.columns, self.deadline = hourly, columns >= 0, columns[columns >= 0], deadline
        self.enough = _Enough(mip_gap)
        self.worker = ThreadPoolExecutor(max_workers=1)
        # a solve that stops with an error drops the leaves not yet begun (the work queued holds no reference to self)
        weakref.finalize(self, self.worker.shutdown, wait=False, cancel_futures=True)
        self.futures, self.leaves = [], []

    def add(self, lower: np.ndarray, upper: np.ndarray, duals: np.ndarray | None, best: float) -> None:
        """Begin L at a leaf: the decisions held within [lower, upper], the coupling rows priced at ``duals``,
        the best candidate's value so far ``best`` [objective unit]."""
        self.enough.best = max(self.enough.best, best)
        self.leaves.append((duals, lower[self.kept], upper[self.kept]))
        self.futures.append(self._begin(self.leaves[-1]))

    def _begin(self, leaf: tuple) -> Future:
        """Queue a leaf's L (its duals, lower and upper bounds) on the worker."""
        duals, lower, upper = leaf
        return self.worker.submit(_leaf_value, self.hourly, self.enough, duals, self.columns, lower, upper, self.deadline)

    def largest(self, say: Callable[[str], None]) -> float | None:
        """The largest L over the leaves [objective unit]; ``say`` gets a line per leaf.

        None if the deadline passes before every leaf has its L: a leaf without one is bounded
        by nothing the others say. A leaf stopped against the best candidate, whose L is above
        what the plan, now known, needs, is bounded again against the plan (flooring counts can
        leave the plan below the candidate: 0.07% on ``examples/pivot_2026``).
        """
        largest = -math.inf
        try:
            for number, (future, leaf) in enumerate(zip(self.futures, self.leaves), start=1):
                value = self._wait(future)
                if value is not None and value > self.enough():
                    value = self._wait(self._begin(leaf))
                if value is None:
                    return None
                largest = max(largest, value)
                say(f"  bound: leaf {number} of {len(self.futures)}, L {_usd(value)}, largest {_usd(largest)}")
        finally:
            self.worker.shutdown(wait=False, cancel_futures=True)
        return largest

    def _wait(self, future: Future) -> float | None:
        """The leaf's L, None if the deadline passes first."""
        if time.perf_counter() >= self.deadline:
            return None
        try:
            value = future.result(timeout=max(self.deadline - time.perf_counter(), 0.0))
        except FuturesTimeout:
            return None
        # its site LPs may have been stopped short
        return None if time.perf_counter() >= self.deadline else value


class _Enough:
    """The L a leaf needs, read as its site LPs begin: ``LEAF_GAP_SHARE`` of ``mip_gap`` above the plan [objective unit].

    The solve sets ``plan``, the plan's hourly value, once it has one; until then the search's
    best candidate ``best`` stands in for it (+inf before one: every site LP solved to its end).
    The candidate's value is that of the LP before machine counts are floored: the plan's was
    2.3e-6 below it on the 3-site x 12-model year, 0.07% on ``examples/pivot_2026``, where
    :meth:`_LeafBounds.largest` bounds such leaves again.
    """

    def __init__(self, mip_gap: float):
        self.mip_gap, self.best, self.plan = mip_gap, -math.inf, None

    def __call__(self) -> float:
        value = self.best if self.plan is None else self.plan
        return value + LEAF_GAP_SHARE * self.mip_gap * abs(value) if math.isfinite(value) else math.inf


def _leaf_value(hourly: _SiteBound, enough: _Enough, duals, columns, lower, upper, deadline: float) -> float:
    """:class:`_LeafBounds`' work for one leaf: its L, the site LPs one after another, the last stopped at ``enough()``."""
    return hourly.value(duals, columns, lower, upper, deadline, side_by_side=False, enough=enough())


def _usd(value: float) -> str:
    """A bound for a progress line: whole dollars, or the infinity it is."""
    return f"${value:,.0f}" if math.isfinite(value) else f"{value}"


def _priced_rows(duals: np.ndarray, row_lower: np.ndarray, row_upper: np.ndarray) -> tuple[np.ndarray, float]:
    """(y, sum_i max(y_i l_i, y_i u_i)): the duals of a maximisation's rows, 0 where the bound they meet is infinite."""
    y = np.where(((duals > 0) & np.isinf(row_upper)) | ((duals < 0) & np.isinf(row_lower)), 0.0, duals)
    met = np.where(y > 0, row_upper, np.where(y < 0, row_lower, 0.0))  # the bound each y_i meets, finite
    return y, float(y @ met)


def _best_at_bounds(reduced: np.ndarray, scale: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> float:
    """sum_j max {d_j x_j : l_j <= x_j <= u_j} for reduced costs d (inf if a d_j meets an infinite bound).

    A reduced cost is a difference of terms up to ``scale`` in size: within ``DUAL_TOLERANCE`` of
    max(1, scale) it is 0 where it would meet an infinite bound.
    """
    unbounded = np.isinf(np.where(reduced > 0, upper, lower))
    d = np.where(unbounded & (np.abs(reduced) <= DUAL_TOLERANCE * np.maximum(1.0, scale)), 0.0, reduced)
    with np.errstate(invalid="ignore"):
        total = float(np.where(d > 0, d * upper, np.where(d < 0, d * lower, 0.0)).sum())
    return math.inf if math.isnan(total) else total


class _DualValue:
    """The dual value of a session's LP at any row duals: an upper bound on the LP at its current column bounds.

    For max {c x + c0 : l <= A x <= u, xl <= x <= xu} (signs flipped for a minimisation) and
    any y, every feasible x has

        c x + c0 <= c0 + sum_i max(y_i l_i, y_i u_i) + sum_j max {(c - A'y)_j x_j : xl_j <= x_j <= xu_j},

    :class:`_SiteBound`'s bound with every row priced. At an optimal basis's duals it is the LP
    value; at a dual simplex iterate's, an upper bound that falls towards it. +inf where a
    reduced cost meets an infinite column bound beyond the dual tolerance.
    """

    def __init__(self, session: _Session):
        repn = session.repn
        self.session = session
        self.c = session.sign * np.asarray(repn.c, dtype=float)
        self.offset = session.sign * session.offset
        self.rows_t = repn.A.T.tocsr()
        self.rows_t_size = abs(self.rows_t)

    def __call__(self, row_duals: np.ndarray) -> float:
        """Upper bound on the session's LP (in the maximisation's sense) from HiGHS's row duals [objective unit]."""
        session = self.session
        return self.offset + _weak_dual_value(
            self.c, self.rows_t, self.rows_t_size, session.sign * row_duals, session.row_lower, session.row_upper, session.lower, session.upper
        )


def _weak_dual_value(c, rows_t, rows_t_size, duals, row_lower, row_upper, lower, upper) -> float:
    """sum_i max(y_i l_i, y_i u_i) + sum_j max {(c - A'y)_j x_j : xl_j <= x_j <= xu_j} [objective unit].

    An upper bound on max {c x : l <= A x <= u, xl <= x <= xu} at any row duals y (the
    maximisation's), given A' as ``rows_t`` and |A|' as ``rows_t_size``; +inf where a reduced
    cost meets an infinite column bound beyond the dual tolerance.
    """
    y, total = _priced_rows(duals, row_lower, row_upper)
    scale = np.abs(c) + rows_t_size @ np.abs(y)
    return total + _best_at_bounds(c - rows_t @ y, scale, lower, upper)


def _flagged(model: pyo.ConcreteModel, suffix_name: str) -> list[tuple]:
    """(variable, value) for every variable any block's suffix ``suffix_name`` flags with a true value."""
    return [
        (var, value)
        for suffix in model.component_objects(pyo.Suffix, descend_into=True)
        if suffix.local_name == suffix_name
        for var, value in suffix.items()
        if value
    ]


def _floor_and_repair_stages(model: pyo.ConcreteModel) -> dict[int, list]:
    """Variables that any block asked to be solved continuous, then floored, by stage (in order).

    A block may flag a whole indexed variable: its continuous members are floored.
    """
    stages: dict[int, list] = {}
    for flagged, stage in _flagged(model, "floor_and_repair"):
        variables = object_array(flagged.values() if flagged.is_indexed() else (flagged,))
        # integrality asked per domain: per variable it took 0.4 s over a year's 333,000 counts
        fixed = np.fromiter(map(attrgetter("fixed"), variables), dtype=bool, count=len(variables))
        relaxed = variables[~fixed & ~integer_columns(variables)].tolist()
        if relaxed:
            stages.setdefault(int(stage), []).extend(relaxed)
    return dict(sorted(stages.items()))


def _monthly_decisions(model: pyo.ConcreteModel) -> list:
    """Variables any block flagged as monthly decisions (the same names on any clock)."""
    return [var for var, _ in _flagged(model, "monthly_decision")]


def _relative_gap(objective: float, bound: float) -> float:
    if not math.isfinite(bound):
        return math.inf
    difference = abs(bound - objective)
    if difference <= 1e-9 * max(1.0, abs(bound)):
        return 0.0
    return difference / abs(objective) if objective else math.inf


def _compile(model: pyo.ConcreteModel) -> _Problem:
    """The model compiled for HiGHS (see :class:`_Problem`)."""
    with PauseGC():
        return _Problem.of(compile_matrices(model))


@dataclass(frozen=True)
class _Problem:
    """A compiled model and the arrays HiGHS takes with it: the bounds and which columns are integer.

    Attributes
    ----------
    repn : Matrices
        The compiled model (columns, objective, rows).
    col_lower, col_upper, row_lower, row_upper : numpy.ndarray
        Bounds of each column and row, infinite where there is none.
    integer : numpy.ndarray of bool
        Whether each column is integer.
    """

    repn: Matrices
    col_lower: np.ndarray
    col_upper: np.ndarray
    row_lower: np.ndarray
    row_upper: np.ndarray
    integer: np.ndarray

    @classmethod
    def of(cls, repn: Matrices) -> _Problem:
        col_lower, col_upper, integer = column_bounds(repn.columns)
        return cls(repn, col_lower, col_upper, *_row_bounds(repn), integer)

    @property
    def bounds(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Column lower and upper bounds, then row lower and upper bounds (``_worst_violation``'s order)."""
        return self.col_lower, self.col_upper, self.row_lower, self.row_upper

    def pass_to(self, highs: highspy.Highs, relaxed: bool = False) -> None:
        """Pass the model to ``highs``, integers relaxed if ``relaxed``.

        HiGHS takes the arrays as they are; filling a ``HighsLp`` first copied each array
        element by element (0.25 s on a 3-site x 12-model year).
        """
        A = self.repn.A
        sense = highspy.ObjSense.kMaximize if self.repn.sense == pyo.maximize else highspy.ObjSense.kMinimize
        integrality = np.zeros(len(self.integer), dtype=np.int32) if relaxed else self.integer.astype(np.int32)
        status = highs.passModel(
            A.shape[1], A.shape[0], A.nnz, highspy.MatrixFormat.kColwise.value, sense.value, self.repn.offset,
            self.repn.c, self.col_lower, self.col_upper, self.row_lower, self.row_upper,
            A.indptr.astype(np.int32, copy=False), A.indices.astype(np.int32, copy=False), A.data, integrality,
        )
        if status == highspy.HighsStatus.kError:
            raise RuntimeError(f"HiGHS refused the compiled model ({A.shape[0]:,} rows, {A.shape[1]:,} columns)")


def _new_highs() -> highspy.Highs:
    """A new HiGHS instance; the process's first is made with HiGHS's banner sent to stderr."""
    _make_first_instance()
    return highspy.Highs()


@functools.cache
def _make_first_instance() -> None:
    """Make the process's first HiGHS instance with its standard output sent to standard error.

    highspy 1.16 writes its banner ("Running HiGHS ...") to the process's standard output as the
    first instance is made, before any option can silence it, and hashplan's standard output
    is its results (``hashplan run``'s summary): the banner goes with the progress messages.
    """
    sys.stdout.flush()
    try:
        saved = os.dup(1)
    except OSError:  # no standard output: the banner goes nowhere anyway
        highspy.Highs()
        return
    try:
        os.dup2(2, 1)
        highspy.Highs()
        # C's stdout buffers what HiGHS wrote when it is not a terminal: out before fd 1 is restored
        fflush = c_function("fflush")
        if fflush is not None:
            fflush(None)
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def _highs(options: SolverOptions, time_limit_s: float) -> highspy.Highs:
    """A quiet, deterministic HiGHS instance with the case's solver options."""
    highs = _new_highs()
    highs.setOptionValue("output_flag", False)
    highs.setOptionValue("time_limit", float(time_limit_s))
    highs.setOptionValue("mip_rel_gap", float(options.mip_gap))
    highs.setOptionValue("random_seed", 0)
    if options.threads:
        highs.setOptionValue("threads", int(options.threads))
    return highs


def _row_bounds(repn) -> tuple[np.ndarray, np.ndarray]:
    """Row lower and upper bounds of a compiled model (infinite where none)."""
    rhs = np.asarray(repn.rhs, dtype=float)
    kind = repn.rows.bound_types
    row_lower = np.where(kind >= 0, np.where(kind == 0, rhs, -math.inf), rhs)
    row_upper = np.where(kind <= 0, np.where(kind == 0, rhs, math.inf), rhs)
    return row_lower, row_upper


def _load_unused(model: pyo.ConcreteModel, solved: set[int]) -> None:
    """Variables the compiler dropped (in no constraint, zero cost) take the bound nearest 0."""
    for var in model.component_data_objects(pyo.Var, descend_into=True):
        if var.fixed or id(var) in solved:
            continue
        lower = -math.inf if var.lb is None else var.lb
        upper = math.inf if var.ub is None else var.ub
        var.set_value(min(max(0.0, lower), upper), skip_validation=True)


def _status_name(status: highspy.HighsModelStatus) -> str:
    return {
        highspy.HighsModelStatus.kInfeasible: "infeasible",
        highspy.HighsModelStatus.kUnbounded: "unbounded",
        highspy.HighsModelStatus.kUnboundedOrInfeasible: "infeasible_or_unbounded",
        highspy.HighsModelStatus.kTimeLimit: "time_limit",
    }.get(status, "numerical_trouble")


def _no_plan_message(status: highspy.HighsModelStatus, options: SolverOptions) -> str:
    if status == highspy.HighsModelStatus.kTimeLimit:
        return f"no feasible plan found within solver.time_limit_s = {options.time_limit_s:g} s; raise the time limit"
    if status == highspy.HighsModelStatus.kInfeasible:
        return "the case has no feasible plan; check the limits that constrain it"
    if status in (highspy.HighsModelStatus.kUnbounded, highspy.HighsModelStatus.kUnboundedOrInfeasible):
        return "the model is unbounded or infeasible: some quantity has no limit; check interconnects and counts"
    return (
        f"HiGHS could not solve the model reliably (status {status.name}): numerical trouble; "
        "check for inputs many orders of magnitude apart (prices, counts, amounts)"
    )


def plan_violation(model: pyo.ConcreteModel) -> float:
    """Largest amount by which the loaded plan breaks a row or a variable bound of the model [row units].

    An independent re-check of a plan against the full model: every constraint is compiled
    afresh and evaluated at the variables' values, with no solver involved. (The compiler is
    ``optimizer.matrix``, tested against Pyomo's own on every kind of model the product builds;
    Pyomo's took 14 s where it takes 3 s on a 3-site x 12-model year.)
    """
    repn = compile_matrices(model)
    if not repn.columns:
        return 0.0
    return _worst_violation(repn, np.array([var.value for var in repn.columns], dtype=float), _Problem.of(repn).bounds)


def _worst_violation(repn, x: np.ndarray, bounds: tuple[np.ndarray, ...], relative: bool = False) -> float:
    """Largest amount by which ``x`` breaks a row or column bound of a compiled model (``_Problem.bounds``'s order), [row units]
    or, ``relative``, as a share of the bound broken (at least 1) [-]."""
    col_lower, col_upper, row_lower, row_upper = bounds

    def worst(value: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> float:
        below, above = lower - value, value - upper
        if relative:
            # an infinite bound stays as it is (inf / inf would be nan); a value without one (nan) still shows
            with np.errstate(invalid="ignore"):
                below = np.where(np.isinf(lower), below, below / np.maximum(1.0, np.abs(lower)))
                above = np.where(np.isinf(upper), above, above / np.maximum(1.0, np.abs(upper)))
        return float(np.max(np.maximum(below, above), initial=0.0))

    return max(worst(x, col_lower, col_upper), worst(repn.A @ x, row_lower, row_upper))
