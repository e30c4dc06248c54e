"""Sweeps: solve every scenario of a pack independently, in worker processes or on a Dask cluster.

Each scenario is solved by :func:`solve_scenario`, a pure function of its case that returns
its KPIs and its output files as bytes, so a worker needs no shared disk: the process that
runs the sweep writes every result folder (atomically) as results come back. A scenario
whose folder records the same input hash is not solved again unless forced.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path

from models.build import build_model, build_screening_model
from optimizer.case import Case, CaseError
from optimizer.memory import peak_rss_mb
from optimizer.output import atomic_write, output_folder, write_json
from optimizer.report import write_plan
from optimizer.results import extract_results
from optimizer.scenarios import Scenario, folder_name
from optimizer.solve import NoPlanError, solve

RECORD = "scenario.json"
"""The file in a scenario's result folder that records its input hash and KPI row; written last."""


def solve_scenario(case: Case) -> dict:
    """Solve one case and render its output files.

    Returns
    -------
    dict
        ``kpis`` (``summary.json``'s content) and ``files`` (file name -> bytes); or
        ``status: failed`` and ``error`` (one line) when the case cannot be planned or an
        internal error occurred, so one scenario never stops a pack. Both have ``run``: the
        wall time [s] and the worker process's peak memory so far [MB].
    """
    began = time.perf_counter()
    result = _solved(case)
    result["run"] = {"seconds": time.perf_counter() - began, "worker_peak_rss_mb": peak_rss_mb()}
    return result


def _solved(case: Case) -> dict:
    try:
        model = build_model(case)
        results = extract_results(model, case, solve(model, case.spec.solver, screen=build_screening_model(case)))
        with tempfile.TemporaryDirectory(prefix="hashplan-scenario-") as folder:
            write_plan(Path(folder), results, case)
            files = {path.name: path.read_bytes() for path in sorted(Path(folder).iterdir())}
        return {"kpis": results.kpis, "files": files}
    except CaseError as exc:
        return {"status": "failed", "error": exc.message}
    except NoPlanError as exc:
        return {"status": "failed", "error": f"no plan ({exc.status}): {exc}"}
    except Exception as exc:  # one scenario's internal error is recorded, and the pack goes on
        last = traceback.extract_tb(exc.__traceback__)[-1]
        return {"status": "failed", "error": f"internal error: {type(exc).__name__}: {exc} (at {Path(last.filename).name}:{last.lineno})"}


def describe(scenario: Scenario, probability: float) -> dict:
    """The scenario's inputs as the first columns of its pack row."""
    row = {"scenario": scenario.name, "folder": folder_name(scenario.name), "probability": probability, **scenario.inputs}
    case = scenario.case
    if case is None:
        return row
    mean = case.grid.horizon_mean
    return {
        **row,
        "mean_btc_price_usd": mean(case.network.btc_price_usd),
        "mean_hashprice_usd_per_ph_day": mean(case.network.hashprice_usd_per_ph_day),
        "mean_spot_usd_per_mwh": mean(sum(case.spot_usd_per_mwh.values()) / len(case.spot_usd_per_mwh)),
        "inputs_sha256": case.content_hash,
    }


def run_sweep(
    scenarios: Sequence[Scenario],
    probabilities: Sequence[float],
    out: Path | None = None,
    workers: int = 1,
    scheduler: str | None = None,
    force: bool = False,
    progress: Callable[[int, int, dict], None] | None = None,
) -> list[dict]:
    """Solve each scenario and return one row per scenario, in the pack's order.

    Parameters
    ----------
    scenarios, probabilities
        The scenarios and their probabilities [-].
    out : pathlib.Path, optional
        Folder that receives one result folder per solved scenario (``<out>/<folder>/``);
        a folder whose record has the same input hash is reused unless ``force``.
    workers : int
        Local worker processes; 1 solves in this process.
    scheduler : str, optional
        Address of a Dask distributed scheduler (``tcp://host:8786``): solve there instead.
    progress : callable, optional
        Called after each scenario with (done, total, row).

    Returns
    -------
    list of dict
        :func:`describe`'s columns, then the KPIs, or ``status: failed`` and ``error``;
        ``reused`` is true for a scenario taken from an earlier run; ``run`` holds a solved
        scenario's wall time and its worker's peak memory.
    """
    rows: list[dict | None] = [None] * len(scenarios)
    todo = []
    for i, (scenario, probability) in enumerate(zip(scenarios, probabilities)):
        row = describe(scenario, probability)
        earlier = None if force or out is None or scenario.case is None else _earlier(out / row["folder"], row["inputs_sha256"])
        if scenario.case is None:
            rows[i] = {**row, "status": "failed", "error": scenario.error, "reused": False}
        elif earlier is not None:
            rows[i] = {**row, **earlier, "reused": True}
        else:
            rows[i] = row
            todo.append(i)
    done = 0
    for i in sorted(set(range(len(scenarios))) - set(todo)):
        done += 1
        if progress:
            progress(done, len(scenarios), rows[i])
    for i, result in _results([scenarios[i].case for i in todo], todo, workers, scheduler):
        outcome = result["kpis"] if "kpis" in result else {"status": result["status"], "error": result["error"]}
        row = {**rows[i], **outcome, "run": result["run"], "reused": False}
        if out is not None and "files" in result:
            _write_scenario(out / row["folder"], result["files"], row)
        rows[i] = row
        done += 1
        if progress:
            progress(done, len(scenarios), row)
    return rows


def _results(cases: list[Case], keys: list[int], workers: int, scheduler: str | None) -> Iterator[tuple[int, dict]]:
    """(key, :func:`solve_scenario` result) as each case finishes."""
    if not cases:
        return
    if scheduler is not None:
        yield from _dask_results(cases, keys, scheduler)
    elif workers <= 1 or len(cases) == 1:
        for key, case in zip(keys, cases):
            yield key, solve_scenario(case)
    else:
        # spawn, not fork: a forked child would inherit the parent's threads' locks
        with ProcessPoolExecutor(max_workers=min(workers, len(cases)), mp_context=get_context("spawn")) as pool:
            futures = {pool.submit(solve_scenario, case): key for key, case in zip(keys, cases)}
            for future in as_completed(futures):
                yield futures[future], future.result()


def _dask_results(cases: list[Case], keys: list[int], scheduler: str) -> Iterator[tuple[int, dict]]:
    try:
        from distributed import Client
        from distributed import as_completed as dask_completed
    except ImportError:
        raise CaseError("--scheduler", "Dask distributed is not installed", 'install it with `pip install "hashplan[dask]"`') from None
    try:
        client = Client(scheduler, timeout=30)
    except OSError as exc:
        raise CaseError("--scheduler", f"cannot reach the Dask scheduler at {scheduler} ({exc})", "start it with `dask scheduler`, or check the address") from None
    with client:
        futures = client.map(solve_scenario, cases, key=[f"hashplan-scenario-{key}-{case.content_hash[:16]}" for key, case in zip(keys, cases)], pure=False)
        index = {future.key: key for future, key in zip(futures, keys)}
        for future in dask_completed(futures):
            yield index[future.key], future.result()


def _earlier(folder: Path, inputs_sha256: str) -> dict | None:
    """The KPI row recorded in ``folder`` if it was solved from the same inputs, else None."""
    try:
        record = json.loads((folder / RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record["row"] if record.get("inputs_sha256") == inputs_sha256 else None


def _write_scenario(folder: Path, files: dict[str, bytes], row: dict) -> None:
    """The scenario's files, then its record, into a folder that replaces any earlier one whole."""
    with output_folder(folder, overwrite=True) as staging:
        for name, content in files.items():
            atomic_write(staging / name, lambda tmp, content=content: tmp.write_bytes(content))
        kpis = {k: v for k, v in row.items() if k not in ("reused", "run")}
        write_json(staging / RECORD, {"scenario": row["scenario"], "inputs_sha256": row["inputs_sha256"], "row": kpis})


def check_sweep_folder(out: Path) -> None:
    """Refuse an output folder that holds something other than an earlier sweep's results."""
    if not out.exists():
        return
    if out.is_file():
        raise CaseError("--out", f"{out} is a file", "give a folder for the sweep's results")
    entries = [p for p in out.iterdir() if not p.name.startswith(".")]
    ours = (out / "pack.json").exists() or any((p / RECORD).exists() for p in entries if p.is_dir())
    if entries and not ours:
        raise CaseError("--out", f"{out} holds files that are not a sweep's results", "choose an empty or new folder, or an earlier sweep's folder to resume it")


def default_workers() -> int:
    """The machine's cores (the CPUs this process may use)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


class ProgressBar:
    """A one-line progress bar with ETA on stderr (a line per scenario when stderr is not a terminal)."""

    def __init__(self, stream=None, width: int = 30):
        self.stream = stream or sys.stderr
        self.width = width
        self.began = time.perf_counter()
        self.failed = 0
        self.solved_here = 0

    def __call__(self, done: int, total: int, row: dict) -> None:
        self.failed += row.get("status") == "failed"
        elapsed = time.perf_counter() - self.began
        self.solved_here += not row.get("reused", False)
        remaining = total - done
        eta = f"ETA {_clock(elapsed / self.solved_here * remaining)}" if self.solved_here and remaining else ("done" if not remaining else "ETA ?")
        filled = int(self.width * done / total)
        bar = "#" * filled + "." * (self.width - filled)
        state = "reused" if row.get("reused") else row.get("status", "")
        line = f"[{bar}] {done}/{total} ({self.failed} failed) {_clock(elapsed)} elapsed, {eta}  last: {row['scenario']}: {state}"
        if self.stream.isatty():
            self.stream.write("\r\x1b[2K" + line + ("\n" if not remaining else ""))
        else:
            self.stream.write("  " + line + "\n")
        self.stream.flush()


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
