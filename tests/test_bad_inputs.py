"""The bad-input catalogue: every case in ``tests/bad_inputs`` fails cleanly from the command line.

Each folder of ``tests/bad_inputs`` is one bad input: its case file (``case.yaml`` and the
CSV files it refers to, or a ``case.xlsx``/``case.xlsm`` workbook written by
``make_workbooks.py``) and ``expected.txt``, one line that the error message must contain
(the part naming the field, CSV line or sheet and cell, and the problem).

For each entry, ``hashplan validate`` and ``hashplan run`` are run in-process, and each must
exit 2 with one ``error:`` line on stderr, no traceback and nothing on stdout. ``run``
first reports ``  loading <case>`` on stderr (progress goes to stderr), and must write
nothing: no output folder and no other file.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from optimizer.cli import main

BAD_INPUTS = Path(__file__).resolve().parent / "bad_inputs"
ENTRIES = sorted(p for p in BAD_INPUTS.iterdir() if p.is_dir() and p.name != "__pycache__")
MIN_ENTRIES = 45



def case_file(entry: Path) -> Path:
    """The entry's case: its one file named ``case.*``."""
    (case,) = [p for p in entry.iterdir() if p.stem == "case"]
    return case


def expected_text(entry: Path) -> str:
    """The one line of ``expected.txt``."""
    (line,) = (entry / "expected.txt").read_text(encoding="utf-8").splitlines()
    return line


def assert_one_error_line(code: int, lines: list[str], expected: str, verb: str) -> None:
    shown = "\n".join(lines)
    assert code == 2, f"`{verb}` exited {code}, not 2:\n{shown}"
    assert not any("Traceback" in line for line in lines), f"`{verb}` printed a traceback:\n{shown}"
    assert len(lines) == 1 and lines[0].startswith("error: "), f"`{verb}` did not print one `error:` line:\n{shown}"
    assert expected in lines[0], f"`{verb}`: {expected!r} is not in:\n{lines[0]}"


@pytest.mark.parametrize("entry", ENTRIES, ids=[entry.name for entry in ENTRIES])
def test_bad_input_fails_cleanly(entry, tmp_path, monkeypatch, capsys):
    case, expected = case_file(entry), expected_text(entry)
    monkeypatch.chdir(tmp_path)  # so that a file written to the working folder is caught below as well

    code = main(["validate", str(case)])
    captured = capsys.readouterr()
    assert_one_error_line(code, captured.err.splitlines(), expected, "validate")
    assert captured.out == ""

    # only after `validate` has refused the case: an entry that validates might be solved (or, for
    # solver_threads_absurd, abort the process in HiGHS)
    out = tmp_path / "out"
    code = main(["run", str(case), "--out", str(out)])
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert lines[:1] == [f"  loading {case}"], f"`run` did not start by loading the case:\n{captured.err}"
    assert_one_error_line(code, lines[1:], expected, "run")
    assert captured.out == ""
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_catalogue_is_complete():
    assert len(ENTRIES) >= MIN_ENTRIES
    for entry in ENTRIES:
        assert (entry / "expected.txt").is_file(), f"{entry.name} has no expected.txt"
        assert expected_text(entry).strip(), f"{entry.name}/expected.txt is blank"
        assert case_file(entry).suffix in (".yaml", ".xlsx", ".xlsm"), entry.name


def test_workbook_entries_are_those_make_workbooks_writes(monkeypatch):
    monkeypatch.setattr(sys, "dont_write_bytecode", True)  # no __pycache__ inside the catalogue
    spec = importlib.util.spec_from_file_location("make_workbooks", BAD_INPUTS / "make_workbooks.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    workbooks = {entry.name for entry in ENTRIES if case_file(entry).suffix != ".yaml"}
    assert workbooks == set(script.ENTRIES)
    for name, (file_name, _, expected) in script.ENTRIES.items():
        assert case_file(BAD_INPUTS / name).name == file_name
        assert expected_text(BAD_INPUTS / name) == expected
