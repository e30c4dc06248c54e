"""Record the leaf bounds of the year on price blocks, then replay them alone, site LP by site LP.

On price blocks, ``solve`` bounds the hourly model at each leaf of its search by solving every
site's hourly LP at the leaf's duals (``optimizer.solve._SiteBound.value``), in a thread beside
the search. End to end, how long those LPs take is mixed with the search and the machine's noise;
replayed alone from a recording, one leaf after another as ``solve`` runs them, each site LP's
time and simplex iterations can be compared between HiGHS settings in a minute or two.

``record FILE`` solves the 3-site x 12-model year (``bench/run.py``'s case) on ``--price-blocks``
blocks a day and saves every call of ``_SiteBound.value`` in order: the re-cut's, then each
leaf's (the coupling rows' duals, the columns held, their bounds and the L the leaf needed).
``replay FILE`` builds the same hourly model and makes the same calls, through the same
``_SiteBound.value``, printing each site's seconds and iterations per call and their totals
after the re-cut's. ``--option NAME=VALUE`` sets a HiGHS option on every site LP after the
re-cut's call (e.g. ``simplex_strategy=4``); ``--cold`` clears each site LP's basis before each
call, so every leaf starts cold; ``--exact`` solves every site LP to its
optimum, as if no leaf could stop at the L it needed.

Run from the repository root: ``python bench/leaves.py record leaves.pkl``, then
``python bench/leaves.py replay leaves.pkl [--option NAME=VALUE ...] [--cold] [--exact]``. A benchmark,
not a test: it asserts nothing.
"""

from __future__ import annotations

import argparse
import math
import pickle
import tempfile
import time
from pathlib import Path

import numpy as np

from models.build import build_model, build_price_blocked
from optimizer.case import load_case
from optimizer.solve import _SiteBound, solve
from run import write_case


def record(path: Path, price_blocks: int, time_limit_s: float) -> None:
    """Solve the year on price blocks and save every ``_SiteBound.value`` call to ``path``."""
    calls = []
    value = _SiteBound.value

    def recorded(self, duals, columns, lower, upper, *args, enough=math.inf, **kwargs):
        calls.append((*(None if array is None else np.array(array) for array in (duals, columns, lower, upper)), enough))
        return value(self, duals, columns, lower, upper, *args, enough=enough, **kwargs)

    with tempfile.TemporaryDirectory() as folder:
        case = load_case(write_case(Path(folder), None, 12, price_blocks))
    solver = case.spec.solver.model_copy(update={"time_limit_s": time_limit_s})
    _SiteBound.value = recorded
    try:
        began = time.perf_counter()
        report = solve(build_model(case), solver, log=lambda line: print(f"  {time.perf_counter() - began:7.1f} s  {line}"), blocks=build_price_blocked(case))
    finally:
        _SiteBound.value = value
    with open(path, "wb") as file:
        pickle.dump(calls, file)
    print(f"{report.status}, certified gap {report.mip_gap:.2e}: {len(calls)} calls saved to {path}")


def replay(path: Path, options: list[str], cold: bool, exact: bool) -> None:
    """Make the recorded calls again, alone, printing each site LP's seconds and simplex iterations."""
    with open(path, "rb") as file:
        calls = pickle.load(file)
    with tempfile.TemporaryDirectory() as folder:
        case = load_case(write_case(Path(folder), None, 12))
    bound = _SiteBound(build_model(case), case.spec.solver)
    began = time.perf_counter()
    value = bound.value(*calls[0][:4], side_by_side=False)
    # the re-cut's call solves each site LP cold; the leaves after it start from the last basis
    print(f"call  0 (the re-cut's): L ${value:,.0f} in {time.perf_counter() - began:.1f} s", flush=True)
    for _, highs in bound.parts:
        for option in options:
            name, setting = option.split("=", 1)
            kind = type(highs.getOptionValue(name)[1])
            highs.setOptionValue(name, setting.lower() in ("true", "on", "1") if kind is bool else kind(setting))
    totals = np.zeros((len(bound.parts), 2))
    for number, call in enumerate(calls[1:], start=1):
        if cold:
            for _, highs in bound.parts:
                highs.clearSolver()
        before = [highs.getRunTime() for _, highs in bound.parts]
        *arrays, enough = call
        value = bound.value(*arrays, side_by_side=False, enough=math.inf if exact else enough)
        seconds = [highs.getRunTime() - ran for (_, highs), ran in zip(bound.parts, before)]
        iterations = [highs.getInfo().simplex_iteration_count for _, highs in bound.parts]
        sites = ", ".join(f"site {site} {s:6.2f} s {n:6d} it" for site, (s, n) in enumerate(zip(seconds, iterations)))
        print(f"call {number:2d}: L ${value:,.0f}; {sites}", flush=True)
        totals += np.column_stack([seconds, iterations])
    for site, (seconds, iterations) in enumerate(totals):
        print(f"site {site}: {seconds:.1f} s, {iterations:,.0f} simplex iterations over the {len(calls) - 1} calls after the re-cut's")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    recording = commands.add_parser("record", help="solve the year on price blocks, saving every leaf bound's call")
    recording.add_argument("file", type=Path)
    recording.add_argument("--price-blocks", type=int, default=6, metavar="K", help="price blocks a day (default 6)")
    recording.add_argument("--time-limit", type=float, default=1800.0, metavar="S", help="solver.time_limit_s [s] (default 1800)")
    replaying = commands.add_parser("replay", help="make the recorded calls again, alone")
    replaying.add_argument("file", type=Path)
    replaying.add_argument("--option", action="append", default=[], metavar="NAME=VALUE", help="a HiGHS option for every site LP after the re-cut's call")
    replaying.add_argument("--cold", action="store_true", help="clear each site LP's basis before each call after the re-cut's")
    replaying.add_argument("--exact", action="store_true", help="solve every site LP to its optimum, not only as far as the L each leaf needed")
    args = parser.parse_args()
    if args.command == "record":
        record(args.file, args.price_blocks, args.time_limit)
    else:
        replay(args.file, args.option, args.cold, args.exact)


if __name__ == "__main__":
    main()
