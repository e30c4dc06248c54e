"""Power markets, hand-solved: 4CP, demand response, take-or-pay blocks, anti-cycling.

One site of 1,000 S19 XP (140 TH/s, 3,010 W: 3.01 MW) at hashprice $34.55/PH/day, so a
machine-hour earns 140 x 34.55 / 1000 / 24 = $0.2015 and a MW-hour of mining $66.96.
"""

from pathlib import Path

import numpy as np
import pytest

from casebuilder import case_with_spot, spec_dict
from models.build import build_model
from optimizer.results import extract_results
from optimizer.solve import solve

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def site_case(spot, power=None, hours=None, count=1000, interconnect_mw=10.0):
    hours = hours or len(spot)
    site_power = {"spot_usd_per_mwh": 0.0, **(power or {})}
    data = spec_dict(
        sites=[{"name": "a", "interconnect_mw": interconnect_mw, "power": site_power}],
        miner_models=[{"name": "S19 XP", "hashrate_th": 140, "power_w": 3010}],
        fleet=[{"site": "a", "model": "S19 XP", "count": count}],
        hours=hours,
        solver={"integer_below_units": 0},
    )
    return case_with_spot(data, {"a": np.asarray(spot, dtype=float)})


def run(case):
    model = build_model(case)
    report = solve(model, case.spec.solver)
    results = extract_results(model, case, report)
    return model, results, np.array([model.fleet.running[0, t].value for t in range(case.grid.n_periods)])


@pytest.mark.parametrize("rate, curtailed", [(60.0, True), (1.0, False)])
def test_four_cp_interval_is_curtailed_only_when_the_rate_pays(rate, curtailed):
    # the 4CP interval is hour 20 of 48: its charge is rate x 1000 x 48/8760 per MW of load there.
    # $60/kW-yr: $328.8/MW > the $36.96/MW margin at $30 spot -> off; $1/kW-yr: $5.48/MW -> on
    case = site_case(np.full(48, 30.0), {"four_cp": {"rate_usd_per_kw_year": rate, "intervals": ["2026-01-01T20:00"]}})
    _, results, running = run(case)
    assert running[20] == (0 if curtailed else 1000)
    assert np.all(np.delete(running, 20) == 1000)
    charge = rate * 1000 * 48 / 8760 * 3.01 * (running[20] / 1000)
    assert results.kpis["four_cp_charge_usd"] == pytest.approx(charge, abs=1e-6)
    assert results.kpis["four_cp_avoided_usd"] == pytest.approx(rate * 1000 * 48 / 8760 * 3.01 - charge, abs=1e-6)


def test_four_cp_candidates_weigh_by_probability():
    # two equally likely candidates in one month: each carries half the month's weight, so at
    # $60/kW-yr each costs $164.4/MW, still above the margin: both are curtailed
    case = site_case(np.full(48, 30.0), {"four_cp": {"rate_usd_per_kw_year": 60.0, "candidates": [
        {"interval": "2026-01-01T17:00", "probability": 0.5}, {"interval": "2026-01-02T17:00", "probability": 0.5}]}})
    model, _, running = run(case)
    np.testing.assert_allclose(model.four_cp.weights["a"][[17, 41]], [0.5, 0.5])
    assert running[17] == 0 and running[41] == 0


def test_committed_demand_response_holds_load_until_deployment_and_sheds_it_then():
    # a 2 MW ERS-style contract at $20/MW-h over 48 h earns $1,920; holding 2 MW through the two
    # $200 hours costs 2 x 2 x (200 - 66.96) = $532: commit the full 2 MW. Deployed at hour 30.
    spot = np.full(48, 30.0)
    spot[5:7] = 200.0
    case = site_case(spot, {"demand_response": [{"name": "ERS", "kind": "contract", "max_mw": 2.0, "price_usd_per_mw_hour": 20.0,
                                                  "deployments": ["2026-01-02T06:00"]}]})
    model, results, running = run(case)
    # the relaxation holds 664.45 machines (2 MW) through the spike; whole machines hold 664
    committed = model.demand_response.committed_mw[0].value
    assert committed == pytest.approx(664 * 3.01e-3)
    assert np.all(running[5:7] == 664)  # held through the $200 hours, not more
    assert running[30] * 3.01e-3 <= 3.01 - committed + 1e-9  # the committed MW are off at deployment
    assert running[30] == 335  # relaxed: (3.01 - 2.0) MW = 335.5 machines, floored
    assert results.kpis["demand_response_revenue_usd"] == pytest.approx(committed * 20.0 * 48)


def test_uncommitted_when_holding_load_costs_more_than_it_pays():
    # the same contract at $2/MW-h earns $192 per MW but holding costs $266 per MW: commit nothing
    spot = np.full(48, 30.0)
    spot[5:7] = 200.0
    case = site_case(spot, {"demand_response": [{"name": "ERS", "kind": "contract", "max_mw": 2.0, "price_usd_per_mw_hour": 2.0}]})
    model, results, running = run(case)
    assert model.demand_response.committed_mw[0].value == pytest.approx(0.0, abs=1e-9)
    assert np.all(running[5:7] == 0)


def test_hourly_product_is_offered_only_in_hours_that_pay():
    # RRS-style hourly offers at $50/MW-h: worth holding load even at $100 spot (loss 33 < 50)
    spot = np.full(24, 100.0)
    case = site_case(spot, {"demand_response": [{"name": "RRS", "kind": "hourly", "max_mw": 3.0, "price_usd_per_mw_hour": 50.0}]})
    model, results, running = run(case)
    offered = np.array([model.demand_response.committed_hourly_mw[0, t].value for t in range(24)])
    np.testing.assert_allclose(offered, np.minimum(3.0, running * 3.01e-3), atol=1e-9)
    assert np.all(running == 996)  # 3 MW held: 997 machines would be 3.0007 MW, floored plan 996 after repair bound


def test_take_or_pay_block_cost_and_resale_add_up():
    # a 5 MW block at $40 under a 3.01 MW fleet at $30 spot: 1.99 MW resold every hour
    case = site_case(np.full(24, 30.0), {"fixed_block": {"mw": 5.0, "price_usd_per_mwh": 40.0}})
    _, results, running = run(case)
    assert np.all(running == 1000)
    k = results.kpis
    assert k["fixed_block_cost_usd"] == pytest.approx(5 * 40 * 24)
    assert k["fixed_block_resale_usd"] == pytest.approx(1.99 * 30 * 24)
    assert k["energy_cost_usd"] == pytest.approx(k["fixed_block_cost_usd"] - k["fixed_block_resale_usd"])


def test_block_hours_limit_when_the_block_applies():
    # an on-peak block (local 7-22) costs 16 of 24 hours
    case = site_case(np.full(24, 30.0), {"fixed_block": [{"mw": 2.0, "price_usd_per_mwh": 40.0, "hours": list(range(7, 23))}]})
    _, results, _ = run(case)
    assert results.kpis["fixed_block_cost_usd"] == pytest.approx(2 * 40 * 16)
    assert results.kpis["fixed_block_resale_usd"] == 0.0  # the fleet draws more than the block


def _switches(running):
    return int(np.count_nonzero(np.diff(running)))


def test_without_anti_cycling_the_plan_flaps_around_break_even():
    spot = np.tile([30.0, 90.0], 12)  # $90 is above the $66.96 break-even, $30 below
    _, _, running = run(site_case(spot))
    assert _switches(running) == 23


@pytest.mark.parametrize("anti_cycling", [{"switching_cost_usd_per_mw": 20.0}, {"min_off_periods": 4}])
def test_anti_cycling_removes_flapping(anti_cycling):
    # switching off for one $90 hour saves $23.04/MW but costs 2 x $20/MW of switching; a 4-hour
    # minimum off time covers two $90 hours (+$46.08/MW) and two $30 hours (-$73.92/MW): the
    # fleet stays on. The series ends on a cheap hour so that no final switch-off pays.
    spot = np.r_[np.tile([30.0, 90.0], 12), 30.0]
    _, results, running = run(site_case(spot, {"anti_cycling": anti_cycling}))
    assert _switches(running) == 0 and np.all(running == 1000)
    assert results.kpis["switching_cost_usd"] == 0.0


def test_switching_cost_is_paid_when_switching_pays():
    # a 6-hour $500 spike: off for it, pay 2 x 3.01 MW x $20 = $120.4 to switch off and on
    spot = np.full(24, 30.0)
    spot[10:16] = 500.0
    _, results, running = run(site_case(spot, {"anti_cycling": {"switching_cost_usd_per_mw": 20.0}}))
    assert np.all(running[10:16] == 0) and _switches(running) == 2
    assert results.kpis["switching_cost_usd"] == pytest.approx(2 * 3.01 * 20.0)


def test_monthly_peaks_of_the_real_2023_ercot_load():
    # shared/data/README.md: the 2023 peak was 85,464 MW at HE18 (17:00-18:00) on 2023-08-10
    import pandas as pd

    from optimizer import market

    table = pd.read_csv(EXAMPLES / "ercot_west_2023" / "ercot_system_load_2023.csv")
    load = pd.Series(table["ERCOT"].to_numpy(), index=pd.to_datetime(table["timestamp"], utc=True).dt.tz_convert("America/Chicago"))
    peaks = market.monthly_peak_intervals(load)
    assert [p.month for p in peaks] == [6, 7, 8, 9]
    assert peaks[2] == pd.Timestamp("2023-08-10 17:00", tz="America/Chicago") and load[peaks[2]] == pytest.approx(85_464, abs=1)
    assert all(load[p] == load[load.index.month == p.month].max() for p in peaks)


def test_four_cp_verb_prints_intervals_the_case_can_use(capsys):
    import yaml

    from optimizer.cli import main

    assert main(["four-cp", str(EXAMPLES / "ercot_west_2023" / "ercot_system_load_2023.csv"), "--column", "ERCOT"]) == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    case = yaml.safe_load((EXAMPLES / "ercot_west_2023" / "case.yaml").read_text())
    assert printed["intervals"] == case["sites"][0]["power"]["four_cp"]["intervals"]
