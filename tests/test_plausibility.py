"""Values in the wrong unit and impossible policies are errors, not strange plans."""

import pytest

from optimizer.case import load_case
from optimizer.case.errors import PlausibilityError, SchemaError
from test_validation import SPOT_FIELD, base_case, case_dir, spot_csv, write_case  # noqa: F401  (case_dir is a fixture)


def expect(case_dir, case, error, field, text, **csvs):
    with pytest.raises(error) as info:
        load_case(write_case(case_dir, case, **csvs))
    assert info.value.field == field and text in info.value.message and "Fix:" in info.value.message, info.value.message


def test_spot_prices_in_usd_per_kwh(case_dir):
    expect(case_dir, base_case(), PlausibilityError, SPOT_FIELD, "not per kWh", spot_csv=spot_csv(values=[0.03] * 24))


def test_free_power_is_plausible(case_dir):
    assert load_case(write_case(case_dir, base_case(), spot_csv=spot_csv(values=[0.0] * 24))).spot_usd_per_mwh["west"].max() == 0.0


@pytest.mark.parametrize("price, text", [(68.0, "not thousands"), (6.8e9, "not cents")])
def test_btc_price_in_the_wrong_unit(case_dir, price, text):
    case = base_case()
    case["network"]["btc_price_usd"] = price
    expect(case_dir, case, PlausibilityError, "network.btc_price_usd", text)


def test_btc_floor_above_the_holdings(case_dir):
    case = base_case()
    case["treasury"] = {"btc": 100.0, "cash_usd": 1e6, "min_btc": 150.0}
    expect(case_dir, case, SchemaError, "treasury.min_btc", "above the 100.00 BTC held at the start")


def test_covenant_above_all_the_cash_the_plan_could_hold(case_dir):
    # $1M and 10 BTC at most ~$31k plus a day's mining can never reach $10bn
    case = base_case()
    case["treasury"] = {"btc": 10.0, "cash_usd": 1e6, "min_cash_usd": 1e10}
    expect(case_dir, case, SchemaError, "treasury.min_cash_usd", "could ever hold")


def test_a_covenant_met_only_by_selling_btc_is_allowed(case_dir):
    case = base_case()
    case["treasury"] = {"btc": 100.0, "cash_usd": 1e6, "min_cash_usd": 2e6}
    assert load_case(write_case(case_dir, case)).spec.treasury.min_cash_usd == 2e6
