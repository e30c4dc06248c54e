"""The dispatch clock as Pyomo sets."""

from __future__ import annotations

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
