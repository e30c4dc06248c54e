"""Site power balance, interconnect limit and the cost of energy."""

from __future__ import annotations

from itertools import repeat

import numpy as np
import pyomo.environ as pyo

from models.expr import MatrixRows, linear, sparse_from_runs
from models.time import cash_flow_by_day
from optimizer.case import Case


def add_power(model: pyo.ConcreteModel, case: Case) -> pyo.Block:
    """Power at each site.

    Sets
    ----
    SITES : s.
    PERIODS : t, from the time block.

    Data
    ----
    a_s aux load per MW of IT load [MW/MW]; C_s interconnect [MW]; h_t period length [h];
    pi_{s,t} spot price [USD/MWh]; d_s adders plus delivery charges [USD/MWh]; B_{s,t} the
    fixed blocks' MW in period t and F_{s,t} their take-or-pay cost [USD] (0 without blocks).

    Constraints
    -----------
    site_load_within_interconnect[s, t] : site_load_mw[s, t] + X_{s,d(t)} <= C_s
        with X_{s,d} the hosting block's ``converted_mw`` (0 at sites without AI/HPC halls)

    Data
    ----
    spot_cost_usd_per_machine[k, t] = (1 + a_s) P_k / 1e6 * pi_{s,t} h_t, adder_cost_usd_per_machine[k, t]
    likewise with d_s, block_resale_usd[t] = sum_s B_{s,t} pi_{s,t} h_t, block_cost_usd[t] = sum_s F_{s,t}.

    Expressions
    -----------
    site_load_mw[s, t] = sum_{k at s} (1 + a_s) P_k / 1e6 * running[k, t]               [MW]
        P_k the power of a machine of class k [W]; a :class:`SiteLoad`, each written when asked for
    spot_energy_cost_usd = sum_{s,t} pi_{s,t} h_t (site_load_mw[s, t] - B_{s,t})       [USD]
        energy beyond the blocks is bought at spot; unused block energy is sold back at spot
    energy_adder_cost_usd = sum_{s,t} d_s h_t site_load_mw[s, t]                      [USD]
    fixed_block_cost_usd = sum_{s,t} F_{s,t}  (take-or-pay, a constant)               [USD]
    cash_flow_usd[d] = -(the three costs above, over the periods of day d)           [USD]
    """
    block = pyo.Block(concrete=True)
    model.power = block
    fleet = model.fleet
    periods = model.time.PERIODS
    hours = model.time.period_hours
    sites = case.spec.sites
    block.SITES = pyo.Set(initialize=[s.name for s in sites], ordered=True)

    site_spec = {s.name: s for s in sites}

    classes = case.machine_classes
    load_mw = np.array([(1.0 + site_spec[c.site].aux_load_fraction) * c.power_w / 1e6 for c in classes])
    at_site = fleet.classes_at_site
    block.site_load_mw = SiteLoad(load_mw, at_site, fleet.running_array)
    add_interconnect_rows(block, model, case, load_mw)

    n = len(hours)
    spot = np.array([case.spot_usd_per_mwh[c.site] for c in classes]).reshape(len(classes), n)
    adder = np.array([site_spec[c.site].power.per_mwh_charges_usd for c in classes])[:, None]
    block.spot_cost_usd_per_machine = load_mw[:, None] * spot * hours
    block.adder_cost_usd_per_machine = load_mw[:, None] * adder * hours
    block.block_resale_usd = np.zeros(n)
    block.block_cost_usd = np.zeros(n)
    for site in sites:
        block_mw, block_cost = fixed_block_schedule(case, site.name)
        block.block_resale_usd += block_mw * case.spot_usd_per_mwh[site.name] * hours
        block.block_cost_usd += block_cost
    running = fleet.running_array.ravel()
    block.spot_energy_cost_usd = pyo.Expression(
        expr=linear(block.spot_cost_usd_per_machine.ravel(), running, -float(block.block_resale_usd.sum()))
    )
    block.energy_adder_cost_usd = pyo.Expression(expr=linear(block.adder_cost_usd_per_machine.ravel(), running))
    block.fixed_block_cost_usd = pyo.Expression(expr=float(block.block_cost_usd.sum()))
    energy = energy_cost_usd_per_machine(block)
    cash_flow_by_day(
        block,
        [-energy[:, t] for t in periods],
        fleet.running_array.T.tolist(),
        -energy_cost_constant_usd(block),
    )
    return block


class SiteLoad:
    """``site_load_mw[s, t]``: a site's machine load in a period, auxiliaries included [MW].

    An expression written when asked for, not stored: as a Pyomo Expression per site and
    period it cost 0.25 s of a 3-site year's build, and only the demand-response rows read it
    (the interconnect rows are a matrix of the same coefficients).

    Parameters
    ----------
    load_mw : numpy.ndarray
        Site load of one machine of each class [MW].
    classes_at_site : dict of str to list of int
        The classes k at each site.
    running : numpy.ndarray
        The fleet's K x T array of ``running`` variables.
    """

    def __init__(self, load_mw: np.ndarray, classes_at_site: dict[str, list[int]], running: np.ndarray) -> None:
        self.load_mw, self.classes_at_site, self.running = load_mw, classes_at_site, running

    def __getitem__(self, key: tuple[str, int]):
        site, t = key
        at_site = self.classes_at_site[site]
        return linear(self.load_mw[at_site], self.running[at_site, t])


def add_interconnect_rows(block: pyo.Block, model: pyo.ConcreteModel, case: Case, load_mw: np.ndarray) -> None:
    """``site_load_within_interconnect[s, t]``, one row per site and period, as :class:`MatrixRows`.

    ``load_mw[k]`` is the site load of one machine of class k, auxiliaries included [MW]. As
    rows of a matrix, the 26,000 rows of a 3-site year take no expression each to build or to
    hand off (they took 0.6 s to hand off as expressions).
    """
    fleet = model.fleet
    running = fleet.running_array
    n_periods = running.shape[1]
    hosting = model.component("hosting")
    hosted = set(hosting.SITES_HPC) if hosting is not None else set()
    day_of_period = np.asarray(model.time.day_of_period)
    sites = list(block.SITES)
    keys, rows, columns, values, variables = [], [], [], [], running.ravel().tolist()
    periods = np.arange(n_periods)
    for i, site in enumerate(sites):
        keys.extend(zip(repeat(site), range(n_periods)))
        for k in fleet.classes_at_site[site]:
            rows.append(i * n_periods + periods)
            columns.append(k * n_periods + periods)
            values.append(np.full(n_periods, load_mw[k]))
        if site in hosted:
            rows.append(i * n_periods + periods)
            columns.append(len(variables) + day_of_period)
            values.append(np.ones(n_periods))
            variables.extend(hosting.converted_mw[site, d] for d in model.time.DAYS)
    interconnect = {s.name: s.interconnect_mw for s in case.spec.sites}
    block.site_load_within_interconnect = MatrixRows(
        keys,
        sparse_from_runs(rows, columns, values, (len(keys), len(variables))),
        np.full(len(keys), -np.inf),
        np.repeat([interconnect[s] for s in sites], n_periods),
        variables,
        doc="Machines plus auxiliaries, and the MW converted to hosting, stay within the interconnect.",
    )


def fixed_block_schedule(case: Case, site: str) -> tuple[np.ndarray, np.ndarray]:
    """A site's take-or-pay blocks per period: MW bought [MW] and what they cost [USD].

    A block applies in the periods whose local start hour is in its ``hours`` (all if none).
    """
    spec = next(s for s in case.spec.sites if s.name == site)
    local_hour = case.grid.start_local.hour.to_numpy()
    mw = np.zeros(case.grid.n_periods)
    cost = np.zeros(case.grid.n_periods)
    for fixed in spec.power.fixed_blocks:
        applies = np.ones(case.grid.n_periods, dtype=bool) if fixed.hours is None else np.isin(local_hour, fixed.hours)
        mw += fixed.mw * applies
        cost += fixed.mw * fixed.price_usd_per_mwh * case.grid.hours * applies
    return mw, cost


def energy_cost_usd_per_machine(power: pyo.Block) -> np.ndarray:
    """Cost of the energy one machine of class k running in period t makes its site draw [USD], K x T."""
    return power.spot_cost_usd_per_machine + power.adder_cost_usd_per_machine


def energy_cost_constant_usd(power: pyo.Block) -> np.ndarray:
    """Energy cost that does not depend on dispatch: take-or-pay blocks less their resale at spot [USD], per period."""
    return power.block_cost_usd - power.block_resale_usd


def four_cp_weights(case: Case, site: str) -> np.ndarray:
    """Weight of each period in the site's 4CP average load [-].

    A known interval counts with probability 1 and a candidate with its probability; the
    average is over the months represented, so the weights of a month sum to its probability.
    """
    spec = next(s for s in case.spec.sites if s.name == site).power.four_cp
    weights = np.zeros(case.grid.n_periods)
    if spec is None:
        return weights
    points = [(instant, 1.0) for instant in spec.intervals] + [(c.interval, c.probability) for c in spec.candidates]
    months = {(instant.year, instant.month) for instant, _ in points}
    for instant, probability in points:
        weights[case.grid.period_containing(instant)] += probability / len(months)
    return weights


def add_four_cp(model: pyo.ConcreteModel, case: Case) -> pyo.Block | None:
    """4CP transmission charge on the site's load in the system's peak intervals.

    Data
    ----
    r_s rate [USD/kW-year]; w_{s,t} the weight of period t in the 4CP average (see
    :func:`four_cp_weights`); Y = horizon hours / 8760, the share of the annual charge the
    horizon carries [-]; H_d hours of day d, H the horizon's hours.

    Expressions
    -----------
    four_cp_cost_usd = sum_s r_s * 1000 * Y * sum_t w_{s,t} (site_load_mw[s, t] + hpc_load_mw(s, t))  [USD]
        (the tenant's load counts in the site's peak as the machines' does)
    cash_flow_usd[d] = -(H_d / H) four_cp_cost_usd  (paid pro rata over the horizon)  [USD]
    """
    sites = [s for s in case.spec.sites if s.power.four_cp is not None]
    if not sites:
        return None
    block = pyo.Block(concrete=True)
    model.four_cp = block
    fleet = model.fleet
    hours = model.time.period_hours
    years = float(hours.sum()) / 8760.0
    block.weights = {s.name: four_cp_weights(case, s.name) for s in sites}
    coefs, variables = [], []
    for site in sites:
        usd_per_mw = site.power.four_cp.rate_usd_per_kw_year * 1000.0 * years * block.weights[site.name]
        for t in np.flatnonzero(usd_per_mw):
            for k in fleet.classes_at_site[site.name]:
                coefs.append(usd_per_mw[t] * (1.0 + site.aux_load_fraction) * fleet.class_power_mw[k])
                variables.append(fleet.running_array[k, t])
        hosting = model.component("hosting")
        for h, e in hosting.CONVERSIONS if hosting is not None else ():
            if case.spec.hpc[h].site == site.name:
                coefs.append(float(usd_per_mw @ hosting.hall_load_mw[h, e]))
                variables.append(hosting.halls[h, e])
    block.four_cp_cost_usd = pyo.Expression(expr=linear(coefs, variables))
    hours_of_day = np.bincount(model.time.day_of_period, weights=hours, minlength=len(model.time.DAYS))
    block.cash_flow_usd = pyo.Expression(model.time.DAYS, rule=lambda b, d: -(hours_of_day[d] / hours.sum()) * b.four_cp_cost_usd)
    return block


def demand_response_schedule(case: Case, site: str, product) -> tuple[np.ndarray, np.ndarray]:
    """Periods a product obliges the site in, and the periods it is deployed in (boolean arrays)."""
    grid = case.grid
    start = grid.period_containing(product.start) if product.start else 0
    end = grid.period_containing(product.end) if product.end and product.end < case.spec.horizon.end else grid.n_periods
    obliged = np.zeros(grid.n_periods, dtype=bool)
    obliged[start:end] = True
    if product.hours is not None:
        obliged &= np.isin(grid.start_local.hour.to_numpy(), product.hours)
    deployed = np.zeros(grid.n_periods, dtype=bool)
    for instant in product.deployments:
        deployed[grid.period_containing(instant)] = True
    return obliged, deployed


def add_demand_response(model: pyo.ConcreteModel, case: Case) -> pyo.Block | None:
    """Demand-response and ancillary-service commitments of curtailable mining load.

    Sets
    ----
    PRODUCTS : j, each (site, product); O_j its obligation periods (term x hours), D_j ⊆ O_j
    its deployment periods. CONTRACT_PRODUCTS commit one MW figure; HOURLY_PRODUCTS per period.

    Variables
    ---------
    committed_mw[j] in [0, M_j] (contract) or committed_hourly_mw[j, t] in [0, M_j], t in O_j
    (hourly); c_{j,t} below stands for whichever applies                             [MW]

    Constraints
    -----------
    load_held_for_commitments[s, t] : sum_{j at s, t in O_j \\ D_j} c_{j,t} <= site_load_mw[s, t]
        (committed MW must be running so that they can be curtailed)
    committed_load_off_when_deployed[s, t] : site_load_mw[s, t] + sum_{j at s, t in D_j} c_{j,t} <= L_s
        with L_s = min(interconnect, nameplate load): at deployment the committed MW are off

    Expressions
    -----------
    demand_response_revenue_usd = sum_j sum_{t in O_j} q_{j,t} h_t c_{j,t}, q the payment [USD/MW-h]
    cash_flow_usd[d] = that revenue over the periods of day d                       [USD]
    """
    products = [(site, product) for site in case.spec.sites for product in site.power.demand_response]
    if not products:
        return None
    block = pyo.Block(concrete=True)
    model.demand_response = block
    power = model.power
    hours = model.time.period_hours
    periods = model.time.PERIODS
    schedules = [demand_response_schedule(case, site.name, product) for site, product in products]
    block.schedules = schedules
    block.PRODUCTS = pyo.RangeSet(0, len(products) - 1)
    block.CONTRACT_PRODUCTS = pyo.Set(initialize=[j for j, (_, p) in enumerate(products) if p.kind == "contract"])
    block.HOURLY_OBLIGATIONS = pyo.Set(
        initialize=[(j, int(t)) for j, (_, p) in enumerate(products) if p.kind == "hourly" for t in np.flatnonzero(schedules[j][0])], dimen=2
    )
    block.committed_mw = pyo.Var(block.CONTRACT_PRODUCTS, bounds=lambda _, j: (0.0, products[j][1].max_mw))
    block.committed_hourly_mw = pyo.Var(block.HOURLY_OBLIGATIONS, bounds=lambda _, j, t: (0.0, products[j][1].max_mw))

    def committed(j, t):
        return block.committed_mw[j] if products[j][1].kind == "contract" else block.committed_hourly_mw[j, t]

    nameplate = {s.name: (1.0 + s.aux_load_fraction) * sum(
        e.count * next(m for m in case.spec.miner_models if m.name == e.model).power_w / 1e6 for e in case.spec.fleet if e.site == s.name
    ) for s in case.spec.sites}
    held, shed = [], []
    for site in case.spec.sites:
        at_site = [j for j, (s, _) in enumerate(products) if s.name == site.name]
        for t in periods:
            holding = [j for j in at_site if schedules[j][0][t] and not schedules[j][1][t]]
            deployed = [j for j in at_site if schedules[j][1][t]]
            if holding:
                held.append((site.name, t, holding))
            if deployed:
                shed.append((site.name, t, deployed, min(site.interconnect_mw, nameplate[site.name])))
    block.HELD = pyo.Set(initialize=[(s, t) for s, t, _ in held], dimen=2)
    block.SHED = pyo.Set(initialize=[(s, t) for s, t, _, _ in shed], dimen=2)
    holding_at = {(s, t): js for s, t, js in held}
    shedding_at = {(s, t): (js, cap) for s, t, js, cap in shed}
    block.load_held_for_commitments = pyo.Constraint(
        block.HELD, rule=lambda b, s, t: sum(committed(j, t) for j in holding_at[s, t]) <= power.site_load_mw[s, t]
    )
    block.committed_load_off_when_deployed = pyo.Constraint(
        block.SHED, rule=lambda b, s, t: power.site_load_mw[s, t] + sum(committed(j, t) for j in shedding_at[s, t][0]) <= shedding_at[s, t][1]
    )

    by_period_coefs = [[] for _ in periods]
    by_period_vars = [[] for _ in periods]
    for j, (site, product) in enumerate(products):
        price = case.demand_response_price_usd_per_mw_hour[(site.name, product.name)]
        for t in np.flatnonzero(schedules[j][0]):
            by_period_coefs[t].append(price[t] * hours[t])
            by_period_vars[t].append(committed(j, int(t)))
    block.demand_response_revenue_usd = pyo.Expression(
        expr=linear(np.concatenate([np.asarray(c, dtype=float) for c in by_period_coefs]), [v for vs in by_period_vars for v in vs])
    )
    cash_flow_by_day(block, [np.asarray(c, dtype=float) for c in by_period_coefs], by_period_vars, np.zeros(len(periods)))
    return block
