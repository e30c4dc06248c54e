"""Fleet renewal and AI/HPC hosting: hand-solved purchases, lead times, capex timing, hall
conversions, capex funding, retirements, availability and degradation.

Every known answer is computed here from the case's inputs: the BTC per TH/s and BTC price per
period come from ``case.network`` (the separately tested market module), never from the
model's own outputs. Every plan goes through ``extract_results``, which raises
``ReconciliationError`` unless the P&L, the monthly P&L, the fleet and HPC plans and the
treasury roll-forward tie.
"""

import dataclasses
import itertools
import math
from pathlib import Path

import highspy
import numpy as np
import pytest

from casebuilder import spec_dict
from models.build import build_model
from optimizer import solve as solve_module
from optimizer.case import parse_spec, prepare_case
from optimizer.results import extract_results
from optimizer.solve import solve

JAN_TO_APR = ("2026-01-01T00:00", "2026-04-01T00:00")  # 31 + 28 + 31 = 90 days, three epochs
JANUARY = ("2026-01-01T00:00", "2026-02-01T00:00")  # one epoch
MONTH_HOURS = {"2026-01": 744.0, "2026-02": 672.0, "2026-03": 744.0}

S19 = {"name": "S19", "hashrate_th": 100, "power_w": 2500}  # 25 J/TH: the installed fleet
S21 = {"name": "S21", "hashrate_th": 200, "power_w": 3500}  # 17.5 J/TH: the machine bought
S9 = {"name": "S9", "hashrate_th": 14, "power_w": 1400}  # 100 J/TH: the machine retired


def renewal_case(
    miner_models,
    fleet,
    spot=30.0,
    interconnect_mw=100.0,
    horizon=JAN_TO_APR,
    resolution="1d",
    purchases=(),
    retirements=(),
    hpc=(),
    treasury=None,
    opex=None,
    adder_usd_per_mwh=0.0,
):
    """A one-site case; ``spot`` is a constant [USD/MWh] or a dict month ("2026-01") -> price.

    Integer counts are exact (mip_gap 0) so that a plan one machine off is not within the gap.
    """
    data = spec_dict(
        sites=[{"name": "a", "interconnect_mw": interconnect_mw, "power": {"spot_usd_per_mwh": 0.0, "adder_usd_per_mwh": adder_usd_per_mwh}}],
        miner_models=list(miner_models),
        fleet=list(fleet),
        solver={"integer_below_units": 0, "mip_gap": 0.0},
    )
    data["horizon"] = {"start": horizon[0], "end": horizon[1], "resolution": resolution, "timezone": "UTC"}
    data["purchases"] = list(purchases)
    data["retirements"] = list(retirements)
    data["hpc"] = list(hpc)
    if treasury is not None:
        data["treasury"] = treasury
    if opex is not None:
        data["opex"] = opex
    case = prepare_case(parse_spec(data), Path("."))
    months = period_months(case)
    prices = np.array([spot[m] for m in months], float) if isinstance(spot, dict) else np.full(case.grid.n_periods, float(spot))
    return dataclasses.replace(case, spot_usd_per_mwh={"a": prices})


def plan(case):
    model = build_model(case)
    report = solve(model, case.spec.solver)
    return model, extract_results(model, case, report)


def period_months(case):
    return np.array([f"{t.year}-{t.month:02d}" for t in case.grid.start_local])


def margin_per_machine_usd(case, machine, retained=1.0):
    """What one machine running earns less its energy, per period [USD] (no aux, no adders)."""
    net = case.network
    revenue = machine["hashrate_th"] * retained * net.btc_per_th * net.btc_price_usd
    energy = machine["power_w"] / 1e6 * case.spot_usd_per_mwh["a"] * case.grid.hours
    return revenue - energy


def running(results, model_name):
    """Machines of ``model_name`` running per period (one mode per model here)."""
    rows = results.dispatch[results.dispatch["model"] == model_name]
    return rows["machines_running"].to_numpy()


def fleet_rows(results, model_name):
    return results.fleet_plan[results.fleet_plan["model"] == model_name].set_index("month")


def pnl_line(results, name):
    return float(results.pnl.set_index("line").loc[name, "usd"])


# 1. purchases that pay back


def purchase_case(price_usd, max_units=500):
    return renewal_case(
        [S19, S21],
        [{"site": "a", "model": "S19", "count": 100}],
        purchases=[{"site": "a", "model": "S21", "max_units": max_units, "price_usd": price_usd}],
    )


def s21_margin_over_horizon(case):
    # 200 TH/s x b_t x p_t - 3.5 kW x $30/MWh x 24 h, every day of the 90: ~$4.4/day, ~$396
    margin = margin_per_machine_usd(case, S21)
    assert (margin > 0).all()  # the machine runs every day it is installed
    return float(margin.sum())


def test_a_purchase_that_pays_back_is_made_in_full_in_the_first_month():
    probe = purchase_case(1.0)
    margin = s21_margin_over_horizon(probe)
    price = 0.99 * margin  # pays back, only just: ordering a month later earns ~1/3 less
    case = purchase_case(price)
    _, results = plan(case)
    s21 = fleet_rows(results, "S21")
    np.testing.assert_array_equal(s21["ordered"], [500, 0, 0])
    np.testing.assert_array_equal(s21["delivered"], [500, 0, 0])
    np.testing.assert_allclose(s21["capex_usd"], [500 * price, 0, 0], rtol=1e-12)
    assert results.kpis["machines_bought"] == 500
    assert results.kpis["capex_usd"] == pytest.approx(500 * price, rel=1e-12)
    np.testing.assert_array_equal(running(results, "S21"), 500)
    # no treasury: objective = profit = the S19s' margin + 500 x (S21 margin - price)
    s19 = float(margin_per_machine_usd(case, S19).sum())
    assert results.kpis["objective_usd"] == pytest.approx(100 * s19 + 500 * (margin - price), rel=1e-9)


def test_a_purchase_that_does_not_pay_back_is_not_made():
    margin = s21_margin_over_horizon(purchase_case(1.0))
    case = purchase_case(1.01 * margin)
    _, results = plan(case)
    assert results.kpis["machines_bought"] == 0
    assert results.kpis["capex_usd"] == 0
    np.testing.assert_array_equal(fleet_rows(results, "S21")["ordered"], [0, 0, 0])
    np.testing.assert_array_equal(running(results, "S21"), 0)
    s19 = float(margin_per_machine_usd(case, S19).sum())
    assert results.kpis["objective_usd"] == pytest.approx(100 * s19, rel=1e-9)


@pytest.mark.parametrize(
    "purchase_price, model_price",
    [({"price_usd": 123.0}, None), ({"price_usd_per_th": 123.0 / 200}, None), ({}, 123.0)],
    ids=["purchase price_usd", "price_usd_per_th x hashrate", "model price_usd"],
)
def test_the_price_paid_is_the_purchase_price_or_per_th_or_the_models(purchase_price, model_price):
    # $123 is far below the ~$396 margin: all 50 bought, $6,150 of capex whichever way it is given
    s21 = dict(S21, price_usd=model_price) if model_price else S21
    case = renewal_case([S19, s21], [{"site": "a", "model": "S19", "count": 100}],
                        purchases=[{"site": "a", "model": "S21", "max_units": 50, **purchase_price}])
    _, results = plan(case)
    assert results.kpis["machines_bought"] == 50
    assert results.kpis["capex_usd"] == pytest.approx(50 * 123.0, rel=1e-12)


# 2. lead time


@pytest.mark.parametrize("resolution", ["1d", "1h"])
def test_lead_time_delays_hashing_by_exactly_the_lead_time(resolution):
    # ordered on 2026-01-01 with a 10-day lead: installed and hashing from 2026-01-11 on
    case = renewal_case([S19, S21], [{"site": "a", "model": "S19", "count": 100}], horizon=JANUARY, resolution=resolution,
                        purchases=[{"site": "a", "model": "S21", "max_units": 100, "price_usd": 1.0, "lead_time_days": 10}])
    assert (margin_per_machine_usd(case, S21) > 0).all()
    model, results = plan(case)
    before = np.array([t.day < 11 for t in case.grid.start_local])
    s21 = running(results, "S21")
    assert before.sum() == 10 * (24 if resolution == "1h" else 1)
    np.testing.assert_array_equal(s21[before], 0)
    np.testing.assert_array_equal(s21[~before], 100)
    installed = np.array([model.renewal.installed["a", "S21", d].value for d in range(31)])
    np.testing.assert_array_equal(installed, [0] * 10 + [100] * 21)
    assert results.kpis["machines_bought"] == 100


# 3. when capex is paid


def capex_timing_case(capex_paid):
    # ordered 2026-01-01, 40-day lead: delivered 2026-02-10 (day 40)
    return renewal_case([S19, S21], [{"site": "a", "model": "S19", "count": 100}],
                        purchases=[{"site": "a", "model": "S21", "max_units": 100, "price_usd": 100.0,
                                    "lead_time_days": 40, "capex_paid": capex_paid}],
                        treasury={"btc": 0, "cash_usd": 1e7})


@pytest.mark.parametrize("capex_paid, day, month", [("order", 0, "2026-01"), ("delivery", 40, "2026-02")])
def test_capex_is_paid_on_the_order_day_or_the_delivery_day(capex_paid, day, month):
    _, results = plan(capex_timing_case(capex_paid))
    assert results.kpis["machines_bought"] == 100
    # the only cash flow outside energy, BTC sales, opex and debt is the $10,000 of capex
    other = results.treasury["other_cash_flow_usd"].to_numpy()
    expected = np.zeros(90)
    expected[day] = -100 * 100.0
    np.testing.assert_allclose(other, expected, atol=1e-6)
    assert str(results.treasury["date"].iloc[day]) == ("2026-01-01" if capex_paid == "order" else "2026-02-10")
    s21 = fleet_rows(results, "S21")
    assert s21.loc[month, "capex_usd"] == pytest.approx(10_000.0, rel=1e-12)
    assert s21["capex_usd"].sum() == pytest.approx(10_000.0, rel=1e-12)
    assert s21.loc["2026-01", "ordered"] == 100 and s21.loc["2026-02", "delivered"] == 100


def test_when_capex_is_paid_does_not_change_the_value_of_the_plan():
    # no interest on cash: paying 40 days later is worth the same
    _, on_order = plan(capex_timing_case("order"))
    _, on_delivery = plan(capex_timing_case("delivery"))
    assert on_delivery.kpis["objective_usd"] == pytest.approx(on_order.kpis["objective_usd"], rel=1e-12)


# 4. hall conversion to AI/HPC hosting


def hosting_case(rate_usd_per_kw_month, horizon=JAN_TO_APR, lead_time_days=0, ramp=(), capex_usd_per_mw=0.0, **options):
    # 4,000 S19 x 2.5 kW = 10 MW: the fleet exactly fills the interconnect
    return renewal_case([S19], [{"site": "a", "model": "S19", "count": 4000}], interconnect_mw=10.0, horizon=horizon,
                        hpc=[{"site": "a", "max_mw": 4, "block_mw": 1, "capex_usd_per_mw": capex_usd_per_mw, "lead_time_days": lead_time_days,
                              "rate_usd_per_kw_month": rate_usd_per_kw_month, "utilisation": 0.5, "ramp": list(ramp)}], **options)


def breakeven_rate_by_month(case):
    """Lease rate at which a hall earns what its MW earn mining, per month [USD/kW-month].

    One MW mines with 400 S19s (no aux); hosting it earns 1000 q and pays for the tenant's
    0.5 MW at spot: 1000 q* = mining margin per MW-month + 0.5 x spot x month hours.
    """
    per_mw = 400 * margin_per_machine_usd(case, S19)
    tenant_energy = 0.5 * case.spot_usd_per_mwh["a"] * case.grid.hours
    months = period_months(case)
    return {m: float((per_mw + tenant_energy)[months == m].sum()) / 1000.0 for m in MONTH_HOURS}


def test_a_lease_rate_above_the_mining_margin_converts_every_hall_in_the_first_month():
    # ~$664/MW-day mining + $360/MW-day tenant energy: ~$31.8/kW-month in 31-day months
    q = 1.01 * max(breakeven_rate_by_month(hosting_case(1.0)).values())
    case = hosting_case(q)
    _, results = plan(case)
    assert results.kpis["hpc_mw_converted"] == 4.0
    hpc = results.hpc_plan.set_index("month")
    np.testing.assert_array_equal(hpc["mw_ordered"], [4, 0, 0])
    np.testing.assert_array_equal(hpc["mw_converted_end"], [4, 4, 4])
    # 10 MW - 4 MW converted leave 6 MW: 2,400 S19s every day
    np.testing.assert_array_equal(running(results, "S19"), 2400)
    # the lease: 4 MW x 1000 x q per month, three whole months
    assert results.kpis["hosting_revenue_usd"] == pytest.approx(3 * 4 * 1000 * q, rel=1e-9)
    np.testing.assert_allclose(hpc["hosting_revenue_usd"], 4 * 1000 * q, rtol=1e-9)
    # the tenant draws 0.5 x 4 MW for 2,160 hours at $30/MWh
    assert -pnl_line(results, "hosting.hpc_energy_cost_usd") == pytest.approx(0.5 * 4 * 30.0 * 2160, rel=1e-9)
    assert results.kpis["capex_usd"] == 0


def test_installed_machines_and_converted_mw_are_bounded_where_their_rows_allow_and_reach_it():
    # the bounds stated on both are the ones their roll-forwards imply: S21s, none installed and
    # at most 500 bought; halls, 4 of 1 MW. A plan that buys or converts everything reaches them.
    margin = s21_margin_over_horizon(purchase_case(1.0))
    model, _ = plan(purchase_case(0.5 * margin))
    assert {var.ub for var in model.renewal.installed.values()} == {500}
    assert max(var.value for var in model.renewal.installed.values()) == pytest.approx(500, rel=1e-9)
    model, _ = plan(hosting_case(1.01 * max(breakeven_rate_by_month(hosting_case(1.0)).values())))
    assert {var.ub for var in model.hosting.converted_mw.values()} == {4}
    assert max(var.value for var in model.hosting.converted_mw.values()) == pytest.approx(4, rel=1e-9)


def test_a_lease_rate_below_the_mining_margin_converts_nothing():
    q = 0.99 * min(breakeven_rate_by_month(hosting_case(1.0)).values())
    _, results = plan(hosting_case(q))
    assert results.kpis["hpc_mw_converted"] == 0.0
    assert results.kpis["hosting_revenue_usd"] == 0
    np.testing.assert_array_equal(running(results, "S19"), 4000)


def test_a_hall_takes_interconnect_from_commissioning_and_leases_along_its_ramp():
    # lead 10 days: commissioned 2026-01-11; half leased until 2026-02-10, fully from 2026-02-11
    q = 10 * max(breakeven_rate_by_month(hosting_case(1.0)).values())
    case = hosting_case(q, lead_time_days=10, ramp=[0.5])
    _, results = plan(case)
    assert results.kpis["hpc_mw_converted"] == 4.0
    days = [t.date() for t in case.grid.start_local]
    s19 = running(results, "S19")
    commissioned = np.array([d.month > 1 or d.day >= 11 for d in days])
    np.testing.assert_array_equal(s19[~commissioned], 4000)
    np.testing.assert_array_equal(s19[commissioned], 2400)
    # revenue: 4 MW x 1000 q x share x day's share of its month
    share = np.array([0.0 if not c else (0.5 if (d.month == 1 or (d.month == 2 and d.day <= 10)) else 1.0)
                      for d, c in zip(days, commissioned)])
    month_days = np.array([{1: 31, 2: 28, 3: 31}[d.month] for d in days])
    expected = 4 * 1000 * q * share / month_days
    assert results.kpis["hosting_revenue_usd"] == pytest.approx(expected.sum(), rel=1e-9)
    hpc = results.hpc_plan.set_index("month")
    months = period_months(case)
    np.testing.assert_allclose(hpc["hosting_revenue_usd"], [expected[months == m].sum() for m in MONTH_HOURS], rtol=1e-9)
    # the tenant draws 0.5 (utilisation) x 4 MW x share, 24 h a day at $30/MWh
    assert -pnl_line(results, "hosting.hpc_energy_cost_usd") == pytest.approx((0.5 * 4 * share * 24 * 30.0).sum(), rel=1e-9)
    # mean MW leased: January 21 days x 2 MW / 31; February (10 x 2 + 18 x 4) / 28; March 4
    np.testing.assert_allclose(hpc["mean_mw_leased"], [21 * 2 / 31, (10 * 2 + 18 * 4) / 28, 4.0], rtol=1e-12)
    assert hpc.loc["2026-01", "commissioned"] == "2026-01-11: 4 MW"


def test_hall_capex_is_paid_on_the_order_day_and_the_tenant_pays_spot_plus_adders():
    # $100,000/MW ordered 2026-01-01 with a 10-day lead; a $5/MWh adder on every MWh drawn
    q = 10 * max(breakeven_rate_by_month(hosting_case(1.0)).values())  # converts despite the capex
    case = hosting_case(q, lead_time_days=10, capex_usd_per_mw=1e5, adder_usd_per_mwh=5.0, treasury={"btc": 0, "cash_usd": 1e7})
    _, results = plan(case)
    assert results.kpis["hpc_mw_converted"] == 4.0
    assert results.kpis["capex_usd"] == pytest.approx(4e5, rel=1e-12)
    other = results.treasury["other_cash_flow_usd"].to_numpy()
    # nothing is leased before 2026-01-11: the order day's only other cash flow is the capex
    assert other[0] == pytest.approx(-4e5, abs=1e-6)
    np.testing.assert_allclose(other[1:10], 0, atol=1e-6)
    np.testing.assert_allclose(results.hpc_plan["capex_usd"], [4e5, 0, 0], rtol=1e-12)
    # from 2026-01-11 the tenant draws 0.5 x 4 MW, 24 h a day at $30 + $5 per MWh
    assert -pnl_line(results, "hosting.hpc_energy_cost_usd") == pytest.approx(0.5 * 4 * 24 * 80 * 35.0, rel=1e-9)


def cash_limited_halls_case():
    """Halls at $50k per MW leased well above breakeven, $125k of cash and no BTC to sell."""
    q = 1.5 * max(breakeven_rate_by_month(hosting_case(1.0)).values())
    return hosting_case(q, capex_usd_per_mw=50_000.0, treasury={"btc": 0, "cash_usd": 125_000.0, "no_sale_below_usd": 1e9})


def hall_search_session(case):
    """(a solver session on the case's model, its integer monthly decisions) for a branch and bound of its own."""
    session = solve_module._Session(build_model(case), case.spec.solver)
    return session, [var for var in solve_module._monthly_decisions(session.model) if var.is_integer() and not var.fixed]


def test_halls_limited_by_cash_are_chosen_as_well_as_every_schedule_tried_one_by_one():
    # $50k per MW and $125k of cash, no BTC to sell: the LP relaxation converts 2.5 halls on
    # 1 January, so the branch and bound must split on whole halls. The independent answer is
    # every schedule of whole halls (ordered in January, February, March; at most 4) solved
    # with its halls fixed: the search must find the best, and its bound must hold over all.
    case = cash_limited_halls_case()
    model = build_model(case)
    report = solve(model, case.spec.solver)
    chosen = [model.hosting.halls[0, e].value for e in range(3)]

    best, best_schedule = -math.inf, None
    for schedule in itertools.product(range(5), repeat=3):
        if sum(schedule) > 4:
            continue
        fixed = build_model(case)
        for e, halls in enumerate(schedule):
            fixed.hosting.halls[0, e].fix(halls)
        objective = solve(fixed, case.spec.solver).objective_usd
        if objective > best:
            best, best_schedule = objective, list(schedule)
    assert best_schedule[0] == 2  # cash for two whole halls on day one, not 2.5
    assert chosen == best_schedule
    assert report.objective_usd == pytest.approx(best, rel=1e-9)
    assert report.bound_usd >= best - 1e-6
    assert "branch and bound" in report.method


def test_branch_and_bound_nodes_closed_early_at_their_dual_value_give_the_same_plan(monkeypatch):
    # the best schedule tried first: a warm node's LP stops at HiGHS's objective bound once its
    # dual value shows it cannot beat that schedule, and is closed there
    case = cash_limited_halls_case()
    whole_model = build_model(case)
    whole = solve(whole_model, case.spec.solver)
    chosen = [v.value for v in whole_model.hosting.halls.values()]
    session, decisions = hall_search_session(case)
    lines = []
    search = solve_module._branch_on_decisions(session, decisions, case.spec.solver, 60.0, lines.append, first_try=chosen)
    assert search.closed_early > 0 and any("closed early at its dual value" in line for line in lines)
    assert search.values == chosen
    # with mip_gap 0 a node is closed only at a dual value at most the best schedule's LP value,
    # so the largest value left unexplored, the bound, is that schedule's, as in the search solving every node
    assert case.spec.solver.mip_gap == 0
    assert search.bound == pytest.approx(whole.bound_usd, rel=1e-12)
    # a stop that weak duality does not bear out is no close: every node is then solved to its end
    monkeypatch.setattr(solve_module._DualValue, "__call__", lambda self, row_duals: math.inf)
    session, decisions = hall_search_session(case)
    unconfirmed = solve_module._branch_on_decisions(session, decisions, case.spec.solver, 60.0, lines.append, first_try=chosen)
    assert unconfirmed.closed_early == 0 and unconfirmed.values == chosen
    assert unconfirmed.bound == pytest.approx(whole.bound_usd, rel=1e-12)
    assert unconfirmed.nodes == search.nodes


def searched_boxes(case) -> tuple[list, list[str], object, object]:
    """(the decisions' box of each LP a search on the case solved, its progress lines, its result, its session)."""
    session, decisions = hall_search_session(case)
    boxes, set_bounds = [], session.set_bounds

    def recorded(columns, lower, upper):
        if len(columns) == len(decisions):
            boxes.append((np.array(lower), np.array(upper)))
        set_bounds(columns, lower, upper)

    session.set_bounds = recorded
    lines = []
    search = solve_module._branch_on_decisions(session, decisions, case.spec.solver, 60.0, lines.append)
    return boxes, lines, search, session


def test_branch_and_bound_tries_the_roots_halls_rounded_down_first():
    # the root (the LP relaxation) converts 2.56 halls in January: its halls rounded down are a
    # plan, the first candidate, solved right after the root, so nodes can be closed from the
    # first warm LP on
    case = cash_limited_halls_case()
    relaxation, decisions = hall_search_session(case)
    relaxation.solve_integers(np.zeros_like(relaxation.integer))
    relaxation.highs.run()
    root = np.asarray(relaxation.highs.getSolution().col_value)[relaxation.indices(decisions)]
    assert 2 < root[0] < 3
    boxes, lines, search, session = searched_boxes(case)
    assert lines[0].startswith("  branch and bound: 2 LPs, best whole-hall node")
    assert boxes[1][0].tolist() == boxes[1][1].tolist() == np.floor(root + 1e-6).tolist()
    assert search.values == [2.0, 2.0, 0.0]  # the best schedule, as found one by one above
    # the search poses the maximisation to HiGHS negated, and gives it back as it was
    assert session.highs.getLp().sense_ == highspy.ObjSense.kMaximize
    np.testing.assert_array_equal(session.highs.getLp().col_cost_, session.repn.c)
    assert session.highs.getLp().offset_ == session.offset


def test_branch_and_bound_dives_to_its_first_whole_hall_node(monkeypatch):
    # with no rounded-down root to try, nothing can be closed until a whole-hall node is known, so
    # the search goes depth first: each node solved is a child of the one solved before it, down
    # to the first whole halls
    monkeypatch.setattr(solve_module, "TRY_ROOT_FLOORED", False)
    case = cash_limited_halls_case()
    _, perturbation = hall_search_session(case)[0].highs.getOptionValue("dual_simplex_cost_perturbation_multiplier")
    boxes, lines, search, session = searched_boxes(case)
    # the search runs its warm nodes on unperturbed costs; the plan's solves get HiGHS's setting back
    assert session.highs.getOptionValue("dual_simplex_cost_perturbation_multiplier")[1] == perturbation
    first = next(i for i, line in enumerate(lines) if "best whole-hall node" in line)
    assert first >= 2  # the root's halls are fractional: the dive goes at least one level down
    for (parent_lower, parent_upper), (lower, upper) in zip(boxes[:first], boxes[1 : first + 1]):
        assert np.all(lower >= parent_lower) and np.all(upper <= parent_upper)
        assert np.sum((lower != parent_lower) | (upper != parent_upper)) == 1
    assert search.values == [2.0, 2.0, 0.0]  # the best schedule, as found one by one above


# 5. capex within cash


def funded_case(min_units=0):
    # free energy, $2,100 of cash, no BTC and no sale allowed (every day's price is below the
    # floor), $200 machines that mine ~$620 each: cash alone pays for floor(2,100 / 200) = 10
    return renewal_case(
        [S19, S21], [{"site": "a", "model": "S19", "count": 10}], spot=0.0,
        purchases=[{"site": "a", "model": "S21", "max_units": 100, "min_units": min_units, "price_usd": 200.0}],
        treasury={"btc": 0, "cash_usd": 2100.0, "no_sale_below_usd": 1e9},
    )


def test_capex_beyond_cash_and_allowed_sales_is_not_taken():
    case = funded_case()
    assert float(margin_per_machine_usd(case, S21).sum()) > 3 * 200.0  # very profitable
    _, results = plan(case)
    assert results.kpis["machines_bought"] == math.floor(2100.0 / 200.0) == 10
    assert results.kpis["btc_sold"] == 0
    # purchases are solved relaxed then floored: the relaxation's 10.5 machines set the bound,
    # so with mip_gap 0 the whole-machine plan is certified feasible, and nothing is short
    assert results.kpis["shortfalls"] == [] and results.kpis["status"] == "feasible"
    assert results.kpis["ending_cash_usd"] == pytest.approx(100.0, abs=0.01)
    np.testing.assert_array_equal(fleet_rows(results, "S21")["ordered"], [10, 0, 0])


def test_capex_committed_beyond_cash_is_a_shortfall_of_the_amount_unfunded():
    # 15 machines committed x $200 = $3,000 against $2,100 of cash: $900 unfunded on 2026-01-01
    _, results = plan(funded_case(min_units=15))
    assert results.kpis["machines_bought"] == 15
    assert results.kpis["status"] == "optimal_with_shortfalls"
    (shortfall,) = results.kpis["shortfalls"]
    assert shortfall["item"] == "operating costs" and shortfall["date"] == "2026-01-01"
    assert shortfall["amount_usd"] == pytest.approx(15 * 200.0 - 2100.0, abs=0.01)
    assert results.treasury["emergency_funding_usd"].sum() == pytest.approx(900.0, abs=0.01)


# 6. retirement


def retirement_case(spot, max_units=None, maintenance=3.0):
    retirement = {"site": "a", "model": "S9"} | ({"max_units": max_units} if max_units else {})
    return renewal_case([dict(S9, resale_usd=20.0)], [{"site": "a", "model": "S9", "count": 1000}], spot=spot,
                        retirements=[retirement], treasury={"btc": 0, "cash_usd": 1e6},
                        opex={"maintenance_usd_per_machine_month": maintenance})


def test_machines_that_lose_money_are_all_retired_on_the_first_day():
    # at $200/MWh an S9 loses ~$6/day; retiring now fetches $20 and saves $3/month of maintenance
    case = retirement_case(200.0)
    assert (margin_per_machine_usd(case, S9) < 0).all()
    _, results = plan(case)
    s9 = fleet_rows(results, "S9")
    np.testing.assert_array_equal(s9["retired"], [1000, 0, 0])
    np.testing.assert_array_equal(s9["installed_end"], [0, 0, 0])
    assert results.kpis["machines_retired"] == 1000
    assert results.kpis["resale_proceeds_usd"] == pytest.approx(1000 * 20.0, rel=1e-12)
    assert s9.loc["2026-01", "resale_usd"] == pytest.approx(20_000.0, rel=1e-12)
    assert pnl_line(results, "renewal.fleet_maintenance_cost_usd") == 0
    assert results.treasury["other_cash_flow_usd"].iloc[0] == pytest.approx(20_000.0, abs=1e-6)
    np.testing.assert_array_equal(running(results, "S9"), 0)


def test_machines_are_retired_when_they_stop_paying_and_maintenance_stops_with_them():
    # free power in January (~$15/machine mined > $3 maintenance), $200/MWh from February:
    # mine January, retire all on 2026-02-01; maintenance 1,000 x $3 for January only
    case = retirement_case({"2026-01": 0.0, "2026-02": 200.0, "2026-03": 200.0})
    margin = margin_per_machine_usd(case, S9)
    months = period_months(case)
    assert margin[months == "2026-01"].sum() > 3.0 and (margin[months != "2026-01"] < 0).all()
    _, results = plan(case)
    np.testing.assert_array_equal(fleet_rows(results, "S9")["retired"], [0, 1000, 0])
    np.testing.assert_array_equal(running(results, "S9"), np.where(months == "2026-01", 1000, 0))
    maintenance = results.pnl_monthly.set_index("line").loc["renewal.fleet_maintenance_cost_usd"]
    np.testing.assert_allclose(maintenance[["2026-01", "2026-02", "2026-03"]], [-1000 * 3.0, 0, 0], atol=1e-6)
    assert results.kpis["resale_proceeds_usd"] == pytest.approx(20_000.0, rel=1e-12)
    assert results.kpis["opex_usd"] == pytest.approx(3000.0, rel=1e-9)


def test_retirements_stop_at_max_units():
    _, results = plan(retirement_case(200.0, max_units=300))
    np.testing.assert_array_equal(fleet_rows(results, "S9")["retired"], [300, 0, 0])
    assert results.kpis["resale_proceeds_usd"] == pytest.approx(300 * 20.0, rel=1e-12)
    # the 700 kept pay maintenance all horizon: three whole months
    assert pnl_line(results, "renewal.fleet_maintenance_cost_usd") == pytest.approx(-700 * 3 * 3.0, rel=1e-9)
    # and are valued at what retiring them on the last day would fetch
    assert results.kpis["terminal_fleet_value_usd"] == pytest.approx(700 * 20.0, rel=1e-12)


# reporting defects found while writing these tests


def test_the_summary_of_a_plan_that_retires_the_whole_fleet_on_day_one_is_valid_json(tmp_path):
    # DEFECT optimizer/results.py:150: uptime_fraction divides machine-hours run by machine-hours
    # installed without _ratio; with every machine retired on the first day both are 0, the KPI is
    # NaN, and write_json (allow_nan=False) fails: `hashplan run` ends in "internal error"
    from optimizer.output import write_json

    _, results = plan(retirement_case(200.0))
    assert results.kpis["machines_retired"] == 1000
    write_json(tmp_path / "summary.json", results.kpis)


def test_the_fleet_plan_rolls_forward_month_by_month():
    # DEFECT optimizer/results.py:459-462 (_fleet_plan): installed_start is the count after the
    # first day's deliveries and retirements, so a month's row does not roll forward
    # (start + delivered - retired != end) and does not open at the previous month's end
    for case in (purchase_case(1.0), retirement_case({"2026-01": 0.0, "2026-02": 200.0, "2026-03": 200.0})):
        _, results = plan(case)
        for _, rows in results.fleet_plan.groupby(["site", "model"]):
            start, end = rows["installed_start"].to_numpy(), rows["installed_end"].to_numpy()
            np.testing.assert_array_equal(start + rows["delivered"].to_numpy() - rows["retired"].to_numpy(), end)
            np.testing.assert_array_equal(start[1:], end[:-1])


# 7. availability and degradation


def test_availability_caps_running_at_that_share_of_installed_machines():
    # free power: everything available runs; 90% of 1,000 installed and of 100 bought
    case = renewal_case([dict(S19, availability=0.9), dict(S21, availability=0.9)],
                        [{"site": "a", "model": "S19", "count": 1000}], spot=0.0,
                        purchases=[{"site": "a", "model": "S21", "max_units": 100, "price_usd": 1.0}])
    _, results = plan(case)
    np.testing.assert_array_equal(running(results, "S19"), 900)
    np.testing.assert_array_equal(running(results, "S21"), 90)
    assert results.kpis["uptime_fraction"] == pytest.approx(0.9, rel=1e-12)


def test_degradation_mines_less_each_month_at_the_same_running_count():
    r = 0.02
    case = renewal_case([dict(S19, degradation_per_month=r)], [{"site": "a", "model": "S19", "count": 1000}], spot=0.0)
    _, results = plan(case)
    rows = results.dispatch
    count = rows["machines_running"].to_numpy()
    np.testing.assert_array_equal(count, 1000)
    undegraded = count * 100 * case.network.btc_per_th  # the same machines at nameplate [BTC]
    months = period_months(case)
    e = np.select([months == "2026-01", months == "2026-02"], [0, 1], 2)
    np.testing.assert_allclose(rows["btc_expected"], (1 - r) ** e * undegraded, rtol=1e-12)
    feb = months == "2026-02"
    assert rows["btc_expected"][feb].sum() == pytest.approx((1 - r) * undegraded[feb].sum(), rel=1e-12)
    assert results.kpis["btc_mined"] == pytest.approx(((1 - r) ** e * undegraded).sum(), rel=1e-12)
