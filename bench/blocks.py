"""Research benchmark: price blocks for the year-scale LP, and a bound for the hourly model from them.

Not the product's method (yet): it measures the two pieces a price-block solve would need
(DESIGN.md, "Hours with the same coefficients can be merged"), on ``bench/run.py``'s case.

1. **The blocked LP.** Each local day's hours are grouped into ``--blocks`` blocks common to
   all sites: hours sorted by their mean spot price over the sites, cut where the within-block
   squared price deviation is least (an exact 1-D partition). Each block becomes one period as
   long as its hours, inside its day, so days and months are unchanged: prices and rates are
   hours-weighted means, ``btc_per_th`` (earned over a period) a sum. The unchanged
   ``build_model`` builds it. Running the same machines in every hour of a block is a
   restriction of the hourly model, except for the terminal BTC mark, which the blocked clock
   takes from the last block's mean price rather than the last hour's.
2. **A partial-Lagrangian bound.** The daily and monthly rows (treasury, roll-forwards, halls),
   named alike in both models, are priced at the blocked LP's duals; the hourly rows that keep
   machines within the installed fleet and the site within its interconnect are kept, and with
   them the running, installed and ``converted_mw`` columns (an LP that separates by site and
   month); every other column takes its best bound at its reduced cost. By weak duality the
   sum bounds the hourly LP (reduced costs within 1e-6 of zero on columns without a finite
   bound count as zero: HiGHS's dual tolerance).

It prints both LPs' values and times and the bound with its excess over the hourly LP. Every
integer is relaxed throughout. Run from the repository root:
``python bench/blocks.py [--weeks W] [--models M] [--blocks K] [--skip-hourly]``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import highspy
import numpy as np
import pandas as pd

from models.build import build_model
from optimizer.case import Case, load_case
from optimizer.case.load import merged
from optimizer.case.model import TimeGrid
from optimizer.matrix import Matrices
from optimizer.solve import _compile, _highs, _to_highs_lp
from run import EXAMPLE, write_case

KEPT_ROWS = ("renewal.machines_within_installed_fleet", "power.site_load_within_interconnect")
KEPT_COLUMNS = ("fleet.running", "renewal.installed", "hosting.converted_mw")
ZERO_REDUCED_COST = 1e-6
"""Reduced costs this small are taken as zero [objective unit per column unit]."""


def cuts(prices: np.ndarray, blocks: int) -> list[int]:
    """Row indices cutting ``prices`` (hours x sites, in order) into contiguous groups of least squared deviation."""
    n = len(prices)
    blocks = min(blocks, n)
    total = np.vstack([np.zeros(prices.shape[1]), np.cumsum(prices, axis=0)])
    squares = np.concatenate([[0.0], np.cumsum((prices**2).sum(axis=1))])

    def deviation(i: int, j: int) -> float:
        s = total[j] - total[i]
        return squares[j] - squares[i] - s @ s / (j - i)

    best = np.full((blocks + 1, n + 1), np.inf)
    best[0, 0] = 0.0
    start = np.zeros((blocks + 1, n + 1), dtype=int)
    for g in range(1, blocks + 1):
        for j in range(g, n + 1):
            for i in range(g - 1, j):
                value = best[g - 1, i] + deviation(i, j)
                if value < best[g, j]:
                    best[g, j], start[g, j] = value, i
    edges = [n]
    for g in range(blocks, 0, -1):
        edges.append(start[g, edges[-1]])
    return edges[::-1]


def blocked(case: Case, blocks: int) -> Case:
    """The case with each local day's hours merged into ``blocks`` price blocks, one period each."""
    grid = case.grid
    prices = np.column_stack([case.spot_usd_per_mwh[site] for site in sorted(case.spot_usd_per_mwh)])
    hours = grid.hours
    position = np.empty(grid.n_periods, dtype=int)
    boundaries = [grid.boundaries_utc[0]]
    for day in range(len(grid.days)):
        periods = np.flatnonzero(grid.day_of_period == day)
        order = periods[np.argsort(prices[periods].mean(axis=1), kind="stable")]
        edges = cuts(prices[order], blocks)
        elapsed = 0.0
        for a, b in zip(edges[:-1], edges[1:]):
            position[order[a:b]] = len(boundaries) - 1
            elapsed += hours[order[a:b]].sum()
            boundaries.append(grid.boundaries_utc[periods[0]] + pd.Timedelta(hours=elapsed))
    return merged(case, case.spec, TimeGrid(boundaries_utc=pd.DatetimeIndex(boundaries), timezone=grid.timezone), position)


def relaxed(case: Case):
    """The case's model, compiled, in a HiGHS instance with every integer relaxed."""
    model = build_model(case)
    repn, lp, _ = _compile(model)
    return model, repn, lp, passed_relaxed(lp, case)


def passed_relaxed(lp: highspy.HighsLp, case: Case) -> highspy.Highs:
    """A quiet, deterministic HiGHS instance (the product's own) holding ``lp`` with every integer relaxed."""
    lp.integrality_ = []
    highs = _highs(case.spec.solver, highspy.kHighsInf)
    highs.passModel(lp)
    return highs


def solved(highs: highspy.Highs) -> tuple[float, float]:
    """LP value and seconds of a run."""
    began = time.perf_counter()
    highs.run()
    assert highs.getModelStatus() == highspy.HighsModelStatus.kOptimal, highs.modelStatusToString(highs.getModelStatus())
    return highs.getInfo().objective_function_value, time.perf_counter() - began


def best_at_bounds(d: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> float:
    """Sum over columns of max(d x) for x within its bounds."""
    d = np.where(np.abs(d) <= ZERO_REDUCED_COST, 0.0, d)
    with np.errstate(invalid="ignore"):
        return float(np.where(d > 0, d * upper, np.where(d < 0, d * lower, 0.0)).sum())


def partial_lagrangian(repn, lp, duals: dict, case: Case) -> tuple[float, float]:
    """The bound on the hourly LP from daily and monthly row duals (by row name and bound type), and its seconds."""
    began = time.perf_counter()
    kept_rows = np.array([row.constraint.parent_component().name in KEPT_ROWS for row in repn.rows])
    kept_columns = np.array([var.parent_component().name in KEPT_COLUMNS for var in repn.columns])
    y = np.array([0.0 if kept else duals[(row.constraint.name, row.bound_type)] for row, kept in zip(repn.rows, kept_rows)])
    A = repn.A.tocsr()
    d = repn.c - A[~kept_rows].T @ y[~kept_rows]
    lower, upper = np.asarray(lp.col_lower_), np.asarray(lp.col_upper_)
    priced = repn.offset + repn.rhs[~kept_rows] @ y[~kept_rows] + best_at_bounds(d[~kept_columns], lower[~kept_columns], upper[~kept_columns])
    local = Matrices(
        columns=[var for var, kept in zip(repn.columns, kept_columns) if kept],
        c=d[kept_columns],
        offset=0.0,
        A=A[kept_rows][:, kept_columns].tocsc(),
        rhs=repn.rhs[kept_rows],
        rows=[row for row, kept in zip(repn.rows, kept_rows) if kept],
        sense=repn.sense,
    )
    _, local_lp, _ = _to_highs_lp(local)
    value, _ = solved(passed_relaxed(local_lp, case))
    return priced + value, time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weeks", type=int, help="horizon [weeks] (default: the example's year)")
    parser.add_argument("--models", type=int, default=0, help="catalogue models per site (default 0: the pivot example's own fleet)")
    parser.add_argument("--blocks", type=int, default=6, help="price blocks per day (default 6)")
    parser.add_argument("--skip-hourly", action="store_true", help="do not solve the hourly LP (about 9 minutes at 3 sites x 12 models)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = write_case(Path(folder), args.weeks, args.models) if (args.weeks or args.models) else EXAMPLE / "case.yaml"
        case = load_case(path)
    began = time.perf_counter()
    coarse = blocked(case, args.blocks)
    print(f"{case.grid.n_periods:,} hours -> {coarse.grid.n_periods:,} price blocks in {time.perf_counter() - began:.1f} s")
    # the models stay referenced: rows and columns name themselves through their components
    coarse_model, repn, lp, highs = relaxed(coarse)
    value, seconds = solved(highs)
    print(f"blocked LP: ${value:,.0f} in {seconds:.1f} s ({lp.num_col_:,} columns, {lp.num_row_:,} rows)")
    row_dual = np.asarray(highs.getSolution().row_dual)
    duals = {(row.constraint.name, row.bound_type): float(y) for row, y in zip(repn.rows, row_dual) if row.constraint.parent_component().name not in KEPT_ROWS}
    hourly_model, hourly_repn, hourly_lp, hourly = relaxed(case)
    bound, seconds = partial_lagrangian(hourly_repn, hourly_lp, duals, case)
    print(f"partial-Lagrangian bound on the hourly LP: ${bound:,.0f} in {seconds:.1f} s")
    if not args.skip_hourly:
        exact, seconds = solved(hourly)
        print(f"hourly LP: ${exact:,.0f} in {seconds:.1f} s ({hourly_lp.num_col_:,} columns, {hourly_lp.num_row_:,} rows)")
        print(f"blocked LP {100 * (value - exact) / abs(exact):+.3f}%, bound {100 * (bound - exact) / abs(exact):+.3f}% against the hourly LP")


if __name__ == "__main__":
    main()
