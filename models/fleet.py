"""Machines running per site, model, mode and dispatch period, and what they mine."""

from __future__ import annotations

from collections import defaultdict
from itertools import repeat

import numpy as np
import pyomo.environ as pyo

from models.expr import MatrixRows, linear, sparse_from_runs
from models.time import add_daily_lines, cash_flow_by_day, day_share_of_month
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
    running[k, t] in [0, a_k N_k] : machines of class k running in period t [units], where N_k
        is the count installed and a_k the model's availability; for a (site, model) with a
        purchase or retirement option the bound is its capacity and the renewal block limits it.
        Integer for classes of at most ``solver.integer_below_units`` machines (capacity) or
        when ``solver.integer_strategy`` is ``integer``; otherwise continuous. ``running`` is
        flagged as a whole in the ``floor_and_repair`` suffix at stage 2: the solver floors its
        continuous members and re-solves.

    Constraints
    -----------
    machines_within_installed[g, t] : sum_{k in g} running[k, t] <= a_g N_g
        (a machine runs in one mode at a time; single-mode classes use the variable bound).

    Data
    ----
    running_array : the ``running`` variables as a K x T array, for blocks to slice;
    classes_at_site[s] : the classes k at site s; class_power_mw[k] = P_k / 1e6 [MW];
    hashrate_per_machine_ths[k, t] = H_k (1 - r_k)^{e(t)} [TH/s], r_k the model's monthly
    degradation and e(t) the calendar months begun since the horizon's first (its epoch); btc_per_machine[k, t] =
    hashrate_per_machine_ths[k, t] * b_t [BTC].

    Expressions
    -----------
    mining_revenue_usd = sum_{k, t} btc_per_machine[k, t] * p_t * running[k, t]     [USD]

    with P_k the power [W] and H_k the hashrate [TH/s] of class k, b_t the expected BTC per
    TH/s in period t after pool fee [BTC/(TH/s)] and p_t the BTC price [USD/BTC].
    """
    block = pyo.Block(concrete=True)
    model.fleet = block
    classes = case.machine_classes
    periods = model.time.PERIODS
    solver = case.spec.solver
    block.CLASSES = pyo.RangeSet(0, len(classes) - 1)

    renewing = set(renewal_groups(case))
    models = {m.name: m for m in case.spec.miner_models}
    upper = [c.capacity if (c.site, c.model) in renewing else models[c.model].availability * c.installed for c in classes]

    # constant domain and bounds, then each class's own: Pyomo would call a domain and a bounds
    # rule once per variable, 333,000 of them on a 3-site x 12-model year
    block.running = pyo.Var(block.CLASSES, periods, domain=pyo.NonNegativeReals, bounds=(0, None))
    # the same variables as a K x T array: blocks take them in bulk instead of through Pyomo's
    # indexing, which cost 4.8 s of a 3-site x 12-model year's build (3 million look-ups)
    block.running_array = np.fromiter(block.running.values(), dtype=object, count=len(block.running)).reshape(len(classes), len(periods))
    running = block.running_array
    for k, c in enumerate(classes):
        domain = count_domain(solver, c.capacity)
        for var in running[k]:
            # what setub stores for a number, without its checks (0.3 s over a year's variables)
            var._ub = upper[k]
            if domain is not pyo.NonNegativeReals:
                var.domain = domain
    # the continuous counts are floored after the monthly decisions (stage 1), which set how
    # many are installed; flagged as one component, not 333,000 entries (0.6 s on a year)
    block.floor_and_repair = pyo.Suffix(direction=pyo.Suffix.LOCAL)
    block.floor_and_repair.set_value(block.running, 2, expand=False)

    multi_mode = {g: ks for g, ks in case.classes_by_group.items() if len(ks) > 1 and g not in renewing}
    block.GROUPS = pyo.Set(initialize=sorted(multi_mode), dimen=2)

    def machines_within_installed(b, site, machine_model, t):
        """A machine runs in at most one mode at a time."""
        ks = multi_mode[(site, machine_model)]
        return linear(np.ones(len(ks)), running[ks, t]) <= upper[ks[0]]

    block.machines_within_installed = pyo.Constraint(block.GROUPS, periods, rule=machines_within_installed)

    by_site = defaultdict(list)
    for k, c in enumerate(classes):
        by_site[c.site].append(k)
    sites = [s.name for s in case.spec.sites]
    power_mw = np.array([c.power_w / 1e6 for c in classes])
    hashrate = np.array([c.hashrate_th for c in classes])
    block.classes_at_site = {s: by_site[s] for s in sites}
    block.class_power_mw = power_mw

    months = case.grid.epoch_of_day[case.grid.day_of_period]
    retained = np.array([1.0 - models[c.model].degradation_per_month for c in classes])[:, None] ** months[None, :]
    block.hashrate_per_machine_ths = hashrate[:, None] * retained
    block.btc_per_machine = block.hashrate_per_machine_ths * case.network.btc_per_th
    block.mining_revenue_usd = pyo.Expression(expr=linear((block.btc_per_machine * case.network.btc_price_usd).ravel(), running.ravel()))
    return block


def add_in_service_rows(block: pyo.Block, case: Case, running: np.ndarray, installed: np.ndarray) -> None:
    """``machines_within_installed_fleet[site, model, t]``: sum_{k in g} running[k, t] <= a_g installed[g, d(t)].

    One row per renewal group g and period t, as :class:`MatrixRows`: the 333,000 rows of a
    3-site x 12-model year take 0.27 s to build this way and 0.1 s to hand off, against 5 s
    and 3.5 s as expression rows. ``running`` is the fleet's K x T array of variables and
    ``installed`` the renewal block's group x day array.
    """
    groups = list(block.GROUPS_R)
    models = {m.name: m for m in case.spec.miner_models}
    n_days, n_periods = len(case.grid.days), case.grid.n_periods
    day_of_period = np.asarray(case.grid.day_of_period)
    periods = np.arange(n_periods)
    keys, rows, columns, values = [], [], [], []
    for i, g in enumerate(groups):
        keys.extend(zip(repeat(g[0]), repeat(g[1]), range(n_periods)))
        for k in case.classes_by_group[g]:
            rows.append(i * n_periods + periods)
            columns.append(k * n_periods + periods)
            values.append(np.ones(n_periods))
        rows.append(i * n_periods + periods)
        columns.append(running.size + i * n_days + day_of_period)
        values.append(np.full(n_periods, -models[g[1]].availability))
    block.machines_within_installed_fleet = MatrixRows(
        keys,
        sparse_from_runs(rows, columns, values, (len(keys), running.size + installed.size)),
        np.full(len(keys), -np.inf),
        np.zeros(len(keys)),
        np.concatenate([running.ravel(), installed.ravel()]),
        doc="Machines run only while installed and available; a machine runs in one mode at a time.",
    )


def count_domain(solver, most: int):
    """Integer for a count of at most ``solver.integer_below_units`` (or with ``integer_strategy:
    integer``); otherwise continuous, for the solver to floor."""
    integer = solver.integer_strategy == "integer" or most <= solver.integer_below_units
    return pyo.NonNegativeIntegers if integer else pyo.NonNegativeReals


def renewal_groups(case: Case) -> list[tuple[str, str]]:
    """The (site, model) pairs whose installed count the plan decides: those with a purchase or retirement option."""
    keys = [(p.site, p.model) for p in case.spec.purchases] + [(r.site, r.model) for r in case.spec.retirements]
    return list(dict.fromkeys(keys))


def purchase_price_usd(case: Case, purchase) -> float:
    """Price of one machine of a purchase option [USD/unit]: its own, per TH/s, or the model's."""
    model = next(m for m in case.spec.miner_models if m.name == purchase.model)
    if purchase.price_usd is not None:
        return purchase.price_usd
    if purchase.price_usd_per_th is not None:
        return purchase.price_usd_per_th * model.hashrate_th
    return model.price_usd


def order_arrival_days(case: Case, lead_time_days: int) -> dict[int, int]:
    """Epoch e -> the treasury day on which something ordered on e's first day arrives, if inside the horizon."""
    first = case.grid.epoch_first_day
    return {e: int(first[e]) + lead_time_days for e in range(len(first)) if first[e] + lead_time_days < len(case.grid.days)}


def add_renewal(model: pyo.ConcreteModel, case: Case) -> pyo.Block | None:
    """Installed fleet rolled forward day by day: machines bought and retired at month starts.

    Sets
    ----
    GROUPS_R : g = (site, model) with a purchase or retirement option.
    ORDERS : (p, e), purchase option p ordered on the first day of epoch e (month), for the
        epochs whose machines arrive inside the horizon: on day delta_{p,e} = first day + L_p.
    RETIREMENTS : (r, e), retirement option r on the first day of epoch e.
    DAYS : d, the treasury days.

    Variables
    ---------
    bought[p, e] in [0, M_p], retired[r, e] in [0, R_r]                                 [units]
        integer when the bound is at most ``solver.integer_below_units`` (or with
        ``integer_strategy: integer``); otherwise relaxed and floored first by the solver
        (``floor_and_repair`` stage 1, before the machine counts running), as machine counts
        in the thousands lose almost nothing to flooring. Both are flagged ``monthly_decision``.
    installed[g, d] in [0, C_g]  machines of g in service on day d                      [units]
        C_g = N_g + sum_{p of g} M_p, the group's ``capacity``: a bound the rows below imply,
        stated so that every column of a site's LP has two finite bounds. A warm dual simplex
        then starts dual feasible by moving columns to their other bound, without a dual phase
        1; on the 3-site x 12-model year the leaf bounds' two sites without halls took 6.2 s
        instead of 16.5 s (``bench/leaves.py``).

    Constraints
    -----------
    units_ordered_within_limit[p] : m_p <= sum_e bought[p, e] <= M_p  (m_p the units committed to)
    retirements_within_limit[r] : sum_e retired[r, e] <= R_r  (when ``max_units`` is given)
    installed_roll_forward[g, d] : installed[g, d] = installed[g, d-1]
        + sum_{(p,e) of g, delta_{p,e} = d} bought[p, e] - sum_{(r,e) of g, first day of e = d} retired[r, e]
        with installed[g, -1] = N_g, the count at the horizon start
    machines_within_installed_fleet[g, t] : sum_{k in g} running[k, t] <= a_g installed[g, d(t)]
        (a_g the model's availability)

    Expressions (each also per day as ``<name>_by_day[d]``)
    -----------
    machine_capex_cost_usd = sum_{p,e} c_p bought[p, e], paid on the order or delivery day  [USD]
    resale_proceeds_revenue_usd = sum_{r,e} v_g retired[r, e]                              [USD]
    fleet_maintenance_cost_usd = sum_{g,d} m w_d installed[g, d]                            [USD]
        m maintenance [USD/machine-month], w_d the day's share of its month
    fleet_terminal_value_revenue_usd = sum_{g retirable} v_g installed[g, D]                [USD]
        what retiring the machines on the last day would fetch, so that a plan does not sell
        the fleet at the end only because held machines count for nothing
    cash_flow_usd[d] = capex, resale and maintenance of day d (not the terminal value)   [USD]
    """
    groups = renewal_groups(case)
    if not groups:
        return None
    block = pyo.Block(concrete=True)
    model.renewal = block
    spec, grid = case.spec, case.grid
    fleet = model.fleet
    days = model.time.DAYS
    n_days = len(grid.days)
    models = {m.name: m for m in spec.miner_models}
    installed0 = {(e.site, e.model): e.count for e in spec.fleet}
    first_day = grid.epoch_first_day

    arrivals = [order_arrival_days(case, p.lead_time_days) for p in spec.purchases]
    block.GROUPS_R = pyo.Set(initialize=groups, dimen=2, ordered=True)
    block.ORDERS = pyo.Set(initialize=[(p, e) for p, arrive in enumerate(arrivals) for e in arrive], dimen=2, ordered=True)
    block.RETIREMENTS = pyo.Set(initialize=[(r, e) for r in range(len(spec.retirements)) for e in range(len(first_day))], dimen=2, ordered=True)
    classes = case.machine_classes
    capacity = {g: classes[ks[0]].capacity for g, ks in case.classes_by_group.items()}
    retire_max = [r.max_units if r.max_units is not None else capacity[(r.site, r.model)] for r in spec.retirements]
    solver = spec.solver
    block.bought = pyo.Var(
        block.ORDERS, domain=lambda _, p, e: count_domain(solver, spec.purchases[p].max_units), bounds=lambda _, p, e: (0, spec.purchases[p].max_units)
    )
    block.retired = pyo.Var(block.RETIREMENTS, domain=lambda _, r, e: count_domain(solver, retire_max[r]), bounds=lambda _, r, e: (0, retire_max[r]))
    block.floor_and_repair = pyo.Suffix(direction=pyo.Suffix.LOCAL)
    block.monthly_decision = pyo.Suffix(direction=pyo.Suffix.LOCAL)
    for var in [*block.bought.values(), *block.retired.values()]:
        block.monthly_decision[var] = True
        if var.domain is pyo.NonNegativeReals:
            block.floor_and_repair[var] = 1
    block.installed = pyo.Var(block.GROUPS_R, days, domain=pyo.NonNegativeReals, bounds=lambda _, site, machine_model, d: (0, capacity[site, machine_model]))
    # as a group x day array, taken in bulk instead of through Pyomo's indexing (0.25 s on a year)
    installed = np.fromiter(block.installed.values(), dtype=object, count=len(block.installed)).reshape(len(groups), n_days)

    block.units_ordered_within_limit = pyo.Constraint(
        range(len(spec.purchases)),
        rule=lambda b, p: (spec.purchases[p].min_units, sum(b.bought[p, e] for e in arrivals[p]), spec.purchases[p].max_units)
        if arrivals[p] else pyo.Constraint.Skip,
    )
    block.retirements_within_limit = pyo.Constraint(
        range(len(spec.retirements)),
        rule=lambda b, r: sum(b.retired[r, e] for e in range(len(first_day))) <= spec.retirements[r].max_units
        if spec.retirements[r].max_units is not None else pyo.Constraint.Skip,
    )
    changes = {g: [([], []) for _ in days] for g in groups}
    for p, e in block.ORDERS:
        purchase = spec.purchases[p]
        changes[(purchase.site, purchase.model)][arrivals[p][e]][0].append(1.0)
        changes[(purchase.site, purchase.model)][arrivals[p][e]][1].append(block.bought[p, e])
    for r, e in block.RETIREMENTS:
        retirement = spec.retirements[r]
        changes[(retirement.site, retirement.model)][first_day[e]][0].append(-1.0)
        changes[(retirement.site, retirement.model)][first_day[e]][1].append(block.retired[r, e])

    group_index = {g: i for i, g in enumerate(groups)}

    def installed_roll_forward(b, site, machine_model, d):
        """Machines in service = the day before + deliveries - retirements."""
        coefs, variables = changes[(site, machine_model)][d]
        today = installed[group_index[site, machine_model]]
        if d:
            return linear([1.0, -1.0, *(-c for c in coefs)], [today[d], today[d - 1], *variables]) == 0.0
        return linear([1.0, *(-c for c in coefs)], [today[d], *variables]) == installed0.get((site, machine_model), 0)

    block.installed_roll_forward = pyo.Constraint(block.GROUPS_R, days, rule=installed_roll_forward)

    add_in_service_rows(block, case, fleet.running_array, installed)

    capex = []
    for p, e in block.ORDERS:
        purchase = spec.purchases[p]
        day = int(first_day[e]) if purchase.capex_paid == "order" else arrivals[p][e]
        capex.append((day, purchase_price_usd(case, purchase), block.bought[p, e]))
    resale = [(int(first_day[e]), models[spec.retirements[r].model].resale_usd or 0.0, block.retired[r, e]) for r, e in block.RETIREMENTS]
    maintenance_usd = spec.opex.maintenance_usd_per_machine_month if spec.opex is not None else 0.0
    share = day_share_of_month(case)
    maintenance = [(d, maintenance_usd * share[d], installed[i, d]) for i in range(len(groups)) for d in days] if maintenance_usd else []
    retirable = {(r.site, r.model) for r in spec.retirements}
    terminal = [(n_days - 1, models[g[1]].resale_usd or 0.0, installed[i, n_days - 1]) for i, g in enumerate(groups) if g in retirable]
    add_daily_lines(
        block,
        {
            "machine_capex_cost_usd": capex,
            "resale_proceeds_revenue_usd": resale,
            "fleet_maintenance_cost_usd": maintenance,
            "fleet_terminal_value_revenue_usd": terminal,
        },
        non_cash=("fleet_terminal_value_revenue_usd",),
    )
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
                fleet.running[k, t].domain = pyo.NonNegativeIntegers

    usd_per_machine = {k: sites[classes[k].site].switching_cost_usd_per_mw * classes[k].power_w / 1e6 for k in block.CLASSES_SW}
    coefs = [[usd_per_machine[k] for k in block.CLASSES_SW for _ in (0, 1)] if t else [] for t in range(n)]
    variables = [[v for k in block.CLASSES_SW for v in (block.started[k, t], block.stopped[k, t])] if t else [] for t in range(n)]
    block.switching_cost_usd = pyo.Expression(
        expr=linear(np.concatenate([np.asarray(c, dtype=float) for c in coefs]), [v for vs in variables for v in vs])
    )
    cash_flow_by_day(block, [-np.asarray(c, dtype=float) for c in coefs], variables, np.zeros(n))
    return block
