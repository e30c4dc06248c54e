"""The dispatch clock as Pyomo sets."""

from __future__ import annotations

import calendar

import numpy as np
import pyomo.environ as pyo

from models.expr import linear
from optimizer.case import Case


def add_time(model: pyo.ConcreteModel, case: Case) -> pyo.Block:
    """Dispatch periods.

    Sets
    ----
    PERIODS : t = 0 .. n-1, the dispatch periods in time order.
    DAYS : d, the local calendar days the periods start on (the treasury clock).

    Data
    ----
    period_hours[t] : length of period t [h] (23/25-hour days stay exact across DST).
    day_of_period[t] : the day d that period t starts on.
    """
    block = pyo.Block(concrete=True)
    model.time = block
    block.PERIODS = pyo.RangeSet(0, case.grid.n_periods - 1)
    block.DAYS = pyo.RangeSet(0, len(case.grid.days) - 1)
    block.period_hours = case.grid.hours
    block.day_of_period = case.grid.day_of_period
    return block


def cash_flow_by_day(block: pyo.Block, per_period_coefs: np.ndarray, variables_by_period: list[list], constant_by_period: np.ndarray) -> None:
    """Give ``block`` the Expression ``cash_flow_usd[d]``: its cash in (+) or out (-) on day d [USD].

    ``per_period_coefs[t]`` are the coefficients of ``variables_by_period[t]`` in period t's
    cash flow and ``constant_by_period[t]`` its fixed part; the treasury sums every block's
    ``cash_flow_usd`` into its cash roll-forward.
    """
    time = block.model().time
    first = np.searchsorted(time.day_of_period, np.arange(len(time.DAYS) + 1))

    def day_flow(_, d):
        periods = range(first[d], first[d + 1])
        coefs = np.concatenate([per_period_coefs[t] for t in periods]) if len(periods) else np.array([])
        variables = [v for t in periods for v in variables_by_period[t]]
        return linear(coefs, variables, float(constant_by_period[first[d] : first[d + 1]].sum()))

    block.cash_flow_usd = pyo.Expression(time.DAYS, rule=day_flow)


def day_share_of_month(case: Case) -> np.ndarray:
    """Hours of each treasury day inside the horizon over the hours of its calendar month [-].

    Monthly amounts (opex, lease rates, maintenance) accrue pro rata to it.
    """
    grid = case.grid
    hours_in_day = np.bincount(grid.day_of_period, weights=grid.hours, minlength=len(grid.days))
    month_hours = np.array([24.0 * calendar.monthrange(day.year, day.month)[1] for day in grid.days])
    return hours_in_day / month_hours


def add_daily_lines(block: pyo.Block, lines: dict[str, list[tuple[int, float, object]]], non_cash: tuple[str, ...] = ()) -> None:
    """Give ``block`` its P&L lines, each also by day, and the cash they move.

    ``lines[name]`` holds ``(day, amount per unit, variable)`` terms [USD/unit], positive for the
    line's own direction (a cost's amount is what it costs).
    For each name the block gets the scalar Expression ``name`` (a P&L line: a revenue if it
    ends in ``_revenue_usd``, else a cost) and ``name_by_day[d]``; ``cash_flow_usd[d]`` adds the
    revenues and subtracts the costs of day d, except lines in ``non_cash`` (valuations).
    """
    days = block.model().time.DAYS
    by_day = {}
    for name, terms in lines.items():
        grouped = [([], []) for _ in days]
        for day, amount, variable in terms:
            grouped[day][0].append(amount)
            grouped[day][1].append(variable)
        by_day[name] = grouped
        block.add_component(name, pyo.Expression(expr=linear([t[1] for t in terms], [t[2] for t in terms])))
        block.add_component(f"{name}_by_day", pyo.Expression(days, rule=lambda _, d, g=grouped: linear(g[d][0], g[d][1])))

    def cash_flow(_, d):
        coefs, variables = [], []
        for name, grouped in by_day.items():
            if name in non_cash:
                continue
            sign = 1.0 if name.endswith("_revenue_usd") else -1.0
            coefs += [sign * a for a in grouped[d][0]]
            variables += grouped[d][1]
        return linear(coefs, variables)

    block.cash_flow_usd = pyo.Expression(days, rule=cash_flow)
