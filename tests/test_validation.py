"""Input validation: every rule raises its typed error, naming the field, the CSV line and the fix.

Each test starts from a small valid case (one site, two models, 24 hourly periods in
America/Chicago, constant network figures, spot prices from a CSV next to the case),
changes one thing, and checks the :class:`~optimizer.case.errors.CaseError` that
``load_case`` raises: its class, that its one-line message starts with the offending
field, names the CSV line where relevant (data row ``i`` is ``line i + 2``) and gives a
``Fix:``. No model is built or solved.
"""

from __future__ import annotations

import copy
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from optimizer.case import CaseError, load_case
from optimizer.case.errors import PlausibilityError, SchemaError, SeriesError, SeriesFileError, UnknownNameError
from optimizer.cli import main

# --- the valid base case ------------------------------------------------------------------

TZ = "America/Chicago"
SPOT_FILE = "spot.csv"
SPOT_COLUMN = "price_usd_per_mwh"
SPOT_FIELD = "sites[0].power.spot_usd_per_mwh"
NETWORK_FILE = "network.csv"

BASE_CASE = {
    "name": "validation base",
    "horizon": {"start": "2023-07-01T00:00", "end": "2023-07-02T00:00", "resolution": "1h", "timezone": TZ},
    "network": {
        "btc_price_usd": 30000.0,
        "difficulty": 5.2e13,
        "fees_btc_per_block": 0.15,
        "block_height": 797000,
        "pool_fee": 0.02,
    },
    "miner_models": [
        {"name": "S19 XP", "hashrate_th": 140, "power_w": 3010},
        {"name": "S21", "hashrate_th": 200, "power_w": 3500, "modes": [{"name": "eco", "hashrate_th": 160, "power_w": 2600}]},
    ],
    "sites": [
        {
            "name": "west",
            "interconnect_mw": 5,
            "aux_load_fraction": 0.04,
            "power": {"spot_usd_per_mwh": {"file": SPOT_FILE, "column": SPOT_COLUMN}, "adder_usd_per_mwh": 3.0},
        }
    ],
    "fleet": [{"site": "west", "model": "S19 XP", "count": 600}, {"site": "west", "model": "S21", "count": 400}],
}


def base_case() -> dict:
    """A fresh deep copy of the valid base case, safe to mutate."""
    return copy.deepcopy(BASE_CASE)


def hourly(first: str = "2023-07-01T00:00", n: int = 24) -> list[str]:
    """``n`` naive hourly ISO timestamps from ``first`` (wall-clock arithmetic, no time zone)."""
    return [t.strftime("%Y-%m-%dT%H:%M") for t in pd.date_range(first, periods=n, freq="h")]


def csv_text(header: str, rows: list[tuple]) -> str:
    """CSV file text: a header line, then one line per row."""
    return header + "\n" + "".join(",".join(str(v) for v in row) + "\n" for row in rows)


def spot_csv(stamps: list[str] | None = None, values: list | None = None, header: str | None = None) -> str:
    """The spot-price CSV; by default 24 naive local hours of 2023-07-01 with prices 20, 21, ..."""
    stamps = hourly() if stamps is None else stamps
    values = [20 + i for i in range(len(stamps))] if values is None else values
    return csv_text(header or f"timestamp,{SPOT_COLUMN}", list(zip(stamps, values)))


def network_csv(**overrides: dict[int, object]) -> str:
    """Hourly network figures over the base horizon; ``column={row: value}`` overrides cells."""
    columns = {
        "btc_price_usd": [30000.0] * 24,
        "difficulty": [5.2e13] * 24,
        "network_hashrate_ehs": [380.0] * 24,
        "fees_btc_per_block": [0.15] * 24,
    }
    for column, cells in overrides.items():
        for row, value in cells.items():
            columns[column][row] = value
    return csv_text("timestamp," + ",".join(columns), list(zip(hourly(), *columns.values())))


_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml when present: same output, faster

_PATH_TOKEN = re.compile(r"([A-Za-z_]\w*)|\[(\d+)\]")


def _walk(case: dict, field: str):
    """The container holding ``field`` (written as in error messages) and its last key."""
    keys = [name if name else int(index) for name, index in _PATH_TOKEN.findall(field)]
    node = case
    for key in keys[:-1]:
        node = node[key]
    return node, keys[-1]


def set_in(case: dict, field: str, value) -> dict:
    """Set ``case[field]`` for a path like ``sites[0].interconnect_mw``; returns the case."""
    node, key = _walk(case, field)
    node[key] = value
    return case


def del_in(case: dict, field: str) -> dict:
    """Remove ``field`` (a path like ``sites[0].power``) from the case; returns the case."""
    node, key = _walk(case, field)
    del node[key]
    return case


@pytest.fixture
def case_dir(tmp_path: Path) -> Path:
    """A case folder (inside ``tmp_path``, so ``..`` is outside it) holding the default spot CSV."""
    folder = tmp_path / "case"
    folder.mkdir()
    (folder / SPOT_FILE).write_text(spot_csv(), encoding="utf-8")
    return folder


def write_case(case_dir: Path, case: dict, **csvs: str) -> Path:
    """Write ``case.yaml`` and the given CSV files (keyword ``name_csv`` -> ``name.csv``)."""
    for name, text in csvs.items():
        (case_dir / name.replace("_csv", ".csv")).write_text(text, encoding="utf-8")
    path = case_dir / "case.yaml"
    path.write_text(yaml.dump(case, Dumper=_DUMPER, sort_keys=False), encoding="utf-8")
    return path


def expect_error(case_dir: Path, case: dict, error: type[CaseError], field: str, line: int | None = None, *, contains=(), **csvs: str) -> CaseError:
    """Load the case, expecting exactly ``error`` on ``field`` (and CSV ``line``), and return it."""
    path = write_case(case_dir, case, **csvs)
    with pytest.raises(CaseError) as info:
        load_case(path)
    return check_error(info.value, error, field, line, contains)


def check_error(exc: BaseException, error: type[CaseError], field: str, line: int | None = None, contains=()) -> CaseError:
    """Assert the error class, the field at the start of the message, the line, ``Fix:`` and one line."""
    message = exc.message
    assert type(exc) is error, f"expected {error.__name__}, got {type(exc).__name__}: {message}"
    assert message.startswith(field), f"message does not start with {field!r}: {message}"
    assert exc.field.startswith(field)
    assert "Fix: " in message and exc.fix.strip(), message
    assert "\n" not in message, message
    assert str(exc) == message
    if line is None:
        assert not re.search(r"\(line \d+\)", message), message
    else:
        assert exc.row == f"line {line}", message
        assert f"(line {line}):" in message, message
    for text in contains:
        assert text in message, f"{text!r} not in: {message}"
    return exc


# --- the base case is valid ----------------------------------------------------------------


def test_base_case_loads(case_dir):
    case = load_case(write_case(case_dir, base_case()))
    assert case.grid.n_periods == 24
    np.testing.assert_allclose(case.spot_usd_per_mwh["west"], np.arange(20, 44))
    np.testing.assert_allclose(case.network.btc_price_usd, 30000.0)


def test_base_case_with_network_series_loads(case_dir):
    case = base_case()
    for column in ("btc_price_usd", "difficulty", "fees_btc_per_block"):
        case["network"][column] = {"file": NETWORK_FILE, "column": column}
    loaded = load_case(write_case(case_dir, case, network_csv=network_csv(fees_btc_per_block={3: 0})))
    np.testing.assert_allclose(loaded.network.fees_btc_per_block[3], 0.0)


def test_network_hashrate_instead_of_difficulty_loads(case_dir):
    case = base_case()
    del case["network"]["difficulty"]
    case["network"]["network_hashrate_ehs"] = 380.0
    assert load_case(write_case(case_dir, case)).grid.n_periods == 24


def test_negative_spot_prices_are_accepted(case_dir):
    values = [20 + i for i in range(24)]
    values[3] = -12.5  # ERCOT prices go negative: spot has no sign rule
    loaded = load_case(write_case(case_dir, base_case(), spot_csv=spot_csv(values=values)))
    assert loaded.spot_usd_per_mwh["west"][3] == pytest.approx(-12.5)


# --- schema: missing, unknown, out of range, wrong type ---------------------------------------


@pytest.mark.parametrize(
    "field",
    [
        "name",
        "horizon",
        "horizon.start",
        "network.block_height",
        "network.btc_price_usd",
        "miner_models[0].power_w",
        "miner_models[1].modes[0].hashrate_th",
        "sites[0].interconnect_mw",
        "sites[0].power",
        "sites[0].power.spot_usd_per_mwh",
        "fleet[1].count",
    ],
)
def test_missing_required_field(case_dir, field):
    name = re.findall(r"\w+", field)[-1]
    error = expect_error(case_dir, del_in(base_case(), field), SchemaError, field, contains=("required field is missing",))
    assert name in error.fix


@pytest.mark.parametrize(
    "parent, typo, allowed",
    [
        ("", "solvr", "solver"),
        ("horizon", "time_zone", "timezone"),
        ("network", "pool_fees", "pool_fee"),
        ("sites[0]", "aux_load_fracton", "aux_load_fraction"),
        ("sites[0].power", "adder_usd_mwh", "adder_usd_per_mwh"),
        ("miner_models[1].modes[0]", "power_kw", "power_w"),
        ("sites[0].power.spot_usd_per_mwh", "sheet", "column"),
    ],
)
def test_unknown_field_lists_allowed_fields(case_dir, parent, typo, allowed):
    case = base_case()
    node = _walk(case, parent + ".x")[0] if parent else case
    node[typo] = 1
    field = f"{parent}.{typo}" if parent else typo
    error = expect_error(case_dir, case, SchemaError, field, contains=(f"unknown field `{typo}`", "fields allowed here:"))
    assert allowed in error.fix


@pytest.mark.parametrize(
    "parent, typo, right",
    [("sites[0]", "interconect_mw", "interconnect_mw"), ("", "horizn", "horizon"), ("fleet[0]", "cout", "count")],
)
def test_misspelt_required_field_is_reported_as_unknown(case_dir, parent, typo, right):
    """The misspelling, not the "missing" field it causes, is what the user must fix."""
    case = base_case()
    node = _walk(case, parent + ".x")[0] if parent else case
    node[typo] = node.pop(right)
    field = f"{parent}.{typo}" if parent else typo
    error = expect_error(case_dir, case, SchemaError, field, contains=(f"unknown field `{typo}`",))
    assert right in error.fix


@pytest.mark.parametrize(
    "field, value, bound",
    [
        ("sites[0].interconnect_mw", 0, "> 0"),
        ("sites[0].interconnect_mw", -5, "> 0"),
        ("fleet[0].count", 0, "> 0"),
        ("fleet[1].count", -3, "> 0"),
        ("network.btc_price_usd", 0, "> 0"),
        ("network.fees_btc_per_block", -0.1, ">= 0"),
        ("network.pool_fee", 1.0, "< 1"),
        ("sites[0].aux_load_fraction", -0.1, ">= 0"),
        ("miner_models[0].hashrate_th", 0, "> 0"),
        ("miner_models[1].modes[0].power_w", -1, "> 0"),
    ],
)
def test_out_of_range_number(case_dir, field, value, bound):
    expect_error(case_dir, set_in(base_case(), field, value), SchemaError, field, contains=(f"must be {bound}", f"(got {value!r})"))


@pytest.mark.parametrize("value", [2.5, "ten", "12 units"])
def test_fleet_count_must_be_whole(case_dir, value):
    expect_error(case_dir, set_in(base_case(), "fleet[0].count", value), SchemaError, "fleet[0].count", contains=("whole number",))


@pytest.mark.parametrize(
    "field, value",
    [
        ("sites[0].interconnect_mw", float("nan")),
        ("sites[0].interconnect_mw", float("inf")),
        ("network.btc_price_usd", float("inf")),
        ("network.difficulty", float("nan")),
        ("network.fees_btc_per_block", float("nan")),
        ("miner_models[0].hashrate_th", float("inf")),
        ("sites[0].power.adder_usd_per_mwh", float("-inf")),
    ],
)
def test_nan_or_inf_in_number_field(case_dir, field, value):
    expect_error(case_dir, set_in(base_case(), field, value), SchemaError, field, contains=("finite number",))


@pytest.mark.parametrize(
    "field, value",
    [
        ("sites[0].interconnect_mw", "ten MW"),
        ("network.btc_price_usd", "lots"),
        ("network.block_height", "tall"),
        ("miner_models[0].power_w", [3010]),
    ],
)
def test_wrong_type_for_number(case_dir, field, value):
    expect_error(case_dir, set_in(base_case(), field, value), SchemaError, field, contains=(f"(got {value!r})",))


@pytest.mark.parametrize("field", ["fleet[0].count", "sites[0].interconnect_mw"])
def test_boolean_for_number_is_rejected(case_dir, field):
    expect_error(case_dir, set_in(base_case(), field, True), SchemaError, field)


@pytest.mark.parametrize("resolution", ["7min", "abc", "1H", "0h", "2d", "90s", 60])
def test_bad_resolution(case_dir, resolution):
    expect_error(case_dir, set_in(base_case(), "horizon.resolution", resolution), SchemaError, "horizon.resolution")


@pytest.mark.parametrize("field", ["fleet", "sites", "miner_models"])
def test_empty_list(case_dir, field):
    expect_error(case_dir, set_in(base_case(), field, []), SchemaError, field, contains=("at least one entry",))


@pytest.mark.parametrize(
    "field, ref, missing",
    [
        (SPOT_FIELD, {"file": SPOT_FILE}, "column"),
        (SPOT_FIELD, {"column": SPOT_COLUMN}, "file"),
        ("network.btc_price_usd", {"file": NETWORK_FILE}, "column"),
        ("network.fees_btc_per_block", {"column": "fees_btc_per_block"}, "file"),
    ],
)
def test_bad_series_reference(case_dir, field, ref, missing):
    expect_error(
        case_dir, set_in(base_case(), field, ref), SchemaError, f"{field}.{missing}", contains=("required field is missing",)
    )


# --- case rules (checks.CASE_CHECKS) ----------------------------------------------------------


def test_duplicate_site_names(case_dir):
    case = base_case()
    case["sites"].append(copy.deepcopy(case["sites"][0]))
    expect_error(case_dir, case, SchemaError, "sites[1].name", contains=("'west'", "already used"))


def test_duplicate_model_names(case_dir):
    case = set_in(base_case(), "miner_models[1].name", "S19 XP")
    expect_error(case_dir, case, SchemaError, "miner_models[1].name", contains=("'S19 XP'", "already used"))


def test_duplicate_mode_names(case_dir):
    case = base_case()
    case["miner_models"][1]["modes"].append({"name": "eco", "hashrate_th": 150, "power_w": 2400})
    expect_error(case_dir, case, SchemaError, "miner_models[1].modes[1].name", contains=("'eco'", "already used"))


def test_mode_named_stock(case_dir):
    case = set_in(base_case(), "miner_models[1].modes[0].name", "stock")
    expect_error(case_dir, case, SchemaError, "miner_models[1].modes[0].name", contains=("'stock'", "nameplate"))


def test_difficulty_and_hashrate_both_given(case_dir):
    case = set_in(base_case(), "network.network_hashrate_ehs", 380.0)
    expect_error(case_dir, case, SchemaError, "network.difficulty", contains=("both",))


def test_neither_difficulty_nor_hashrate(case_dir):
    expect_error(case_dir, del_in(base_case(), "network.difficulty"), SchemaError, "network.difficulty", contains=("neither",))


@pytest.mark.parametrize("timezone", ["America/Chicag", "Mars/Olympus_Mons", "CST6", ""])
def test_unknown_timezone(case_dir, timezone):
    case = set_in(base_case(), "horizon.timezone", timezone)
    expect_error(case_dir, case, SchemaError, "horizon.timezone", contains=(f"unknown time zone {timezone!r}",))


@pytest.mark.parametrize("timezone", ["America", "Europe"])
def test_timezone_that_is_a_tz_folder(case_dir, timezone):
    case = set_in(base_case(), "horizon.timezone", timezone)
    expect_error(case_dir, case, SchemaError, "horizon.timezone", contains=("unknown time zone",))


@pytest.mark.parametrize("end", ["2023-06-30T00:00", "2023-07-01T00:00"])
def test_horizon_end_not_after_start(case_dir, end):
    expect_error(case_dir, set_in(base_case(), "horizon.end", end), SchemaError, "horizon.end", contains=("not after start",))


@pytest.mark.parametrize(
    "resolution, end", [("1h", "2023-07-01T23:30"), ("4h", "2023-07-01T22:00"), ("15min", "2023-07-01T23:50")]
)
def test_horizon_not_whole_periods(case_dir, resolution, end):
    case = base_case()
    case["horizon"].update(resolution=resolution, end=end)
    expect_error(case_dir, case, SchemaError, "horizon.end", contains=("whole number", resolution))


def test_daily_horizon_not_at_local_midnight(case_dir):
    case = base_case()
    case["horizon"].update(resolution="1d", start="2023-07-01T06:00", end="2023-07-04T00:00")
    expect_error(case_dir, case, SchemaError, "horizon.start", contains=("local midnight",))


@pytest.mark.parametrize(
    "field, start, end",
    [
        ("horizon.start", "2023-03-12T02:30", "2023-03-13T00:00"),  # spring-forward gap
        ("horizon.end", "2023-03-11T00:00", "2023-03-12T02:00"),  # spring-forward gap
        ("horizon.start", "2023-11-05T01:30", "2023-11-06T00:00"),  # fall-back hour: ambiguous
    ],
)
def test_naive_horizon_instant_at_dst_change(case_dir, field, start, end):
    case = base_case()
    case["horizon"].update(start=start, end=end)
    expect_error(case_dir, case, SchemaError, field, contains=("daylight-saving", "UTC offset"))


def test_horizon_with_offset_at_dst_change_is_accepted(case_dir):
    case = base_case()
    case["horizon"].update(start="2023-11-05T01:00-05:00", end="2023-11-05T03:00-06:00")  # 01:00 CDT .. 03:00 CST
    rows = ["2023-11-05T00:00-05:00", "2023-11-05T01:00-05:00", "2023-11-05T01:00-06:00", "2023-11-05T02:00-06:00", "2023-11-05T03:00-06:00"]
    loaded = load_case(write_case(case_dir, case, spot_csv=spot_csv(rows, [10, 11, 12, 13, 14])))
    np.testing.assert_allclose(loaded.spot_usd_per_mwh["west"], [11, 12, 13])


def test_fleet_unknown_site(case_dir):
    case = set_in(base_case(), "fleet[0].site", "east")
    error = expect_error(case_dir, case, UnknownNameError, "fleet[0].site", contains=("unknown site 'east'",))
    assert "west" in error.fix


def test_fleet_unknown_model(case_dir):
    case = set_in(base_case(), "fleet[1].model", "S9")
    error = expect_error(case_dir, case, UnknownNameError, "fleet[1].model", contains=("unknown machine model 'S9'",))
    assert "S19 XP" in error.fix and "S21" in error.fix


def test_duplicate_fleet_entry(case_dir):
    case = base_case()
    case["fleet"].append({"site": "west", "model": "S19 XP", "count": 10})
    expect_error(case_dir, case, SchemaError, "fleet[2]", contains=("fleet[0]", "merge"))


@pytest.mark.parametrize(
    "prefix, power_w, hashrate_th",
    [("miner_models[0]", 3.01, 140), ("miner_models[1]", 3.5, 200), ("miner_models[1].modes[0]", 2.6, 160)],
)
def test_power_given_in_kw(case_dir, prefix, power_w, hashrate_th):
    case = set_in(base_case(), f"{prefix}.power_w", power_w)
    error = expect_error(case_dir, case, PlausibilityError, f"{prefix}.power_w", contains=("J/TH", "watts"))
    assert f"{power_w * 1000:g}" in error.fix


@pytest.mark.parametrize(
    "prefix, hashrate_th, power_w", [("miner_models[0]", 0.14, 3010), ("miner_models[1].modes[0]", 0.16, 2600)]
)
def test_hashrate_given_in_phs(case_dir, prefix, hashrate_th, power_w):
    case = set_in(base_case(), f"{prefix}.hashrate_th", hashrate_th)
    error = expect_error(case_dir, case, PlausibilityError, f"{prefix}.hashrate_th", contains=("J/TH", "PH/s"))
    assert f"{hashrate_th * 1000:g}" in error.fix


def test_efficiency_limits_are_inclusive(case_dir):
    case = base_case()
    set_in(case, "miner_models[0].power_w", 5.0 * 140)  # exactly 5 J/TH
    set_in(case, "miner_models[1].power_w", 200.0 * 200)  # exactly 200 J/TH
    assert load_case(write_case(case_dir, case)).grid.n_periods == 24


# --- series files ---------------------------------------------------------------------------


def spot_ref(file: str, column: str = SPOT_COLUMN) -> dict:
    return set_in(base_case(), SPOT_FIELD, {"file": file, "column": column})


def test_series_file_not_found(case_dir):
    expect_error(case_dir, spot_ref("prices.csv"), SeriesFileError, SPOT_FIELD, contains=("prices.csv", "not found"))


@pytest.mark.parametrize("where", ["../outside.csv", "absolute"])
def test_series_file_outside_case_folder(case_dir, where):
    outside = case_dir.parent / "outside.csv"
    outside.write_text(spot_csv(), encoding="utf-8")
    file = str(outside) if where == "absolute" else where
    expect_error(case_dir, spot_ref(file), SeriesFileError, SPOT_FIELD, contains=("outside the case folder",))


def test_series_file_is_a_directory(case_dir):
    (case_dir / "prices").mkdir()
    expect_error(case_dir, spot_ref("prices"), SeriesFileError, SPOT_FIELD, contains=("is a directory",))


def test_series_file_in_subfolder_is_accepted(case_dir):
    (case_dir / "data").mkdir()
    (case_dir / "data" / "spot.csv").write_text(spot_csv(), encoding="utf-8")
    assert load_case(write_case(case_dir, spot_ref("data/spot.csv"))).grid.n_periods == 24


def test_first_column_not_timestamp(case_dir):
    text = spot_csv(header=f"time,{SPOT_COLUMN}")
    expect_error(case_dir, base_case(), SeriesFileError, SPOT_FIELD, contains=("'time'", "`timestamp`"), spot_csv=text)


def test_referenced_column_missing(case_dir):
    error = expect_error(case_dir, spot_ref(SPOT_FILE, "price"), SeriesFileError, SPOT_FIELD, contains=("no column 'price'",))
    assert SPOT_COLUMN in error.fix


@pytest.mark.parametrize("text", ["", f"timestamp,{SPOT_COLUMN}\n"])
def test_empty_series_file(case_dir, text):
    expect_error(case_dir, base_case(), SeriesFileError, SPOT_FIELD, spot_csv=text)


def replaced(stamps: list[str], row: int, value: str) -> list[str]:
    stamps = list(stamps)
    stamps[row] = value
    return stamps


@pytest.mark.parametrize("bad", ["2023-07-01 3am", "01/07/2023 03:00", "", "2023-13-01T03:00"])
def test_unparseable_timestamp(case_dir, bad):
    text = spot_csv(replaced(hourly(), 3, bad))
    expect_error(case_dir, base_case(), SeriesError, SPOT_FIELD, 5, contains=("not ISO 8601",), spot_csv=text)


def test_offset_among_naive_timestamps(case_dir):
    text = spot_csv(replaced(hourly(), 2, "2023-07-01T02:00-05:00"))
    expect_error(case_dir, base_case(), SeriesError, SPOT_FIELD, 4, contains=("has a UTC offset",), spot_csv=text)


def test_naive_among_offset_timestamps(case_dir):
    stamps = [f"{t}-05:00" for t in hourly()]
    text = spot_csv(replaced(stamps, 5, "2023-07-01T05:00"))
    expect_error(case_dir, base_case(), SeriesError, SPOT_FIELD, 7, contains=("lacks a UTC offset",), spot_csv=text)


def test_utc_offset_series_is_accepted(case_dir):
    stamps = [f"2023-07-01T{h + 5:02d}:00Z" for h in range(19)] + [f"2023-07-02T{h:02d}:00+00:00" for h in range(5)]
    loaded = load_case(write_case(case_dir, base_case(), spot_csv=spot_csv(stamps)))
    np.testing.assert_allclose(loaded.spot_usd_per_mwh["west"], np.arange(20, 44))


@pytest.mark.parametrize("form", ["{y}-{m}-{d}T{h:02d}Z", "{y}{m}{d}T{h:02d}00Z"], ids=["hour-only", "basic-format"])
def test_reduced_precision_offset_timestamps_do_not_crash(case_dir, form):
    day1, day2 = ({"y": "2023", "m": "07", "d": d} for d in ("01", "02"))
    stamps = [form.format(h=h + 5, **day1) for h in range(19)] + [form.format(h=h, **day2) for h in range(5)]
    path = write_case(case_dir, base_case(), spot_csv=spot_csv(stamps))
    try:
        loaded = load_case(path)
    except CaseError as exc:  # rejecting them is fine too, but as a typed, located error
        check_error(exc, SeriesError, SPOT_FIELD, 2)
    else:
        np.testing.assert_allclose(loaded.spot_usd_per_mwh["west"], np.arange(20, 44))


def dst_case(start: str, end: str) -> dict:
    case = base_case()
    case["horizon"].update(start=start, end=end)
    return case


def test_spring_forward_nonexistent_local_time(case_dir):
    case = dst_case("2023-03-12T00:00", "2023-03-12T06:00")  # 5 hours: 02:00 does not exist
    text = spot_csv(hourly("2023-03-12T00:00", 6))
    assert "2023-03-12T02:00" in text
    expect_error(case_dir, case, SeriesError, SPOT_FIELD, 4, contains=("does not exist", "spring forward"), spot_csv=text)


def test_spring_forward_without_the_missing_hour_is_accepted(case_dir):
    case = dst_case("2023-03-12T00:00", "2023-03-12T06:00")
    stamps = ["2023-03-12T00:00", "2023-03-12T01:00", "2023-03-12T03:00", "2023-03-12T04:00", "2023-03-12T05:00"]
    loaded = load_case(write_case(case_dir, case, spot_csv=spot_csv(stamps, [10, 11, 13, 14, 15])))
    np.testing.assert_allclose(loaded.spot_usd_per_mwh["west"], [10, 11, 13, 14, 15])


def test_fall_back_hour_repeated_in_naive_series(case_dir):
    case = dst_case("2023-11-05T00:00", "2023-11-05T06:00")  # 7 hours
    stamps = ["2023-11-05T00:00", "2023-11-05T01:00", "2023-11-05T01:00"] + hourly("2023-11-05T02:00", 4)
    text = spot_csv(stamps)
    expect_error(case_dir, case, SeriesError, SPOT_FIELD, 4, contains=("appears twice", "UTC offsets"), spot_csv=text)


def test_fall_back_hour_once_in_naive_series_is_accepted(case_dir):
    case = dst_case("2023-11-05T00:00", "2023-11-05T06:00")
    text = spot_csv(hourly("2023-11-05T00:00", 6), [10, 11, 12, 13, 14, 15])
    loaded = load_case(write_case(case_dir, case, spot_csv=text))
    assert loaded.grid.n_periods == 7
    # 01:00 is read as its first (daylight) occurrence; its value holds through the repeated hour
    np.testing.assert_allclose(loaded.spot_usd_per_mwh["west"], [10, 11, 11, 12, 13, 14, 15])


def test_offset_series_across_fall_back_is_accepted(case_dir):
    case = dst_case("2023-11-05T00:00", "2023-11-05T06:00")
    stamps = [
        "2023-11-05T00:00-05:00",
        "2023-11-05T01:00-05:00",
        "2023-11-05T01:00-06:00",
        "2023-11-05T02:00-06:00",
        "2023-11-05T03:00-06:00",
        "2023-11-05T04:00-06:00",
        "2023-11-05T05:00-06:00",
    ]
    loaded = load_case(write_case(case_dir, case, spot_csv=spot_csv(stamps, [10, 11, 12, 13, 14, 15, 16])))
    np.testing.assert_allclose(loaded.spot_usd_per_mwh["west"], [10, 11, 12, 13, 14, 15, 16])


@pytest.mark.parametrize("offsets", [False, True])
def test_duplicate_timestamp(case_dir, offsets):
    stamps = replaced(hourly(), 4, "2023-07-01T03:00")
    if offsets:
        stamps = [f"{t}-05:00" for t in stamps]
    text = spot_csv(stamps)
    # the message quotes the timestamp as written in the file
    expect_error(case_dir, base_case(), SeriesError, SPOT_FIELD, 6, contains=(f"timestamp {stamps[4]} is the same instant",), spot_csv=text)


def test_unsorted_timestamps(case_dir):
    stamps = hourly()
    stamps[3], stamps[4] = stamps[4], stamps[3]
    expect_error(case_dir, base_case(), SeriesError, SPOT_FIELD, 6, contains=("before the row above",), spot_csv=spot_csv(stamps))


@pytest.mark.parametrize("bad", ["nan", "NaN", "", "n/a", "abc", "inf", "-inf", "1,5"])
def test_bad_value_in_series(case_dir, bad):
    values = [20 + i for i in range(24)]
    values[5] = f'"{bad}"' if "," in bad else bad
    text = spot_csv(values=values)
    expect_error(case_dir, base_case(), SeriesError, SPOT_FIELD, 7, contains=("not a finite number",), spot_csv=text)


def test_series_starts_after_horizon_start(case_dir):
    text = spot_csv(hourly()[1:])
    expect_error(case_dir, base_case(), SeriesError, SPOT_FIELD, 2, contains=("after the horizon start",), spot_csv=text)


def test_series_ends_before_horizon_end(case_dir):
    text = spot_csv(hourly()[:-1])  # 23 rows: the last (line 24) holds until 23:00, horizon ends 24:00
    expect_error(case_dir, base_case(), SeriesError, SPOT_FIELD, 24, contains=("before the horizon end",), spot_csv=text)


def test_series_longer_than_horizon_is_accepted(case_dir):
    loaded = load_case(write_case(case_dir, base_case(), spot_csv=spot_csv(hourly("2023-06-30T20:00", 40))))
    np.testing.assert_allclose(loaded.spot_usd_per_mwh["west"], np.arange(24, 48))


def network_case(*columns: str) -> dict:
    case = base_case()
    for column in columns:
        case["network"][column] = {"file": NETWORK_FILE, "column": column}
    return case


@pytest.mark.parametrize("value", [0, -30000])
def test_non_positive_btc_price_in_series(case_dir, value):
    text = network_csv(btc_price_usd={6: value})
    expect_error(
        case_dir, network_case("btc_price_usd"), SeriesError, "network.btc_price_usd", 8, contains=("not positive",), network_csv=text
    )


def test_negative_fees_in_series(case_dir):
    text = network_csv(fees_btc_per_block={2: -0.01})
    expect_error(
        case_dir, network_case("fees_btc_per_block"), SeriesError, "network.fees_btc_per_block", 4, contains=("negative",), network_csv=text
    )


def test_non_positive_difficulty_in_series(case_dir):
    text = network_csv(difficulty={0: 0})
    expect_error(case_dir, network_case("difficulty"), SeriesError, "network.difficulty", 2, contains=("not positive",), network_csv=text)


def test_non_positive_network_hashrate_in_series(case_dir):
    case = network_case("network_hashrate_ehs")
    del case["network"]["difficulty"]
    text = network_csv(network_hashrate_ehs={23: -1})
    expect_error(case_dir, case, SeriesError, "network.network_hashrate_ehs", 25, contains=("not positive",), network_csv=text)


def test_line_number_counts_blank_lines(case_dir):
    values = [20 + i for i in range(24)]
    values[5] = "abc"  # data row 5; after the blank line below it is on file line 8
    lines = spot_csv(values=values).splitlines(keepends=True)
    text = "".join(lines[:3]) + "\n" + "".join(lines[3:])
    expect_error(case_dir, base_case(), SeriesError, SPOT_FIELD, 8, contains=("'abc'",), spot_csv=text)


def test_extra_values_beyond_the_header_are_an_error(case_dir):
    lines = spot_csv().splitlines()
    lines[4] += ",99"  # data row 3, file line 5: a value with no column
    expect_error(case_dir, base_case(), SeriesFileError, SPOT_FIELD, 5, contains=("3 values", "2 columns"), spot_csv="\n".join(lines) + "\n")


def test_one_row_series_is_an_error(case_dir):
    expect_error(case_dir, base_case(), SeriesError, SPOT_FIELD, 2, contains=("at least two rows",), spot_csv=spot_csv(hourly(n=1)))


def test_trailing_comma_rows_do_not_shift_columns(case_dir):
    text = "".join(line + ",\n" for line in spot_csv().splitlines()[1:])
    text = f"timestamp,{SPOT_COLUMN}\n" + text
    path = write_case(case_dir, base_case(), spot_csv=text)
    try:
        loaded = load_case(path)
    except CaseError as exc:  # rejecting the file is fine, but not by calling a price a timestamp
        assert type(exc) in (SeriesFileError, SeriesError)
        assert "timestamp '20'" not in exc.message, exc.message
    else:
        np.testing.assert_allclose(loaded.spot_usd_per_mwh["west"], np.arange(20, 44))


# --- the case file itself ---------------------------------------------------------------------


def test_case_file_not_found(tmp_path):
    with pytest.raises(SchemaError, match="case file not found"):
        load_case(tmp_path / "nope.yaml")


def test_case_path_is_a_folder(tmp_path):
    with pytest.raises(SchemaError, match="is a folder"):
        load_case(tmp_path)


def test_case_file_not_yaml(case_dir):
    path = case_dir / "case.yaml"
    path.write_text("name: x\nhorizon: {start: 2023-07-01\n  end: [\n", encoding="utf-8")
    with pytest.raises(SchemaError) as info:
        load_case(path)
    check_error(info.value, SchemaError, "case.yaml", contains=("not valid YAML",))
    assert re.fullmatch(r"line \d+, column \d+", info.value.row)


def test_case_file_not_a_mapping(case_dir):
    path = case_dir / "case.yaml"
    path.write_text("- name: x\n", encoding="utf-8")
    with pytest.raises(SchemaError) as info:
        load_case(path)
    check_error(info.value, SchemaError, "case.yaml", contains=("mapping",))


# --- the command line -------------------------------------------------------------------------

BAD_CASES = {
    "unknown site": (lambda c: set_in(c, "fleet[0].site", "east"), {}, "fleet[0].site"),
    "zero interconnect": (lambda c: set_in(c, "sites[0].interconnect_mw", 0), {}, "sites[0].interconnect_mw"),
    "power in kW": (lambda c: set_in(c, "miner_models[0].power_w", 3.01), {}, "miner_models[0].power_w"),
    "missing csv": (lambda c: set_in(c, f"{SPOT_FIELD}.file", "nope.csv"), {}, SPOT_FIELD),
    "nan in csv": (lambda c: c, {"spot_csv": spot_csv(values=["nan"] * 24)}, SPOT_FIELD),
}


def bad_case_path(case_dir: Path, name: str) -> tuple[Path, str]:
    mutate, csvs, field = BAD_CASES[name]
    return write_case(case_dir, mutate(base_case()), **csvs), field


def assert_one_error_line(stderr: str, field: str) -> None:
    assert "Traceback" not in stderr, stderr
    lines = stderr.strip("\n").splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith(f"error: {field}"), stderr
    assert "Fix: " in lines[0]


def test_cli_validate_ok(case_dir, capsys):
    assert main(["validate", str(write_case(case_dir, base_case()))]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("ok: validation base: 24 periods")
    assert err == ""


@pytest.mark.parametrize("name", list(BAD_CASES))
def test_cli_validate_bad_case(case_dir, capsys, name):
    path, field = bad_case_path(case_dir, name)
    assert main(["validate", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert_one_error_line(err, field)


@pytest.mark.parametrize("name", ["unknown site", "nan in csv"])
def test_cli_run_bad_case_writes_nothing(case_dir, tmp_path, capsys, name):
    path, field = bad_case_path(case_dir, name)
    out_dir = tmp_path / "out"
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    assert main(["run", str(path), "--out", str(out_dir), "--quiet"]) == 2
    _, err = capsys.readouterr()
    assert_one_error_line(err, field)
    assert not out_dir.exists()
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


def test_cli_validate_subprocess(case_dir):
    path, field = bad_case_path(case_dir, "power in kW")
    done = subprocess.run(
        [sys.executable, "-m", "optimizer.cli", "validate", str(path)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    assert_one_error_line(done.stderr, field)
