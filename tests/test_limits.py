"""Hostile and oversized inputs fail early with a clear error, never by hanging or running out of memory."""

import copy

import pytest
import yaml

from optimizer.case import checks, load_case
from optimizer.case.errors import CaseError, SchemaError, SeriesFileError
from optimizer.cli import main
from test_validation import base_case, case_dir, write_case  # noqa: F401  (case_dir is a fixture)


def test_an_alias_bomb_is_refused_before_anything_is_built(tmp_path):
    # ten aliases a level, six levels: a million values from a few lines
    lines = ['a: &a ["x","x","x","x","x","x","x","x","x","x"]']
    for name, previous in zip("bcdef", "abcde"):
        lines.append(f"{name}: &{name} [" + ",".join([f"*{previous}"] * 10) + "]")
    lines.append("fleet: *f")
    (tmp_path / "bomb.yaml").write_text("\n".join(lines) + "\n")
    with pytest.raises(SchemaError, match="expands to more than 100,000 values"):
        load_case(tmp_path / "bomb.yaml")


def test_ordinary_anchors_are_welcome(case_dir):
    path = write_case(case_dir, base_case())
    text = path.read_text().replace("- name: west", "- name: &site west", 1).replace("site: west", "site: *site")
    assert "*site" in text
    path.write_text(text)
    assert load_case(path).spec.fleet[0].site == "west"


def test_a_custom_tag_is_refused_and_never_run(tmp_path):
    (tmp_path / "tag.yaml").write_text('name: !!python/object/apply:os.system ["touch pwned"]\n')
    with pytest.raises(SchemaError, match="a YAML tag the case cannot hold") as info:
        load_case(tmp_path / "tag.yaml")
    assert info.value.row == "line 1, column 7" and not (tmp_path / "pwned").exists()


def test_deep_nesting_is_a_clear_error(tmp_path):
    (tmp_path / "deep.yaml").write_text("a: " + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(SchemaError, match="nested too deeply"):
        load_case(tmp_path / "deep.yaml")


def test_an_oversized_case_file_is_refused_unread(tmp_path, monkeypatch):
    monkeypatch.setattr(checks, "MAX_CASE_FILE_BYTES", 100)
    (tmp_path / "case.yaml").write_text("name: x\n" * 50)
    with pytest.raises(CaseError, match="above the limit of"):
        load_case(tmp_path / "case.yaml")


def test_a_huge_series_file_is_refused_unread(case_dir, monkeypatch):
    monkeypatch.setattr(checks, "MAX_SERIES_FILE_BYTES", 200)
    with pytest.raises(SeriesFileError, match="above the limit of") as info:
        load_case(write_case(case_dir, base_case()))
    assert info.value.field.startswith("sites[0].power.spot_usd_per_mwh")


@pytest.mark.parametrize(
    "change, field",
    [
        (lambda c: c["horizon"].update(end="2026-08-01T00:00", resolution="15min"), "horizon"),  # 105,000+ periods
        (lambda c: c.update(sites=[dict(c["sites"][0], name=f"s{i}") for i in range(51)]), "sites"),
        (lambda c: c.update(miner_models=[dict(c["miner_models"][0], name=f"m{i}") for i in range(101)]), "miner_models"),
        (lambda c: (c["horizon"].update(end="2033-01-01T00:00"), c["miner_models"][0].update(
            modes=[{"name": f"mode{i}", "hashrate_th": 100.0, "power_w": 3000.0} for i in range(40)])), "fleet"),  # 41+ classes x 83k hours
    ],
)
def test_cases_past_the_documented_limits_fail_before_any_series_is_read(case_dir, change, field):
    case = copy.deepcopy(base_case())
    change(case)
    with pytest.raises(SchemaError, match="above the limit of") as info:
        load_case(write_case(case_dir, case))
    assert info.value.field == field


def test_a_pack_past_the_scenario_limit_is_refused(tmp_path, capsys):
    grid = ",".join(str(1 + i / 100) for i in range(40))
    assert main(["pack", "any.yaml", "--out", str(tmp_path / "pack"), "--btc-price", grid, "--hashprice", grid]) == 2
    assert "1,600 scenarios, above the limit of 1,000" in capsys.readouterr().err


def test_a_workbook_reaching_far_to_the_right_is_refused_without_reading_it_wide(tmp_path):
    # cells in column XFD made every row 16,384 cells long: 1,600 such rows took 421 MB
    import openpyxl

    assert main(["template", str(tmp_path / "case.xlsx")]) == 0
    book = openpyxl.load_workbook(tmp_path / "case.xlsx")
    for row in range(2, 12):
        book["Debt"].cell(row=row, column=16384, value=1)
    book.save(tmp_path / "wide.xlsx")
    with pytest.raises(SchemaError, match="the sheet has cells out to column XFD") as info:
        load_case(tmp_path / "wide.xlsx")
    assert info.value.field == "Debt!XFD"
