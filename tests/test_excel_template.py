"""The Excel input template: written from a case, read back as the same case, errors by cell.

The round trips compare two independent readings of one case: the YAML file with its CSV
series, and the workbook written from it. They must give the same schema values (series
references aside, which name a CSV file in one and the TimeSeries sheet in the other) and
bit-identical per-period arrays.
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest
import yaml
from pydantic import BaseModel, ConfigDict, Field

from optimizer.case import CaseError, load_case
from optimizer.case.excel import SERIES_SHEET, case_series, layout, read_workbook, template_workbook
from optimizer.case.schema import CaseSpec, NonNegativeOrSeries
from optimizer.cli import BUNDLED_EXAMPLE, main

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
CASES = sorted(p.parent.name for p in EXAMPLES.glob("*/case.yaml"))
SOFFICE = shutil.which("soffice")


def normalised(spec: BaseModel, columns: bool = True) -> dict:
    """The spec's values with each series reference reduced to its column (or to a mark)."""

    def strip(value):
        if isinstance(value, dict):
            if set(value) == {"file", "column"}:
                return {"series": value["column"] if columns else "?"}
            return {k: strip(v) for k, v in value.items()}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    return strip(spec.model_dump())


def assert_same_arrays(a, b) -> None:
    """Grid boundaries, network path, spot and demand-response prices are bit-identical."""
    assert a.grid.boundaries_utc.equals(b.grid.boundaries_utc)
    for name, values in vars(b.network).items():
        np.testing.assert_array_equal(getattr(a.network, name), values, err_msg=name)
    assert a.spot_usd_per_mwh.keys() == b.spot_usd_per_mwh.keys()
    for site, values in b.spot_usd_per_mwh.items():
        np.testing.assert_array_equal(a.spot_usd_per_mwh[site], values, err_msg=site)
    assert a.demand_response_price_usd_per_mw_hour.keys() == b.demand_response_price_usd_per_mw_hour.keys()
    for key, values in b.demand_response_price_usd_per_mw_hour.items():
        np.testing.assert_array_equal(a.demand_response_price_usd_per_mw_hour[key], values, err_msg=str(key))


@pytest.fixture(scope="module")
def templates(tmp_path_factory) -> dict[str, Path]:
    """Each example written to a workbook through the command line (`template --from`)."""
    out = tmp_path_factory.mktemp("templates")
    for name in CASES:
        assert main(["template", str(out / f"{name}.xlsx"), "--from", str(EXAMPLES / name / "case.yaml")]) == 0
    return {name: out / f"{name}.xlsx" for name in CASES}


# --- round trips ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", CASES)
def test_example_round_trips_through_the_workbook(name, templates):
    from_yaml = load_case(EXAMPLES / name / "case.yaml")
    from_workbook = load_case(templates[name])
    assert normalised(from_workbook.spec) == normalised(from_yaml.spec)
    assert_same_arrays(from_workbook, from_yaml)


def test_a_workbook_templates_into_the_same_workbook(day_case, tmp_path):
    again = tmp_path / "again.xlsx"
    assert main(["template", str(again), "--from", str(day_case.with_suffix(".xlsx"))]) == 0
    first, second = load_case(day_case.with_suffix(".xlsx")), load_case(again)
    assert second.spec == first.spec  # both refer to TimeSeries columns: no normalising needed
    assert_same_arrays(second, first)


def test_template_without_from_is_the_bundled_example_and_validates(tmp_path, capsys):
    out = tmp_path / "case.xlsx"
    assert main(["template", str(out)]) == 0
    assert main(["validate", str(out)]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "ok: West Texas Q3 2023: 2,208 periods, 3 machine classes, 1 site(s)"
    assert normalised(load_case(out).spec) == normalised(load_case(BUNDLED_EXAMPLE).spec)


def write_kitchen_sink(folder: Path) -> Path:
    """A two-day case across the 2023 fall-back in Chicago using every kind of field the schema has."""
    instants = pd.date_range("2023-11-04T05:00Z", periods=49, freq="h")  # local midnight to midnight, 49 h
    local = instants.tz_convert("America/Chicago")
    pd.DataFrame({
        "timestamp": [t.isoformat() for t in local],  # 01:00-05:00 and 01:00-06:00 both present
        "west": np.round(20 + 15 * np.sin(np.arange(49) / 3), 3),
        "rrs": np.round(np.linspace(2, 9, 49), 2),
    }).to_csv(folder / "prices.csv", index=False)
    pd.DataFrame({"timestamp": ["2023-11-04T00:00", "2023-11-05T00:00", "2023-11-06T00:00"], "west": [41.5, 39.25, 40.0]}).to_csv(
        folder / "east.csv", index=False
    )
    pd.DataFrame({"timestamp": ["2023-11-04", "2023-11-05", "2023-11-06"], "btc_price_usd": [35000.5, 35100.25, 34900.0]}).to_csv(
        folder / "network.csv", index=False
    )
    case = {
        "name": "Kitchen sink",
        "horizon": {"start": "2023-11-04T00:00", "end": "2023-11-06T00:00", "resolution": "1h", "timezone": "America/Chicago"},
        "network": {
            "btc_price_usd": {"file": "network.csv", "column": "btc_price_usd"},
            "network_hashrate_ehs": 450.5,
            "difficulty_change_per_epoch": 0.01,
            "fees_btc_per_block": 0.2,
            "block_height": 816000,
            "pool_fee": 0.02,
        },
        "miner_models": [
            {"name": "S19 XP", "hashrate_th": 140, "power_w": 3010},
            {"name": "S21", "hashrate_th": 200, "power_w": 3500,
             "modes": [{"name": "eco", "hashrate_th": 160, "power_w": 2600}, {"name": "turbo", "hashrate_th": 230, "power_w": 4300}]},
        ],
        "sites": [
            {"name": "west", "interconnect_mw": 20, "aux_load_fraction": 0.04, "power": {
                "spot_usd_per_mwh": {"file": "prices.csv", "column": "west"},
                "settlement_point": "LZ_WEST",
                "adder_usd_per_mwh": 1.5,
                "fixed_block": [{"mw": 5, "price_usd_per_mwh": 40, "hours": list(range(7, 23))}, {"mw": 2, "price_usd_per_mwh": 35},
                                {"mw": 1, "price_usd_per_mwh": 30, "hours": []}],
                "four_cp": {"rate_usd_per_kw_year": 60, "candidates": [{"interval": "2023-11-04T17:00", "probability": 0.5}]},
                "demand_response": [
                    {"name": "RRS", "kind": "hourly", "max_mw": 5, "price_usd_per_mw_hour": {"file": "prices.csv", "column": "rrs"}},
                    {"name": "ERS", "kind": "contract", "max_mw": 3, "price_usd_per_mw_hour": 8, "start": "2023-11-04T12:00",
                     "hours": [19, 20], "deployments": ["2023-11-05T19:00"]},
                ],
                "anti_cycling": {"min_run_periods": 2},
            }},
            {"name": "east", "interconnect_mw": 10, "power": {"spot_usd_per_mwh": {"file": "east.csv", "column": "west"}}},
        ],
        "fleet": [{"site": "west", "model": "S19 XP", "count": 100}, {"site": "west", "model": "S21", "count": 50},
                  {"site": "east", "model": "S21", "count": 20}],
        "treasury": {"btc": 10, "cash_usd": 1.0e6, "max_sale_btc_per_day": 5, "covenant_dates": ["2023-11-05"]},
        "debt": [{"name": "loan", "date": "2023-11-05", "interest_usd": 1000, "principal_usd": 9000}],
        "opex": {"fixed_usd_per_month": 1000},
        "objective": {},
        "solver": {"integer_strategy": "integer"},
    }
    path = folder / "case.yaml"
    path.write_text(yaml.safe_dump(case, sort_keys=False))
    return path


def test_every_kind_of_field_round_trips_across_a_fall_back_change(tmp_path):
    source = write_kitchen_sink(tmp_path)
    out = tmp_path / "case.xlsx"
    assert main(["template", str(out), "--from", str(source)]) == 0
    from_yaml, from_workbook = load_case(source), load_case(out)
    # two files share the column name `west`, so the TimeSeries columns are renamed: the arrays
    # show that each field still reads its own series
    assert normalised(from_workbook.spec, columns=False) == normalised(from_yaml.spec, columns=False)
    assert_same_arrays(from_workbook, from_yaml)
    book = openpyxl.load_workbook(out, read_only=True)
    series = list(book[SERIES_SHEET].iter_rows(max_row=3, values_only=True))
    # the local hour repeats, so timestamps are text with offsets; a shared column name gets its file's stem
    assert series[0] == ("timestamp", "btc_price_usd [USD/BTC]", "prices.west [USD/MWh]", "rrs [USD/MW-h]", "east.west [USD/MWh]")
    assert series[1][0] == "2023-11-04T00:00-05:00"
    assert [row[1:] for row in book["FixedBlock"].iter_rows(min_row=2, values_only=True)] == [
        (5, 40, ", ".join(str(h) for h in range(7, 23))), (2, 35, None), (1, 30, "[]")]


# --- the layout -------------------------------------------------------------------------------


def test_sheets_follow_the_schema(templates):
    book = openpyxl.load_workbook(templates["west_texas_q3_2023"])
    assert book.sheetnames == [
        "Instructions", "Case", "Horizon", "Network", "MinerModels", "Modes", "Sites", "FixedBlock", "FourCP", "FourCPCandidates",
        "DemandResponse", "AntiCycling", "Fleet", "Purchases", "Retirements", "HPC", "Treasury", "Debt", "Opex", "Objective", "Solver", SERIES_SHEET,
    ]
    header = [c.value for c in book["Sites"][1]]
    assert header == ["name", "interconnect_mw [MW]", "aux_load_fraction [MW/MW]", "power.spot_usd_per_mwh [USD/MWh]",
                      "power.settlement_point", "power.adder_usd_per_mwh [USD/MWh]", "power.delivery_usd_per_mwh [USD/MWh]"]
    assert [c.value for c in book["DemandResponse"][1]][:3] == ["site", "name", "kind"]
    assert [c.value for c in book["Network"]["A"][:3]] == ["Field", "btc_price_usd", "difficulty"]
    assert book["Network"]["B2"].value == "series: btc_price_usd" and book["Network"]["C2"].value == "USD/BTC"
    assert book["Sites"].freeze_panes == "B2" and book["Network"].freeze_panes == "B2"
    assert book["Sites"].column_dimensions["D"].width > 30

    rules = {str(dv.sqref): dv for dv in book["Fleet"].data_validations.dataValidation}
    assert rules["A2:A1000"].type == "list" and rules["A2:A1000"].formula1 == "'Sites'!$A$2:$A$1000"
    assert rules["B2:B1000"].formula1 == "'MinerModels'!$A$2:$A$1000"
    assert rules["C2:C1000"].formula1 == "AND(ISNUMBER(C2),C2=INT(C2),C2>0)"  # count: whole, > 0
    rules = {str(dv.sqref): dv for dv in book["Network"].data_validations.dataValidation}
    assert rules["B2"].formula1 == "OR(ISTEXT(B2),AND(ISNUMBER(B2),B2>0,B2<=1e+15))"  # a number in (0, 1e15] or a series
    assert rules["B8"].formula1 == "AND(ISNUMBER(B8),B8>=0,B8<1)"  # pool_fee in [0, 1)
    rules = {str(dv.sqref): dv for dv in book["DemandResponse"].data_validations.dataValidation}
    assert rules["C2:C1000"].formula1 == '"contract,hourly"'


class Purchase(BaseModel):
    model_config = ConfigDict(extra="forbid")

    site: str = Field(description="Site name (from `sites`)")
    model: str = Field(description="Machine model name (from `miner_models`)")
    max_units: int = Field(gt=0, description="Most machines bought [units]")
    lead_time_days: float = Field(default=0.0, ge=0, description="Delivery time [days]")


class HpcPhase(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mw: float = Field(gt=0, description="Load of the phase [MW]")


class Hpc(BaseModel):
    model_config = ConfigDict(extra="forbid")

    site: str = Field(description="Site name (from `sites`)")
    max_mw: float = Field(gt=0, description="Most MW converted [MW]")
    rate_usd_per_kw_month: NonNegativeOrSeries = Field(description="Hosting rate [USD/kW-month]: a number or a series")
    phases: list[HpcPhase] = Field(default_factory=list, description="Build phases")


class ExtendedCase(CaseSpec):
    """A case with the sections planned next (issue 6): they must get sheets with no change to the workbook code."""

    purchases: list[Purchase] = Field(default_factory=list, description="Machines that may be bought")
    hpc: list[Hpc] = Field(default_factory=list, description="AI/HPC conversion options")


def test_sections_added_to_the_schema_get_their_sheets(day_case, tmp_path):
    sheets = {sheet.title: sheet for sheet in layout(ExtendedCase)}
    assert sheets["Purchases"].headers == ["site", "model", "max_units [units]", "lead_time_days [days]"]
    assert sheets["HPC"].headers == ["site", "max_mw [MW]", "rate_usd_per_kw_month [USD/kW-month]"]
    assert sheets["Phases"].headers == ["hpc_entry", "mw [MW]"]  # HPC entries have no name: keyed by number

    data = yaml.safe_load(day_case.read_text())
    data["purchases"] = [{"site": "west", "model": "S21", "max_units": 6000, "lead_time_days": 45}]
    data["hpc"] = [{"site": "west", "max_mw": 60, "rate_usd_per_kw_month": 120, "phases": [{"mw": 10}, {"mw": 20}]},
                   {"site": "west", "max_mw": 5, "rate_usd_per_kw_month": {"file": "network_2023q3.csv", "column": "fees_btc_per_block"}}]
    spec = ExtendedCase.model_validate(data)
    path = tmp_path / "extended.xlsx"
    template_workbook(spec, case_series(spec, day_case)).save(path)
    read = ExtendedCase.model_validate(read_workbook(path, ExtendedCase).data)
    assert normalised(read) == normalised(spec)
    rules = {str(dv.sqref): dv.formula1 for dv in openpyxl.load_workbook(path)["Purchases"].data_validations.dataValidation}
    assert rules["A2:A1000"] == "'Sites'!$A$2:$A$1000" and rules["B2:B1000"] == "'MinerModels'!$A$2:$A$1000"


# --- errors name the sheet, the cell and the fix ----------------------------------------------


@pytest.fixture(scope="module")
def day_case(tmp_path_factory) -> Path:
    """The bundled example cut to its first day (YAML, CSVs and its workbook `case.xlsx`): quick to edit and read."""
    folder = tmp_path_factory.mktemp("day")
    example = EXAMPLES / "west_texas_q3_2023"
    case = yaml.safe_load((example / "case.yaml").read_text())
    case["horizon"]["end"] = "2023-07-02T00:00"
    (folder / "case.yaml").write_text(yaml.safe_dump(case, sort_keys=False))
    for csv in example.glob("*.csv"):
        (folder / csv.name).write_text("".join(csv.read_text().splitlines(keepends=True)[:30]))
    assert main(["template", str(folder / "case.xlsx"), "--from", str(folder / "case.yaml")]) == 0
    return folder / "case.yaml"


@pytest.fixture(scope="module")
def template_bytes(day_case) -> bytes:
    return day_case.with_suffix(".xlsx").read_bytes()


def edited(template_bytes: bytes, folder: Path, edit, name: str = "case.xlsx") -> Path:
    book = openpyxl.load_workbook(io.BytesIO(template_bytes))
    edit(book)
    book.save(folder / name)
    return folder / name


def set_cell(sheet: str, cell: str, value):
    return lambda book: book[sheet].__setitem__(cell, value)


@pytest.mark.parametrize("edit, message", [
    (set_cell("Sites", "B2", "12,5"), "Sites!B2 (sites[0].interconnect_mw): input should be a valid number"),
    (set_cell("Sites", "B2", -5), "Sites!B2 (sites[0].interconnect_mw): must be > 0 (got -5). Fix: give a value > 0"),
    (set_cell("Fleet", "B3", "S9"), "Fleet!B3 (fleet[1].model): unknown machine model 'S9'. Fix: use one of ['S19 XP', 'S19j Pro', 'S21']"),
    (set_cell("Fleet", "C4", 10.5), "Fleet!C4 (fleet[2].count): input should be a valid integer"),
    (set_cell("FixedBlock", "A2", "east"), "FixedBlock!A2: unknown site 'east'. Fix: use one of ['west'] (from the Sites sheet)"),
    (set_cell("Sites", "B1", "interconect_mw [MW]"), "Sites!B1: unknown column 'interconect_mw'. Fix: did you mean interconnect_mw?"),
    (set_cell("Network", "B2", "series: btc"), "Network!B2 (network.btc_price_usd): no TimeSeries column 'btc'. Fix: use one of"),
    (set_cell(SERIES_SHEET, "E5", "n/a"), "TimeSeries!E5 (sites[0].power.spot_usd_per_mwh): value 'n/a' is missing or not a finite number. Fix: fill in a number"),
    (set_cell(SERIES_SHEET, "A5", "July 1st"), "TimeSeries!A5 (sites[0].power.spot_usd_per_mwh): timestamp 'July 1st' is missing or not ISO 8601"),
    (set_cell("Horizon", "B3", "2023-06-01T00:00"), "Horizon!B3 (horizon.end): 2023-06-01 00:00:00 is not after start"),
    (lambda book: book["Debt"].append(["coupon", "2023-08-01", 1e6]), "Debt!A2 (debt): `debt` is given but there is no `treasury` section"),
    (lambda book: book.create_sheet("Sheet1"), "Sheet1: unknown sheet 'Sheet1'. Fix: rename or delete it"),
])
def test_a_bad_cell_is_named_with_its_field_and_fix(edit, message, template_bytes, tmp_path):
    with pytest.raises(CaseError) as raised:
        load_case(edited(template_bytes, tmp_path, edit))
    assert raised.value.message.startswith(message)
    assert "Fix: " in raised.value.message and "\n" not in raised.value.message


def test_sheets_of_unused_sections_may_be_deleted(template_bytes, tmp_path):
    unused = ["Instructions", "Modes", "FourCP", "FourCPCandidates", "DemandResponse", "AntiCycling", "Treasury", "Debt", "Opex", "Objective"]

    def delete(book):
        for title in unused:
            del book[title]

    full = load_case(edited(template_bytes, tmp_path, lambda book: None, name="full.xlsx"))
    assert load_case(edited(template_bytes, tmp_path, delete)).spec == full.spec


def test_cli_reports_a_bad_cell_in_one_line_and_writes_nothing(template_bytes, tmp_path, capsys):
    bad = edited(template_bytes, tmp_path, set_cell("Fleet", "B3", "S9"))
    out = tmp_path / "out"
    assert main(["run", str(bad), "--out", str(out), "--quiet"]) == 2
    assert main(["validate", str(bad)]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert lines == ["error: Fleet!B3 (fleet[1].model): unknown machine model 'S9'. Fix: use one of ['S19 XP', 'S19j Pro', 'S21'] "
                     "or add it to `miner_models`"] * 2
    assert not out.exists()


def test_a_formula_without_a_stored_value_is_named(template_bytes, tmp_path):
    # openpyxl writes formulas without values, as a workbook generated by a program and never opened would be
    bad = edited(template_bytes, tmp_path, set_cell("Sites", "B2", "=50*2"))
    with pytest.raises(CaseError, match=r"^Sites!B2 \(sites\[0\]\.interconnect_mw\): the formula =50\*2 has no stored value\. "
                                        r"Fix: type the value, or open and save the file in Excel so its value is stored$"):
        load_case(bad)


@pytest.mark.skipif(SOFFICE is None, reason="LibreOffice is not installed (CI installs it)")
def test_a_formula_saved_by_a_spreadsheet_program_is_read_as_its_value(template_bytes, tmp_path):
    unsaved = edited(template_bytes, tmp_path, set_cell("Sites", "B2", "=50*2"), name="formula.xlsx")
    saved = tmp_path / "saved"
    subprocess.run(
        [SOFFICE, f"-env:UserInstallation=file://{tmp_path / 'lo-profile'}", "--headless", "--convert-to", "xlsx", "--outdir", str(saved), str(unsaved)],
        capture_output=True, timeout=300, check=True,
    )
    original = edited(template_bytes, tmp_path, lambda book: None, name="original.xlsx")
    case, example = load_case(saved / "formula.xlsx"), load_case(original)
    assert case.spec.sites[0].interconnect_mw == 100.0
    assert case.spec == example.spec
    assert_same_arrays(case, example)


@pytest.mark.parametrize("suffix, problem", [
    (".xlsm", "macro-enabled workbooks (.xlsm) are not read: a case holds data, and macros are never run"),
    (".xls", ".xls is not an .xlsx workbook"),
])
def test_other_spreadsheet_formats_are_refused(suffix, problem, template_bytes, tmp_path):
    path = tmp_path / f"case{suffix}"
    path.write_bytes(template_bytes)
    with pytest.raises(CaseError) as raised:
        load_case(path)
    assert raised.value.message == f"case{suffix}: {problem}. Fix: save it from Excel as an Excel Workbook (.xlsx)"


@pytest.mark.parametrize("content", ["truncated", "text"])
def test_a_damaged_file_is_a_case_error(content, template_bytes, tmp_path):
    path = tmp_path / "case.xlsx"
    path.write_bytes(template_bytes[: len(template_bytes) // 2] if content == "truncated" else b"name: not a workbook\n")
    with pytest.raises(CaseError, match=r"^case\.xlsx: not a readable \.xlsx workbook \(.+\)\. Fix: save it from Excel"):
        load_case(path)


def test_template_must_be_written_as_xlsx(tmp_path, capsys):
    assert main(["template", str(tmp_path / "case.xlsm")]) == 2
    assert "the template must be written as an .xlsx file" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


# --- end to end -------------------------------------------------------------------------------


def test_run_plans_a_workbook(templates, tmp_path):
    out = tmp_path / "out"
    assert main(["run", str(templates["west_texas_q3_2023"]), "--out", str(out), "--quiet"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    reference = json.loads((EXAMPLES / "west_texas_q3_2023" / "reference.json").read_text())
    assert summary["status"] == reference["status"]
    for key in ("objective_usd", "btc_mined", "energy_cost_usd", "curtailed_mwh"):
        assert summary[key] == pytest.approx(reference[key], rel=1e-3), key
