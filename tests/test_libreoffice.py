"""Every workbook hashplan writes opens in a real spreadsheet program, with the same values.

LibreOffice (headless) converts each workbook to PDF, which must succeed, and each sheet to
CSV, whose values must equal summary.json. CI installs LibreOffice (.ci/run); elsewhere the
test is skipped when ``soffice`` is missing.
"""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from optimizer.cli import main
from optimizer.report.workbook import SUMMARY_ROWS, TREASURY_SUMMARY_ROWS

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
SOFFICE = shutil.which("soffice")

if SOFFICE is None and os.environ.get("CI"):
    pytest.fail("LibreOffice (soffice) is not installed: .ci/run must install libreoffice-calc-nogui", pytrace=False)
pytestmark = pytest.mark.skipif(SOFFICE is None, reason="LibreOffice is not installed (CI installs it)")

ALL_SHEETS_AS_CSV = "csv:Text - txt - csv (StarCalc):44,34,76,1,,0,false,true,false,false,false,-1"


def _number(text: str) -> float:
    return float(text[:-1]) / 100 if text.endswith("%") else float(text)


def convert(workbook: Path, target: str, out: Path) -> subprocess.CompletedProcess:
    profile = out / "lo-profile"
    return subprocess.run(
        [SOFFICE, f"-env:UserInstallation=file://{profile}", "--headless", "--convert-to", target, "--outdir", str(out), str(workbook)],
        capture_output=True, text=True, timeout=300, check=False,
    )


@pytest.mark.parametrize("example", ["west_texas_q3_2023", "cfo_q1_2026"])
def test_libreoffice_opens_the_report_and_reads_the_summary_values(example, tmp_path):
    run = tmp_path / "run"
    assert main(["run", str(EXAMPLES / example / "case.yaml"), "--out", str(run), "--quiet"]) == 0
    summary = json.loads((run / "summary.json").read_text())

    pdf = convert(run / "report.xlsx", "pdf", tmp_path)
    assert pdf.returncode == 0 and (tmp_path / "report.pdf").stat().st_size > 10_000, pdf.stderr
    assert "error" not in pdf.stderr.lower(), pdf.stderr

    csv = convert(run / "report.xlsx", ALL_SHEETS_AS_CSV, tmp_path)
    assert csv.returncode == 0, csv.stderr
    rows = pd.read_csv(tmp_path / "report-Summary.csv", header=None, names=["label", "value", "unit"], dtype=str, skip_blank_lines=False)
    shown = dict(zip(rows["label"], rows["value"]))
    checked = 0
    for key, label, _, _ in SUMMARY_ROWS + (TREASURY_SUMMARY_ROWS if "terminal_value_usd" in summary else []):
        expected = summary[key]
        if isinstance(expected, str):
            assert shown[label] == expected
        elif expected is not None:
            # LibreOffice writes raw values with 15 significant digits (percentages keep their %)
            assert _number(shown[label]) == pytest.approx(expected, rel=1e-13, abs=1e-9), label
        checked += 1
    assert checked >= len(SUMMARY_ROWS)
    pnl = pd.read_csv(tmp_path / "report-P&L.csv")
    assert pnl["Total"].iloc[-1] == pytest.approx(summary["objective_usd"], rel=1e-13)

    # the table sheets' rows are written as XML by optimizer.report.sheetxml, not by openpyxl
    dispatch = pd.read_csv(run / "dispatch.csv")
    shown = pd.read_csv(tmp_path / "report-Dispatch.csv")
    assert len(shown) == len(dispatch) > 0
    local = pd.to_datetime(dispatch["period_start"].str[:19])
    assert (pd.to_datetime(shown.iloc[:, 0]) == local).all()
    for column, values in zip(shown.columns[1:], dispatch.columns[1:]):
        if not pd.api.types.is_numeric_dtype(dispatch[values]):
            assert (shown[column] == dispatch[values]).all(), column
        else:
            assert shown[column].to_numpy() == pytest.approx(dispatch[values].to_numpy(), rel=1e-13, abs=1e-9), column
    fleet = pd.read_csv(tmp_path / "report-Fleet plan.csv")
    assert fleet.iloc[-1, 0] == "Total" and fleet.iloc[-1]["Retired [units]"] == fleet["Retired [units]"].iloc[:-1].sum()


def test_libreoffice_opens_the_scenario_pack(tmp_path):
    out = tmp_path / "pack"
    assert main(["pack", str(EXAMPLES / "cfo_q1_2026" / "case.yaml"), "--out", str(out), "--btc-price", "0.8,1", "--hashprice", "1", "-q"]) == 0
    pack = json.loads((out / "pack.json").read_text())
    csv = convert(out / "pack.xlsx", ALL_SHEETS_AS_CSV, tmp_path)
    assert csv.returncode == 0, csv.stderr
    comparison = pd.read_csv(tmp_path / "pack-Comparison.csv", index_col=0)
    values = comparison.loc["Terminal value [USD]"].astype(float).tolist()
    assert values == pytest.approx([row["terminal_value_usd"] for row in pack["scenarios"]], rel=1e-13)
