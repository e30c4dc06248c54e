"""No failure, kill or repeated run loses a previous good output or leaves a half-written one."""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import openpyxl
import pytest

import optimizer.report
from optimizer.cli import main

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "west_texas_q3_2023" / "case.yaml"
OUTPUTS = ["dispatch.csv", "report.xlsx", "summary.json", "thresholds.csv"]


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def complete(folder: Path) -> bool:
    """Every output is there and readable."""
    if sorted(p.name for p in folder.iterdir()) != OUTPUTS:
        return False
    json.loads((folder / "summary.json").read_text())
    openpyxl.load_workbook(folder / "report.xlsx", read_only=True).close()
    return True


@pytest.fixture(scope="module")
def good_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("good") / "out"
    assert main(["run", str(EXAMPLE), "--out", str(out), "--quiet"]) == 0
    return out


def test_an_existing_output_is_not_clobbered_without_overwrite(good_run, capsys):
    before = snapshot(good_run)
    assert main(["run", str(EXAMPLE), "--out", str(good_run), "--quiet"]) == 2
    assert "already holds output. Fix: pass --overwrite" in capsys.readouterr().err
    assert snapshot(good_run) == before


def test_overwrite_replaces_the_folder_whole_and_leaves_nothing_beside_it(good_run, tmp_path):
    out = tmp_path / "out"
    assert main(["run", str(EXAMPLE), "--out", str(out), "--quiet"]) == 0
    (out / "stale.txt").write_text("from an older version")
    assert main(["run", str(EXAMPLE), "--out", str(out), "--quiet", "--overwrite"]) == 0
    assert complete(out)  # the stale file went with the old folder
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_a_failure_while_writing_keeps_the_previous_output(good_run, monkeypatch, tmp_path):
    out = tmp_path / "out"
    assert main(["run", str(EXAMPLE), "--out", str(out), "--quiet"]) == 0
    before = snapshot(out)

    def broken_report(path, results, case):
        path.write_bytes(b"PK\x03\x04 half a workbook")
        raise OSError("disk full")

    monkeypatch.setattr(optimizer.report, "write_report", broken_report)
    assert main(["run", str(EXAMPLE), "--out", str(out), "--quiet", "--overwrite"]) == 1
    assert snapshot(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_a_killed_run_never_leaves_a_half_written_or_missing_output(tmp_path):
    # kill the process at several moments of a run into an existing good output: whenever it
    # dies, the output is the old plan or the new one, complete
    out = tmp_path / "out"
    assert main(["run", str(EXAMPLE), "--out", str(out), "--quiet"]) == 0
    command = [sys.executable, "-m", "optimizer.cli", "run", str(EXAMPLE), "--out", str(out), "--quiet", "--overwrite"]
    for delay in (0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5):
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        process.wait()
        assert out.is_dir() and complete(out), f"killed after {delay} s"
    # a later run clears the staging folders that killed runs left
    assert main(["run", str(EXAMPLE), "--out", str(out), "--quiet", "--overwrite"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_template_is_not_overwritten_without_overwrite(tmp_path, capsys):
    target = tmp_path / "case.xlsx"
    target.write_bytes(b"the user's own workbook")
    assert main(["template", str(target)]) == 2
    assert target.read_bytes() == b"the user's own workbook"
    assert main(["template", str(target), "--overwrite"]) == 0
    openpyxl.load_workbook(target, read_only=True).close()
