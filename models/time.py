"""The dispatch clock as Pyomo sets."""

from __future__ import annotations

import pyomo.environ as pyo

from optimizer.case import Case


def add_time(model: pyo.ConcreteModel, case: Case) -> pyo.Block:
    """Dispatch periods.

    Sets
    ----
    PERIODS : t = 0 .. n-1, the dispatch periods in time order.

    Data
    ----
    period_hours[t] : length of period t [h] (23/25-hour days stay exact across DST).
    """
    block = pyo.Block(concrete=True)
    model.time = block
    block.PERIODS = pyo.RangeSet(0, case.grid.n_periods - 1)
    block.period_hours = case.grid.hours
    return block
