"""Validation of the treasury sections: one test per rule, in the style of test_validation.py.

Each test starts from the valid base case of test_validation.py (24 hourly periods of
2023-07-01 in America/Chicago), adds or changes the treasury, debt, opex or objective
section, and checks the :class:`~optimizer.case.errors.CaseError` that ``load_case`` raises:
its class, that its message starts with the offending field, and that it gives a ``Fix:``.
"""

from __future__ import annotations

import datetime as dt

import pytest

from optimizer.case import load_case
from optimizer.case.errors import SchemaError
from optimizer.case.schema import DebtPayment
from test_validation import base_case, case_dir, expect_error, set_in, write_case  # noqa: F401  (case_dir is a fixture)

DAY = "2023-07-01"  # the base case's only local day

TREASURY = {"btc": 100.0, "cash_usd": 2_000_000.0}
PAYMENT = {"name": "converts coupon", "date": DAY, "amount_usd": 250_000.0}


def treasury_case(**sections) -> dict:
    """The base case with a treasury and the given extra sections (debt, opex, objective...)."""
    case = base_case()
    case["treasury"] = dict(TREASURY)
    case.update(sections)
    return case


# --- the valid treasury case ----------------------------------------------------------------


def test_treasury_case_loads(case_dir):
    case = treasury_case(debt=[dict(PAYMENT)], opex={"fixed_usd_per_month": 1e5}, objective={"terminal_btc_haircut": 0.1})
    loaded = load_case(write_case(case_dir, case))
    assert loaded.spec.treasury.cash_usd == 2_000_000.0
    assert loaded.spec.debt[0].total_usd == 250_000.0


def test_payment_as_interest_plus_principal_loads(case_dir):
    payment = {"name": "term loan", "date": DAY, "interest_usd": 40_000.0, "principal_usd": 160_000.5}
    loaded = load_case(write_case(case_dir, treasury_case(debt=[payment])))
    (debt,) = loaded.spec.debt
    assert debt.amount_usd is None
    assert debt.total_usd == 200_000.5
    # the same payment given with a matching amount_usd too is accepted (within half a cent)
    same = DebtPayment(name="term loan", date=dt.date(2023, 7, 1), amount_usd=200_000.504, interest_usd=40_000.0, principal_usd=160_000.5)
    assert same.total_usd == 200_000.504


# --- sections that need a treasury ----------------------------------------------------------


@pytest.mark.parametrize(
    "field, value",
    [
        ("debt", [PAYMENT]),
        ("opex", {"fixed_usd_per_month": 50_000.0}),
        ("objective", {"terminal_btc_haircut": 0.05}),
    ],
)
def test_section_without_treasury(case_dir, field, value):
    case = base_case()
    case[field] = value
    error = expect_error(case_dir, case, SchemaError, field, contains=("no `treasury` section",))
    assert error.field == field
    assert "treasury" in error.fix


# --- dates inside the horizon ---------------------------------------------------------------


@pytest.mark.parametrize("date", ["2023-06-30", "2023-07-02"])
def test_debt_date_outside_horizon(case_dir, date):
    case = treasury_case(debt=[dict(PAYMENT, date=date)])
    error = expect_error(case_dir, case, SchemaError, "debt[0].date", contains=(date, "outside the horizon", "converts coupon"))
    assert error.field == "debt[0].date"


def test_second_debt_date_outside_horizon_names_its_index(case_dir):
    case = treasury_case(debt=[dict(PAYMENT), dict(PAYMENT, name="term loan", date="2023-08-01")])
    expect_error(case_dir, case, SchemaError, "debt[1].date", contains=("2023-08-01",))


@pytest.mark.parametrize("date", ["2023-06-30", "2023-07-02"])
def test_covenant_date_outside_horizon(case_dir, date):
    case = treasury_case()
    case["treasury"].update(min_cash_usd=1e6, covenant_dates=[date])
    error = expect_error(case_dir, case, SchemaError, "treasury.covenant_dates[0]", contains=(date, "outside the horizon"))
    assert error.field == "treasury.covenant_dates[0]"


def test_covenant_date_inside_horizon_loads(case_dir):
    case = treasury_case()
    case["treasury"].update(min_cash_usd=1e6, covenant_dates=[DAY])
    assert load_case(write_case(case_dir, case)).spec.treasury.covenant_dates == [dt.date(2023, 7, 1)]


# --- debt payment amounts -------------------------------------------------------------------


@pytest.mark.parametrize(
    "parts",
    [{}, {"interest_usd": 40_000.0}, {"principal_usd": 160_000.0}],
    ids=["nothing", "interest only", "principal only"],
)
def test_payment_without_amount(case_dir, parts):
    payment = {"name": "term loan", "date": DAY, **parts}
    expect_error(case_dir, treasury_case(debt=[payment]), SchemaError, "debt[0]", contains=("give amount_usd, or both interest_usd and principal_usd",))


def test_payment_parts_disagree_with_amount(case_dir):
    payment = {"name": "term loan", "date": DAY, "amount_usd": 250_000.0, "interest_usd": 40_000.0, "principal_usd": 160_000.0}
    expect_error(case_dir, treasury_case(debt=[payment]), SchemaError, "debt[0]", contains=("200,000.00", "250,000.00"))


# --- treasury fields ------------------------------------------------------------------------


def test_negative_cash(case_dir):
    case = set_in(treasury_case(), "treasury.cash_usd", -1.0)
    expect_error(case_dir, case, SchemaError, "treasury.cash_usd", contains=("must be >= 0", "(got -1.0)"))


def test_sale_cost_of_the_whole_proceeds(case_dir):
    case = set_in(treasury_case(), "treasury.sale_cost_bps", 10_000)
    expect_error(case_dir, case, SchemaError, "treasury.sale_cost_bps", contains=("must be < 10000", "(got 10000)"))


def test_boolean_for_max_sale(case_dir):
    case = set_in(treasury_case(), "treasury.max_sale_btc_per_day", True)
    expect_error(case_dir, case, SchemaError, "treasury.max_sale_btc_per_day", contains=("boolean",))


def test_unknown_treasury_field_suggests_the_right_one(case_dir):
    case = set_in(treasury_case(), "treasury.min_cash", 1e6)
    error = expect_error(case_dir, case, SchemaError, "treasury.min_cash", contains=("unknown field `min_cash`",))
    assert "did you mean `min_cash_usd`?" in error.fix
