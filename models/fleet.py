"""Machines running per site, model, mode and dispatch period, and what they mine."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pyomo.environ as pyo

from models.expr import linear
from optimizer.case import Case


def add_fleet(model: pyo.ConcreteModel, case: Case) -> pyo.Block:
    """Dispatch of the installed fleet.

    Sets
    ----
    CLASSES : k, one per (site, model, mode) with machines installed.
    PERIODS : t, from the time block.
    GROUPS : g, one per (site, model) with more than one mode.

    Variables
    ---------
    running[k, t] in [0, N_k] : machines of class k running in period t [units], where N_k is
        the count installed. Integer for classes of at most ``solver.integer_below_units``
        machines or when ``solver.integer_strategy`` is ``integer``; otherwise continuous and
        marked in the ``floor_and_repair`` suffix (the solver floors them and re-solves).

    Constraints
    -----------
    machines_within_installed[g, t] : sum_{k in g} running[k, t] <= N_g
        (a machine runs in one mode at a time; single-mode classes use the variable bound).

    Data
    ----
    classes_at_site[s] : the classes k at site s; class_power_mw[k] = P_k / 1e6 [MW];
    btc_per_machine[k, t] = H_k * b_t [BTC].

    Expressions
    -----------
    it_load_mw[s, t] = sum_{k at s} P_k / 1e6 * running[k, t]                       [MW]
    hashrate_ths[s, t] = sum_{k at s} H_k * running[k, t]                           [TH/s]
    btc_mined = sum_{k, t} H_k * b_t * running[k, t]                                [BTC]
    mining_revenue_usd = sum_{k, t} H_k * b_t * p_t * running[k, t]                 [USD]

    with P_k the power [W] and H_k the hashrate [TH/s] of class k, b_t the expected BTC per
    TH/s in period t after pool fee [BTC/(TH/s)] and p_t the BTC price [USD/BTC].
    """
    block = pyo.Block(concrete=True)
    model.fleet = block
    classes = case.machine_classes
    periods = model.time.PERIODS
    solver = case.spec.solver
    block.CLASSES = pyo.RangeSet(0, len(classes) - 1)

    def domain(_, k, t):
        integer = solver.integer_strategy == "integer" or classes[k].installed <= solver.integer_below_units
        return pyo.NonNegativeIntegers if integer else pyo.NonNegativeReals

    block.running = pyo.Var(block.CLASSES, periods, domain=domain, bounds=lambda _, k, t: (0, classes[k].installed))
    block.floor_and_repair = pyo.Suffix(direction=pyo.Suffix.LOCAL)
    for var in block.running.values():
        if var.domain is pyo.NonNegativeReals:
            block.floor_and_repair[var] = True

    groups = defaultdict(list)
    for k, c in enumerate(classes):
        groups[(c.site, c.model)].append(k)
    multi_mode = {g: ks for g, ks in groups.items() if len(ks) > 1}
    block.GROUPS = pyo.Set(initialize=sorted(multi_mode), dimen=2)

    def machines_within_installed(b, site, machine_model, t):
        """A machine runs in at most one mode at a time."""
        ks = multi_mode[(site, machine_model)]
        return linear(np.ones(len(ks)), [b.running[k, t] for k in ks]) <= classes[ks[0]].installed

    block.machines_within_installed = pyo.Constraint(block.GROUPS, periods, rule=machines_within_installed)

    by_site = defaultdict(list)
    for k, c in enumerate(classes):
        by_site[c.site].append(k)
    sites = [s.name for s in case.spec.sites]
    power_mw = np.array([c.power_w / 1e6 for c in classes])
    hashrate = np.array([c.hashrate_th for c in classes])
    block.classes_at_site = {s: by_site[s] for s in sites}
    block.class_power_mw = power_mw
    block.it_load_mw = pyo.Expression(
        sites, periods, rule=lambda b, s, t: linear(power_mw[by_site[s]], [b.running[k, t] for k in by_site[s]])
    )
    block.hashrate_ths = pyo.Expression(
        sites, periods, rule=lambda b, s, t: linear(hashrate[by_site[s]], [b.running[k, t] for k in by_site[s]])
    )

    n = case.grid.n_periods
    all_running = [block.running[k, t] for k in range(len(classes)) for t in range(n)]
    block.btc_per_machine = np.outer(hashrate, case.network.btc_per_th)
    block.btc_mined = pyo.Expression(expr=linear(block.btc_per_machine.ravel(), all_running))
    block.mining_revenue_usd = pyo.Expression(expr=linear((block.btc_per_machine * case.network.btc_price_usd).ravel(), all_running))
    return block
