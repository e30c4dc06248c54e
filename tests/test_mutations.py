"""Mutations of a valid case: one field or one CSV cell broken at a time, never a traceback.

Hypothesis starts from a small valid case that uses every section of the schema (sites,
fleet, modes, treasury, debt, opex, objective, purchases, retirements, HPC, solver) and a spot
CSV, breaks one thing, and runs ``hashplan validate``. Whatever the mutation, the command
ends with exit code 0 (the change happened to be valid, e.g. a negative adder) or exit code 2
with one line that names the field and gives the fix; exit code 1 (an internal error) or a
traceback fails the test. Mutations that can never be valid (an unknown key, NaN or infinity
or text where a number stands, an unparseable or duplicated timestamp, a missing row) must
give exit code 2.
"""

from __future__ import annotations

import copy
import math
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, event, given, settings
from hypothesis import strategies as st

from optimizer.cli import main
from test_validation import SPOT_FILE, base_case, hourly, spot_csv, write_case

RICH_SECTIONS = {
    "treasury": {"btc": 10.0, "cash_usd": 1e6, "min_cash_usd": 1e5, "min_btc": 1.0, "max_sale_btc_per_day": 5.0, "sale_cost_bps": 10.0},
    "debt": [{"name": "loan", "date": "2023-07-01", "interest_usd": 1e4, "principal_usd": 5e4}],
    "opex": {"fixed_usd_per_month": 1e5, "maintenance_usd_per_machine_month": 3.0},
    "objective": {"terminal_btc_haircut": 0.05},
    "purchases": [{"site": "west", "model": "S21", "max_units": 100, "lead_time_days": 0, "price_usd": 3000.0}],
    "retirements": [{"site": "west", "model": "S19 XP"}],
    "hpc": [{"site": "west", "max_mw": 2, "block_mw": 1, "capex_usd_per_mw": 1e6, "lead_time_days": 0, "rate_usd_per_kw_month": 100.0, "utilisation": 0.8}],
    "solver": {"time_limit_s": 60.0, "mip_gap": 0.001},
}


def rich_case() -> dict:
    case = base_case()
    case["miner_models"][0].update(resale_usd=400.0, availability=0.95, degradation_per_month=0.003)
    case.update(copy.deepcopy(RICH_SECTIONS))
    return case


def paths(node, prefix=()) -> list[tuple]:
    """Every key path in a nested mapping/list, inner nodes included."""
    found = []
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, child in items:
        found.append(prefix + (key,))
        found += paths(child, prefix + (key,))
    return found


PATHS = paths(rich_case())


def value_at(case: dict, path: tuple):
    node = case
    for key in path:
        node = node[key]
    return node


def is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


NEVER_VALID = ["not a number", math.nan, math.inf, -math.inf]
"""Replacements that no numeric field accepts."""

ANY_VALUE = st.one_of(
    st.sampled_from([None, True, False, "", "zz", "x" * 300, [], {}, [1, 2], {"bogus": 1}, 0, -1, -1e-9, 1e-300, 1e308, 2**63]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-(10**6), 10**6),
    st.text(max_size=20),
)


@st.composite
def mutated_cases(draw):
    """(case mapping, description, whether the mutation can never be valid)."""
    case = rich_case()
    kind = draw(st.sampled_from(["replace", "delete", "unknown key", "never valid number"]))
    if kind == "unknown key":
        containers = [()] + [p for p in PATHS if isinstance(value_at(case, p), dict)]
        path = draw(st.sampled_from(containers))
        value_at(case, path)["bogus_field"] = 1
        return case, f"unknown key under {path}", True
    if kind == "never valid number":
        path = draw(st.sampled_from([p for p in PATHS if is_number(value_at(case, p))]))
        replacement = draw(st.sampled_from(NEVER_VALID))
        value_at(case, path[:-1])[path[-1]] = replacement
        return case, f"{path} = {replacement!r}", True
    path = draw(st.sampled_from(PATHS))
    parent = value_at(case, path[:-1])
    if kind == "delete":
        del parent[path[-1]]
        return case, f"deleted {path}", False
    replacement = draw(ANY_VALUE)
    parent[path[-1]] = replacement
    return case, f"{path} = {replacement!r}", False


@st.composite
def mutated_spot_csvs(draw):
    """(spot CSV text, description, whether the mutation can never be valid)."""
    stamps, values = hourly(), [20.0 + i for i in range(24)]
    row = draw(st.integers(0, 23))
    kind = draw(st.sampled_from(["value", "text value", "empty value", "bad timestamp", "duplicate row", "missing row", "swapped rows"]))
    if kind == "value":
        values[row] = draw(st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-(10**9), 10**9)))
        return spot_csv(stamps, values), f"row {row} value {values[row]!r}", False
    if kind == "text value":
        values[row] = draw(st.sampled_from(["abc", "1,5", "$20", "20 USD", "nan"]))
    elif kind == "empty value":
        values[row] = ""
    elif kind == "bad timestamp":
        stamps[row] = draw(st.sampled_from(["", "yesterday", "2023-13-01T00:00", "2023-07-01T25:00", "07/01/2023 00:00:00 PM"]))
    elif kind == "duplicate row":
        stamps.insert(row, stamps[row])
        values.insert(row, values[row])
    elif kind == "missing row":
        del stamps[row], values[row]
    else:
        other = (row + draw(st.integers(1, 23))) % 24
        stamps[row], stamps[other] = stamps[other], stamps[row]
    return spot_csv(stamps, values), f"{kind} at row {row}", True


def validate(case: dict, spot: str, capsys) -> tuple[int, str]:
    with tempfile.TemporaryDirectory() as folder:
        path = write_case(Path(folder), case, spot_csv=spot)
        code = main(["validate", str(path)])
    out, err = capsys.readouterr()
    return code, err if code else out


def assert_clean(code: int, text: str, never_valid: bool, description: str) -> None:
    assert code in (0, 2), f"{description}: exit {code}: {text}"
    if never_valid:
        assert code == 2, f"{description} was accepted: {text}"
    if code == 2:
        lines = text.strip("\n").splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and "Fix: " in lines[0], f"{description}: {text}"
        assert "Traceback" not in text
    event(f"exit {code}")


SETTINGS = dict(
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    phases=[Phase.explicit, Phase.generate],
)


def test_the_rich_base_case_is_valid(tmp_path, capsys):
    path = write_case(tmp_path, rich_case(), spot_csv=spot_csv())
    assert main(["validate", str(path)]) == 0, capsys.readouterr().err
    assert (tmp_path / SPOT_FILE).exists()


@pytest.mark.slow
@settings(max_examples=1000, **SETTINGS)
@given(mutated_cases())
def test_one_broken_field_gives_the_clean_error(capsys, drawn):
    case, description, never_valid = drawn
    assert_clean(*validate(case, spot_csv(), capsys), never_valid, description)


@pytest.mark.slow
@settings(max_examples=300, **SETTINGS)
@given(mutated_spot_csvs())
def test_one_broken_csv_cell_or_row_gives_the_clean_error(capsys, drawn):
    spot, description, never_valid = drawn
    assert_clean(*validate(rich_case(), spot, capsys), never_valid, description)
