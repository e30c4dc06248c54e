"""Validation of the power-market sections (4CP, demand response, blocks, anti-cycling).

Each test starts from the valid base case of test_validation.py (24 hourly periods of
2023-07-01 in America/Chicago), sets one power section and checks the error class, that the
message starts with the offending field, and that it gives a ``Fix:``.
"""

from __future__ import annotations

import pytest

from optimizer.case import load_case
from optimizer.case.errors import SchemaError
from test_validation import base_case, case_dir, expect_error, write_case  # noqa: F401  (case_dir is a fixture)

POWER = "sites[0].power"
ERS = {"name": "ERS", "kind": "contract", "max_mw": 1.0, "price_usd_per_mw_hour": 8.0}


def power_case(**power) -> dict:
    case = base_case()
    case["sites"][0]["power"].update(power)
    return case


def test_power_sections_load(case_dir):
    case = power_case(
        fixed_block=[{"mw": 1.0, "price_usd_per_mwh": 40.0, "hours": [7, 8, 9]}, {"mw": 0.5, "price_usd_per_mwh": 30.0}],
        delivery_usd_per_mwh=2.0,
        four_cp={"rate_usd_per_kw_year": 60.0, "intervals": ["2023-07-01T17:00"], "candidates": [{"interval": "2023-07-01T16:00", "probability": 0.4}]},
        demand_response=[dict(ERS, hours=[19, 20], deployments=["2023-07-01T19:00"])],
        anti_cycling={"switching_cost_usd_per_mw": 2.0, "min_run_periods": 2},
    )
    loaded = load_case(write_case(case_dir, case))
    power = loaded.spec.sites[0].power
    assert len(power.fixed_blocks) == 2 and power.per_mwh_charges_usd == power.adder_usd_per_mwh + 2.0
    assert loaded.demand_response_price_usd_per_mw_hour[("west", "ERS")].tolist() == [8.0] * 24


def test_four_cp_needs_intervals(case_dir):
    expect_error(case_dir, power_case(four_cp={"rate_usd_per_kw_year": 60.0}), SchemaError, f"{POWER}.four_cp", contains=("no intervals",))


def test_four_cp_interval_outside_the_horizon(case_dir):
    case = power_case(four_cp={"rate_usd_per_kw_year": 60.0, "intervals": ["2023-08-10T17:00"]})
    expect_error(case_dir, case, SchemaError, f"{POWER}.four_cp.intervals[0]", contains=("outside the horizon",))


def test_four_cp_probabilities_of_a_month_above_one(case_dir):
    candidates = [{"interval": "2023-07-01T16:00", "probability": 0.7}, {"interval": "2023-07-01T17:00", "probability": 0.6}]
    case = power_case(four_cp={"rate_usd_per_kw_year": 60.0, "candidates": candidates})
    expect_error(case_dir, case, SchemaError, f"{POWER}.four_cp.candidates[1].probability", contains=("add up to 1.3",))


def test_four_cp_rate_must_be_positive(case_dir):
    case = power_case(four_cp={"rate_usd_per_kw_year": 0, "intervals": ["2023-07-01T17:00"]})
    expect_error(case_dir, case, SchemaError, f"{POWER}.four_cp.rate_usd_per_kw_year")


def test_demand_response_names_unique_per_site(case_dir):
    expect_error(case_dir, power_case(demand_response=[dict(ERS), dict(ERS)]), SchemaError, f"{POWER}.demand_response[1].name")


def test_demand_response_term_ends_before_it_starts(case_dir):
    product = dict(ERS, start="2023-07-01T12:00", end="2023-07-01T06:00")
    expect_error(case_dir, power_case(demand_response=[product]), SchemaError, f"{POWER}.demand_response[0].end")


def test_demand_response_deployment_outside_the_term(case_dir):
    product = dict(ERS, start="2023-07-01T12:00", deployments=["2023-07-01T06:00"])
    expect_error(case_dir, power_case(demand_response=[product]), SchemaError, f"{POWER}.demand_response[0].deployments[0]",
                 contains=("outside the product's term",))


def test_demand_response_deployment_outside_obligation_hours(case_dir):
    product = dict(ERS, hours=[19, 20], deployments=["2023-07-01T06:00"])
    expect_error(case_dir, power_case(demand_response=[product]), SchemaError, f"{POWER}.demand_response[0].deployments[0]",
                 contains=("obligation hours",))


def test_demand_response_kind_is_contract_or_hourly(case_dir):
    expect_error(case_dir, power_case(demand_response=[dict(ERS, kind="monthly")]), SchemaError, f"{POWER}.demand_response[0].kind")


def test_block_hours_are_hours_of_the_day(case_dir):
    case = power_case(fixed_block={"mw": 1.0, "price_usd_per_mwh": 40.0, "hours": [24]})
    expect_error(case_dir, case, SchemaError, f"{POWER}.fixed_block")


@pytest.mark.parametrize("field", ["min_run_periods", "min_off_periods"])
def test_minimum_times_are_at_least_one_period(case_dir, field):
    expect_error(case_dir, power_case(anti_cycling={field: 0}), SchemaError, f"{POWER}.anti_cycling.{field}")
