"""Machines running per site, model, mode and dispatch period, and what they mine."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pyomo.environ as pyo

from models.expr import linear
from models.time import cash_flow_by_day
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


def add_switching(model: pyo.ConcreteModel, case: Case) -> pyo.Block | None:
    """Anti-cycling: a cost per MW switched and minimum run and off times, per machine class.

    Sets
    ----
    CLASSES_SW : k, the classes at sites with ``anti_cycling``; t >= 1 (the first period is
    taken as continuing the state before the horizon).

    Variables
    ---------
    started[k, t], stopped[k, t] >= 0 : machines switched on / off at the start of t [units]

    Constraints
    -----------
    count_started[k, t] : started[k, t] >= running[k, t] - running[k, t-1]
    count_stopped[k, t] : stopped[k, t] >= running[k, t-1] - running[k, t]
    min_run[k, t] : running[k, t] >= sum_{tau = t-U+1 .. t} started[k, tau]        (U > 1)
    min_off[k, t] : N_k - running[k, t] >= sum_{tau = t-D+1 .. t} stopped[k, tau]  (D > 1)
        N_k the machines of the class's model installed at the site. With U or D above 1 the
        class's counts are integer: flooring relaxed counts could break these rows.

    Expressions
    -----------
    switching_cost_usd = sum_{k,t} c_s P_k / 1e6 (started[k, t] + stopped[k, t])    [USD]
    cash_flow_usd[d] = -(that cost over the periods of day d)                       [USD]
    """
    sites = {s.name: s.power.anti_cycling for s in case.spec.sites if s.power.anti_cycling is not None}
    if not sites:
        return None
    block = pyo.Block(concrete=True)
    model.switching = block
    fleet = model.fleet
    classes = case.machine_classes
    n = case.grid.n_periods
    block.CLASSES_SW = pyo.Set(initialize=[k for k, c in enumerate(classes) if c.site in sites])
    block.LATER_PERIODS = pyo.RangeSet(1, n - 1) if n > 1 else pyo.Set(initialize=[])
    block.started = pyo.Var(block.CLASSES_SW, block.LATER_PERIODS, domain=pyo.NonNegativeReals)
    block.stopped = pyo.Var(block.CLASSES_SW, block.LATER_PERIODS, domain=pyo.NonNegativeReals)
    block.count_started = pyo.Constraint(
        block.CLASSES_SW, block.LATER_PERIODS, rule=lambda b, k, t: b.started[k, t] >= fleet.running[k, t] - fleet.running[k, t - 1]
    )
    block.count_stopped = pyo.Constraint(
        block.CLASSES_SW, block.LATER_PERIODS, rule=lambda b, k, t: b.stopped[k, t] >= fleet.running[k, t - 1] - fleet.running[k, t]
    )

    def window(k, t, length, variable):
        return sum(variable[k, tau] for tau in range(max(1, t - length + 1), t + 1))

    def min_run(b, k, t):
        """A machine switched on stays on for the minimum run time."""
        length = sites[classes[k].site].min_run_periods
        return pyo.Constraint.Skip if length == 1 else fleet.running[k, t] >= window(k, t, length, b.started)

    def min_off(b, k, t):
        """A machine switched off stays off for the minimum off time."""
        length = sites[classes[k].site].min_off_periods
        return pyo.Constraint.Skip if length == 1 else classes[k].installed - fleet.running[k, t] >= window(k, t, length, b.stopped)

    block.min_run = pyo.Constraint(block.CLASSES_SW, block.LATER_PERIODS, rule=min_run)
    block.min_off = pyo.Constraint(block.CLASSES_SW, block.LATER_PERIODS, rule=min_off)
    for k in block.CLASSES_SW:
        rules = sites[classes[k].site]
        if rules.min_run_periods > 1 or rules.min_off_periods > 1:
            for t in range(n):
                var = fleet.running[k, t]
                var.domain = pyo.NonNegativeIntegers
                if var in fleet.floor_and_repair:
                    del fleet.floor_and_repair[var]

    usd_per_machine = {k: sites[classes[k].site].switching_cost_usd_per_mw * classes[k].power_w / 1e6 for k in block.CLASSES_SW}
    coefs = [[usd_per_machine[k] for k in block.CLASSES_SW for _ in (0, 1)] if t else [] for t in range(n)]
    variables = [[v for k in block.CLASSES_SW for v in (block.started[k, t], block.stopped[k, t])] if t else [] for t in range(n)]
    block.switching_cost_usd = pyo.Expression(
        expr=linear(np.concatenate([np.asarray(c, dtype=float) for c in coefs]), [v for vs in variables for v in vs])
    )
    cash_flow_by_day(block, [-np.asarray(c, dtype=float) for c in coefs], variables, np.zeros(n))
    return block
