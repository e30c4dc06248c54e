"""The linopy twin of hashplan's model: target P1 of issue 8 compares its build + hand-off with ours.

:func:`build_twin` writes the model of :func:`models.build.build_model` again with linopy: the
same columns (dispatch per class and period, purchases, retirements and installed counts per
month and day, HPC halls and converted MW, the daily treasury with its slack), the same rows
and the same objective, with the integrality of each column as ``hashplan`` gives it. Only
the data (prices, shares, arrival days, BTC per machine) comes from ``hashplan``'s own
functions; every row and objective coefficient is assembled here from numpy arrays, so the
twin is also an independent check of the Pyomo build (``tests/test_twin.py`` compares their LP
optima). Rows with irregular sums (a day's periods, a group's deliveries) are written as
padded term arrays, the way linopy stores any expression.

It covers what the benchmark case uses: sites with spot prices, adders and fixed blocks,
machine modes, purchases, retirements, HPC halls and the treasury with debt and covenants.
4CP charges, demand response and anti-cycling are not written: :func:`build_twin` refuses a
case with them.

Linopy is the ``bench`` extra: ``pip install -e ".[bench]"``.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import linopy
import numpy as np
import pandas as pd
import pyomo.environ as pyo
import xarray as xr

from models.fleet import count_domain, order_arrival_days, purchase_price_usd, renewal_groups
from models.hosting import leased_share
from models.power import fixed_block_schedule
from models.time import day_share_of_month
from models.treasury import (
    COVENANT_PENALTY_USD_PER_USD,
    MIN_BTC_PENALTY_USD_PER_USD,
    UNFUNDED_PENALTY_USD_PER_USD,
    UNPAID_DEBT_PENALTY_USD_PER_USD,
    daily_btc_price_usd,
    daily_opex_usd,
    terminal_mark_usd_per_btc,
)
from optimizer.case import Case


@dataclass
class Terms:
    """Linear terms gathered from every block before they become rows: ``row``, column label, coefficient."""

    rows: list[np.ndarray] = field(default_factory=list)
    labels: list[np.ndarray] = field(default_factory=list)
    coefs: list[np.ndarray] = field(default_factory=list)

    def add(self, rows, labels, coefs) -> None:
        """Terms ``coefs * column labels`` in ``rows`` (arrays broadcast to one shape)."""
        rows, labels, coefs = np.broadcast_arrays(np.asarray(rows), np.asarray(labels), np.asarray(coefs, dtype=float))
        self.rows.append(rows.ravel())
        self.labels.append(labels.ravel())
        self.coefs.append(coefs.ravel())

    def expression(self, model: linopy.Model, coords: list[pd.Index]) -> linopy.LinearExpression:
        """The terms as one linopy expression over ``coords`` (row = C-order position in them)."""
        shape = tuple(len(c) for c in coords)
        rows = np.concatenate(self.rows) if self.rows else np.zeros(0, dtype=np.int64)
        labels = np.concatenate(self.labels) if self.labels else np.zeros(0, dtype=np.int64)
        coefs = np.concatenate(self.coefs) if self.coefs else np.zeros(0)
        # absent columns (masked) and zero coefficients are no terms, as in Pyomo's compiled rows
        kept = (labels >= 0) & (coefs != 0.0)
        rows, labels, coefs = rows[kept], labels[kept], coefs[kept]
        order = np.argsort(rows, kind="stable")
        rows, labels, coefs = rows[order], labels[order], coefs[order]
        count = np.bincount(rows, minlength=math.prod(shape))
        width = max(int(count.max(initial=0)), 1)
        slot = np.arange(rows.size) - (np.cumsum(count) - count)[rows]
        variables = np.full((math.prod(shape), width), -1, dtype=np.int64)
        coefficients = np.zeros((math.prod(shape), width))
        variables[rows, slot] = labels
        coefficients[rows, slot] = coefs
        dims = tuple(c.name for c in coords)
        data = xr.Dataset(
            {
                "coeffs": (dims + ("_term",), coefficients.reshape(shape + (width,))),
                "vars": (dims + ("_term",), variables.reshape(shape + (width,))),
                "const": (dims, np.zeros(shape)),
            },
            coords={c.name: c for c in coords},
        )
        return linopy.LinearExpression(data, model)


@dataclass
class Twin:
    """The linopy model, the objective's constant [USD] (linopy objectives hold none) and
    ``columns``: for each of hashplan's variable names (``running``, ``installed``, ...), the
    label of each of its entries, in the order of its Pyomo index (-1 where it has none)."""

    model: linopy.Model
    constant_usd: float
    columns: dict[str, np.ndarray]


def check_supported(case: Case) -> None:
    """Refuse a case with a feature the twin does not write."""
    for site in case.spec.sites:
        for feature, present in (
            ("power.four_cp", site.power.four_cp is not None),
            ("power.demand_response", bool(site.power.demand_response)),
            ("power.anti_cycling", site.power.anti_cycling is not None),
        ):
            if present:
                raise ValueError(f"site {site.name!r}: the linopy twin does not write {feature}; remove it to benchmark the case")


def integer_counts(case: Case, most) -> np.ndarray:
    """Whether each count of at most ``most`` units is an integer column, by hashplan's own rule."""
    return np.array([count_domain(case.spec.solver, m) is pyo.NonNegativeIntegers for m in np.ravel(most)], dtype=bool)


def add_columns(model: linopy.Model, columns: dict[str, np.ndarray], name: str, coords: list[pd.Index], upper=np.inf, integer=False) -> np.ndarray:
    """Columns in [0, upper] over ``coords``, integer where ``integer``; their labels (-1: none), also kept as ``columns[name]``.

    Linopy types a whole variable, so integer and continuous columns of one name are two
    variables, each masked to its own entries.
    """
    shape = tuple(len(c) for c in coords)
    upper = xr.DataArray(np.broadcast_to(np.asarray(upper, dtype=float), shape), coords=coords)
    integer = np.broadcast_to(np.asarray(integer, dtype=bool), shape)
    labels = np.full(shape, -1, dtype=np.int64)
    for suffix, wanted in (("", ~integer), ("_integer", integer)):
        if wanted.any():
            var = model.add_variables(
                lower=0.0, upper=upper, coords=coords, name=name + suffix, mask=xr.DataArray(wanted, coords=coords), integer=bool(suffix)
            )
            labels = np.where(wanted, var.labels.values, labels)
    columns[name] = labels
    return labels


def add_rows(model: linopy.Model, name: str, terms: Terms, coords: list[pd.Index], sign: str, rhs) -> None:
    """Rows ``terms sign rhs`` over ``coords``."""
    rhs = xr.DataArray(np.broadcast_to(np.asarray(rhs, dtype=float), tuple(len(c) for c in coords)), coords=coords)
    model.add_constraints(terms.expression(model, coords), sign, rhs, name=name)


def index(name: str, size: int) -> pd.Index:
    return pd.RangeIndex(size, name=name)


def build_twin(case: Case) -> Twin:
    """hashplan's model of ``case``, written with linopy (see the module docstring)."""
    check_supported(case)
    spec, grid, net = case.spec, case.grid, case.network
    model = linopy.Model()
    classes = case.machine_classes
    n_k, n_t, n_d = len(classes), grid.n_periods, len(grid.days)
    hours, day_of_period = grid.hours, grid.day_of_period
    models = {m.name: m for m in spec.miner_models}
    sites = {s.name: s for s in spec.sites}
    site_names = list(sites)
    groups = renewal_groups(case)
    renewing = set(groups)
    K, T, D = index("k", n_k), index("t", n_t), index("d", n_d)
    objective = Terms()
    cash = Terms()  # cash flow of each day, other than sales, opex, debt and emergency funding [USD]
    cash_constant = np.zeros(n_d)
    constant = 0.0
    columns = {}

    new_columns = functools.partial(add_columns, model, columns)

    # fleet: running[k, t]
    capacity = np.array([c.capacity for c in classes])
    upper = np.array([c.capacity if (c.site, c.model) in renewing else models[c.model].availability * c.installed for c in classes])
    running = new_columns("running", [K, T], upper[:, None], integer_counts(case, capacity)[:, None])
    months = grid.epoch_of_day[day_of_period]
    retained = np.array([1.0 - models[c.model].degradation_per_month for c in classes])[:, None] ** months[None, :]
    btc_per_machine = np.array([c.hashrate_th for c in classes])[:, None] * retained * net.btc_per_th
    objective.add(0, running, btc_per_machine * net.btc_price_usd)
    multi_mode = [ks for g, ks in case.classes_by_group.items() if len(ks) > 1 and g not in renewing]
    if multi_mode:
        one_mode = Terms()
        for i, ks in enumerate(multi_mode):
            one_mode.add(i * n_t + np.arange(n_t), running[ks], 1.0)
        add_rows(model, "machines_within_installed", one_mode, [index("group", len(multi_mode)), T], "<=", upper[[ks[0] for ks in multi_mode]][:, None])

    # power: energy at spot plus adders; fixed blocks resold at spot
    site_mw = np.array([(1.0 + sites[c.site].aux_load_fraction) * c.power_w / 1e6 for c in classes])
    usd_per_mwh = np.array([case.spot_usd_per_mwh[c.site] + sites[c.site].power.per_mwh_charges_usd for c in classes])
    energy = site_mw[:, None] * usd_per_mwh * hours
    objective.add(0, running, -energy)
    cash.add(np.broadcast_to(day_of_period, (n_k, n_t)), running, -energy)
    for site in spec.sites:
        block_mw, block_cost = fixed_block_schedule(case, site.name)
        fixed = block_cost - block_mw * case.spot_usd_per_mwh[site.name] * hours
        constant -= float(fixed.sum())
        cash_constant -= np.bincount(day_of_period, weights=fixed, minlength=n_d)

    interconnect = Terms()
    site_of = np.array([site_names.index(c.site) for c in classes])
    interconnect.add(site_of[:, None] * n_t + np.arange(n_t), running, site_mw[:, None])
    days = np.arange(n_d)
    first_day = grid.epoch_first_day

    # renewal: purchases, retirements, installed[g, d]
    if groups:
        G = index("group", len(groups))
        group_capacity = {g: classes[ks[0]].capacity for g, ks in case.classes_by_group.items()}
        installed = new_columns("installed", [G, D], np.array([group_capacity[g] for g in groups], dtype=float)[:, None])
        orders = [(p, e, day) for p, purchase in enumerate(spec.purchases) for e, day in order_arrival_days(case, purchase.lead_time_days).items()]
        retire_max = [r.max_units if r.max_units is not None else group_capacity[(r.site, r.model)] for r in spec.retirements]
        order_max = np.array([spec.purchases[p].max_units for p, _, _ in orders], dtype=float)
        bought = new_columns("bought", [index("order", len(orders))], order_max, integer_counts(case, order_max))
        retirements = [(r, e) for r in range(len(spec.retirements)) for e in range(len(first_day))]
        retired_max = np.array([retire_max[r] for r, _ in retirements], dtype=float)
        retired = new_columns("retired", [index("retirement", len(retirements))], retired_max, integer_counts(case, retired_max))

        ordered, ordered_low, ordered_high, ordered_rows = Terms(), [], [], 0
        for p, purchase in enumerate(spec.purchases):
            mine = [i for i, (q, _, _) in enumerate(orders) if q == p]
            if mine:
                ordered.add(ordered_rows, bought[mine], 1.0)
                ordered_low.append(purchase.min_units)
                ordered_high.append(purchase.max_units)
                ordered_rows += 1
        if ordered_rows:
            add_rows(model, "units_ordered_at_most", ordered, [index("purchase", ordered_rows)], "<=", ordered_high)
            add_rows(model, "units_ordered_at_least", ordered, [index("purchase", ordered_rows)], ">=", ordered_low)
        limited = [r for r, retirement in enumerate(spec.retirements) if retirement.max_units is not None]
        if limited:
            within = Terms()
            for i, r in enumerate(limited):
                within.add(i, retired[[j for j, (q, _) in enumerate(retirements) if q == r]], 1.0)
            add_rows(model, "retirements_within_limit", within, [index("limited", len(limited))], "<=", [spec.retirements[r].max_units for r in limited])

        roll = Terms()
        g_of = {g: i for i, g in enumerate(groups)}
        roll.add(np.arange(len(groups) * n_d), installed.ravel(), 1.0)
        roll.add((np.arange(len(groups))[:, None] * n_d + days[1:]).ravel(), installed[:, :-1].ravel(), -1.0)
        for i, (p, _, day) in enumerate(orders):
            roll.add(g_of[(spec.purchases[p].site, spec.purchases[p].model)] * n_d + day, bought[i], -1.0)
        for i, (r, e) in enumerate(retirements):
            roll.add(g_of[(spec.retirements[r].site, spec.retirements[r].model)] * n_d + first_day[e], retired[i], 1.0)
        opening = np.zeros((len(groups), n_d))
        installed0 = {(e.site, e.model): e.count for e in spec.fleet}
        opening[:, 0] = [installed0.get(g, 0) for g in groups]
        add_rows(model, "installed_roll_forward", roll, [G, D], "==", opening)

        in_service = Terms()
        for i, g in enumerate(groups):
            ks = case.classes_by_group[g]
            in_service.add(i * n_t + np.arange(n_t), running[ks], 1.0)
            in_service.add(i * n_t + np.arange(n_t), installed[i, day_of_period], -models[g[1]].availability)
        add_rows(model, "machines_within_installed_fleet", in_service, [G, T], "<=", 0.0)

        for i, (p, e, day) in enumerate(orders):
            purchase = spec.purchases[p]
            price = purchase_price_usd(case, purchase)
            objective.add(0, bought[i], -price)
            cash.add(first_day[e] if purchase.capex_paid == "order" else day, bought[i], -price)
        for i, (r, e) in enumerate(retirements):
            resale = models[spec.retirements[r].model].resale_usd or 0.0
            objective.add(0, retired[i], resale)
            cash.add(first_day[e], retired[i], resale)
        maintenance = spec.opex.maintenance_usd_per_machine_month if spec.opex is not None else 0.0
        maintenance_day = maintenance * day_share_of_month(case)
        objective.add(0, installed, -maintenance_day)
        cash.add(days, installed, -maintenance_day)
        retirable = {(r.site, r.model) for r in spec.retirements}
        for i, g in enumerate(groups):
            if g in retirable:
                objective.add(0, installed[i, -1], models[g[1]].resale_usd or 0.0)

    # hosting: halls[h, e], converted_mw[s, d]
    if spec.hpc:
        conversions = [(h, e, day) for h, offer in enumerate(spec.hpc) for e, day in order_arrival_days(case, offer.lead_time_days).items()]
        most = [math.floor(offer.max_mw / offer.block_mw + 1e-9) for offer in spec.hpc]
        halls = new_columns("halls", [index("conversion", len(conversions))], [most[h] for h, _, _ in conversions], True)
        within = Terms()
        offered = [h for h in range(len(spec.hpc)) if any(q == h for q, _, _ in conversions)]
        for i, h in enumerate(offered):
            within.add(i, halls[[j for j, (q, _, _) in enumerate(conversions) if q == h]], 1.0)
        if offered:
            add_rows(model, "halls_within_offer", within, [index("offer", len(offered))], "<=", [most[h] for h in offered])
        hosted = list(dict.fromkeys(offer.site for offer in spec.hpc))
        S = index("hosted_site", len(hosted))
        most_mw = [sum(most[h] * offer.block_mw for h, offer in enumerate(spec.hpc) if offer.site == site) for site in hosted]
        converted = new_columns("converted_mw", [S, D], np.array(most_mw)[:, None])
        roll = Terms()
        roll.add(np.arange(len(hosted) * n_d), converted.ravel(), 1.0)
        roll.add((np.arange(len(hosted))[:, None] * n_d + days[1:]).ravel(), converted[:, :-1].ravel(), -1.0)
        share_of_month = day_share_of_month(case)
        for i, (h, e, day) in enumerate(conversions):
            offer = spec.hpc[h]
            roll.add(hosted.index(offer.site) * n_d + day, halls[i], -offer.block_mw)
            leased = leased_share(case, h, day)
            revenue = 1000.0 * offer.rate_usd_per_kw_month * offer.block_mw * leased * share_of_month
            load = offer.utilisation * offer.block_mw * leased[day_of_period]
            hall_energy = np.bincount(
                day_of_period, weights=load * (case.spot_usd_per_mwh[offer.site] + sites[offer.site].power.per_mwh_charges_usd) * hours, minlength=n_d
            )
            capex = offer.capex_usd_per_mw * offer.block_mw
            objective.add(0, halls[i], revenue.sum() - capex - hall_energy.sum() + offer.terminal_value_usd_per_mw * offer.block_mw)
            cash.add(days, halls[i], revenue - hall_energy)
            cash.add(first_day[e], halls[i], -capex)
        add_rows(model, "converted_roll_forward", roll, [S, D], "==", 0.0)
        for j, site in enumerate(hosted):
            interconnect.add(site_names.index(site) * n_t + np.arange(n_t), converted[j, day_of_period], 1.0)

    add_rows(
        model, "site_load_within_interconnect", interconnect, [index("site", len(site_names)), T], "<=",
        np.array([sites[s].interconnect_mw for s in site_names])[:, None],
    )

    # treasury: BTC and cash per day
    treasury = spec.treasury
    if treasury is not None:
        price_day = daily_btc_price_usd(case)
        mark = terminal_mark_usd_per_btc(case)
        sale_cost = treasury.sale_cost_bps / 1e4
        most_sold = math.inf if treasury.max_sale_btc_per_day is None else treasury.max_sale_btc_per_day
        floor = treasury.no_sale_below_usd
        sale_upper = np.where((floor is not None) & (price_day < (floor or 0.0)), 0.0, most_sold)
        sold = new_columns("btc_sold", [D], sale_upper)
        held = new_columns("btc_held", [D])
        balance = new_columns("cash_usd", [D])
        amounts = np.array([p.total_usd for p in spec.debt], dtype=float)
        due = np.array([grid.days.index(p.date) for p in spec.debt], dtype=np.int64)
        unpaid = new_columns("unpaid_debt_usd", [index("payment", len(amounts))], amounts)
        unfunded = new_columns("unfunded_usd", [D])

        btc = Terms()
        btc.add(days, held, 1.0)
        btc.add(days[1:], held[:-1], -1.0)
        btc.add(np.broadcast_to(day_of_period, (n_k, n_t)), running, -btc_per_machine)
        btc.add(days, sold, 1.0)
        add_rows(model, "btc_roll_forward", btc, [D], "==", np.where(days == 0, treasury.btc, 0.0))

        cash.add(days, balance, -1.0)  # the roll-forward row is  - cash[d] + cash[d-1] + flows ... = -constants
        cash.add(days[1:], balance[:-1], 1.0)
        cash.add(days, sold, (1.0 - sale_cost) * price_day)
        cash.add(due, unpaid, 1.0)
        cash.add(days, unfunded, 1.0)
        fixed = cash_constant - daily_opex_usd(case) - np.bincount(due, weights=amounts, minlength=n_d)
        fixed[0] += treasury.cash_usd
        add_rows(model, "cash_roll_forward", cash, [D], "==", -fixed)

        test_days = days if treasury.covenant_dates is None else np.array(sorted({grid.days.index(d) for d in treasury.covenant_dates}))
        penalties = [(unfunded, UNFUNDED_PENALTY_USD_PER_USD), (unpaid, UNPAID_DEBT_PENALTY_USD_PER_USD)]
        if treasury.min_cash_usd > 0:
            short = new_columns("covenant_short_usd", [index("test_day", len(test_days))])
            covenant = Terms()
            covenant.add(np.arange(len(test_days)), balance[test_days], 1.0)
            covenant.add(np.arange(len(test_days)), short, 1.0)
            add_rows(model, "min_cash_covenant", covenant, [index("test_day", len(test_days))], ">=", treasury.min_cash_usd)
            penalties.append((short, COVENANT_PENALTY_USD_PER_USD))
        if treasury.min_btc > 0:
            btc_short = new_columns("btc_short", [D])
            kept = Terms()
            kept.add(days, held, 1.0)
            kept.add(days, btc_short, 1.0)
            add_rows(model, "min_btc_kept", kept, [D], ">=", treasury.min_btc)
            penalties.append((btc_short, MIN_BTC_PENALTY_USD_PER_USD * float(net.btc_price_usd.max())))

        # the objective is the terminal value: BTC mined is marked at m, not sold at p_t
        constant += treasury.cash_usd + mark * treasury.btc - float(daily_opex_usd(case).sum()) - float(amounts.sum())
        objective.add(0, running, btc_per_machine * (mark - net.btc_price_usd))
        objective.add(0, sold, price_day - mark - sale_cost * price_day)
        objective.add(0, unfunded, 1.0)
        objective.add(0, unpaid, 1.0)
        for labels, penalty in penalties:
            objective.add(0, labels, -penalty)

    model.add_objective(merged(objective).expression(model, [index("objective", 1)]).sum(), sense="max")
    return Twin(model, constant, columns)


def merged(terms: Terms) -> Terms:
    """``terms`` with each column once, its coefficients summed (the objective names a column in several lines)."""
    labels = np.concatenate(terms.labels)
    coefs = np.concatenate(terms.coefs)
    used = labels >= 0
    total = np.bincount(labels[used], weights=coefs[used])
    columns = np.flatnonzero(total)
    out = Terms()
    out.add(0, columns, total[columns])
    return out
