"""The ``hashplan`` command: one thin function per verb.

Exit codes: 0 success; 2 invalid input (the message names field, row and fix); 3 no plan
(infeasible, unbounded or nothing found in the time limit); 1 an internal error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from models.build import build_model, build_price_blocked, build_screening_model
from optimizer import __version__, market
from optimizer.case import CaseError, CaseSpec, load_case
from optimizer.case.checks import MAX_SCENARIOS
from optimizer.case.excel import write_template
from optimizer.case.series import read_csv_table, read_step_series
from optimizer.output import check_output_free, output_folder, write_json
from optimizer.report import write_plan
from optimizer.report.pack import write_pack
from optimizer.results import extract_results
from optimizer.report.robust import robust_summary, write_robust
from optimizer.scenarios import folder_name, load_pack, sensitivity_grid
from optimizer.stochastic import plan_robust
from optimizer.sweep import ProgressBar, check_sweep_folder, default_workers, run_sweep
from optimizer.solve import NoPlanError, solve

BUNDLED_EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "west_texas_q3_2023" / "case.yaml"
"""The case ``hashplan run`` plans when given none (present in a source checkout)."""

EXIT_INPUT, EXIT_NO_PLAN, EXIT_INTERNAL = 2, 3, 1


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``hashplan`` console script."""
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "verb", None):
        parser.print_help()
        return EXIT_INPUT
    try:
        return args.verb(args) or 0
    except CaseError as exc:
        return _fail(args, f"error: {exc.message}", EXIT_INPUT)
    except NoPlanError as exc:
        return _fail(args, f"no plan ({exc.status}): {exc}", EXIT_NO_PLAN)
    except BrokenPipeError:  # output piped into a reader that closed early (| head)
        sys.stdout = open(os.devnull, "w")
        return 0
    except KeyboardInterrupt:
        return _fail(args, "interrupted: no output was left half-written", 130)
    except Exception as exc:  # an internal error: say so plainly, trace only when asked
        return _fail(args, f"internal error: {type(exc).__name__}: {exc} (rerun with --debug for the traceback)", EXIT_INTERNAL)


def _fail(args: argparse.Namespace, message: str, code: int) -> int:
    if getattr(args, "debug", False):
        traceback.print_exc()
    print(message, file=sys.stderr)
    return code


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hashplan", description="Plan a Bitcoin mining fleet's dispatch on real power prices.")
    parser.add_argument("--version", action="version", version=f"hashplan {__version__}")
    verbs = parser.add_subparsers(title="verbs")

    run = verbs.add_parser("run", help="solve a case and write summary.json, dispatch.csv, thresholds.csv and report.xlsx")
    run.add_argument("case", nargs="?", type=Path, help="case .yaml file or .xlsx workbook (default: the bundled West Texas Q3 2023 example)")
    _add_output_options(run, Path("out"))
    run.set_defaults(verb=cmd_run)

    validate = verbs.add_parser("validate", help="check a case and its time series without solving")
    validate.add_argument("case", type=Path, help="case .yaml file or .xlsx workbook")
    validate.add_argument("--debug", action="store_true", help="print tracebacks on errors")
    validate.set_defaults(verb=cmd_validate)

    template = verbs.add_parser("template", help="write a fillable Excel case workbook, filled with a case's values")
    template.add_argument("out", type=Path, help="workbook to write (.xlsx)")
    template.add_argument(
        "--from", dest="source", metavar="CASE", type=Path,
        help="case (.yaml or .xlsx) whose values and series fill it (default: the bundled example)",
    )
    template.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    template.add_argument("--debug", action="store_true", help="print tracebacks on errors")
    template.set_defaults(verb=cmd_template)

    schema = verbs.add_parser("schema", help="print the case schema as JSON Schema")
    schema.set_defaults(verb=cmd_schema)

    hashprice = verbs.add_parser("hashprice", help="hashprice and break-even power prices of the ASIC catalogue")
    hashprice.add_argument("--btc-price", type=float, required=True, help="BTC price [USD]")
    hashprice.add_argument("--difficulty", type=float, required=True, help="network difficulty [-], e.g. 1.249e14")
    hashprice.add_argument("--fees", type=float, default=0.0, help="mean fees per block [BTC] (default 0)")
    hashprice.add_argument("--height", type=int, required=True, help="block height [-] (sets the subsidy)")
    hashprice.add_argument("--pool-fee", type=float, default=0.0, help="pool fee [fraction] (default 0)")
    hashprice.add_argument("--json", action="store_true", help="print JSON instead of a table")
    hashprice.set_defaults(verb=cmd_hashprice)

    pack = verbs.add_parser("pack", help="solve a BTC price x hashprice grid of a case and write a scenario-pack workbook")
    pack.add_argument("case", type=Path, help="the base case .yaml")
    pack.add_argument("--btc-price", default="0.8,1,1.2", help="BTC price multipliers (default 0.8,1,1.2)")
    pack.add_argument("--hashprice", default="0.8,1,1.2", help="hashprice multipliers (default 0.8,1,1.2)")
    _add_workers_option(pack)
    _add_output_options(pack, Path("pack"))
    pack.set_defaults(verb=cmd_pack)

    sweep = verbs.add_parser("sweep", help="solve every scenario of a pack file; one result folder each, pack.json and pack.xlsx")
    sweep.add_argument("pack", type=Path, help="pack file (.yaml): a base case, scenarios and generators")
    sweep.add_argument("--out", type=Path, default=Path("sweep"), help="results folder (default ./sweep); a re-run into it skips scenarios already solved from the same inputs")
    sweep.add_argument("--force", action="store_true", help="solve every scenario again, even those already solved from the same inputs")
    sweep.add_argument("--scheduler", metavar="ADDRESS", help="a Dask distributed scheduler (tcp://host:8786) to solve on instead of local workers")
    _add_workers_option(sweep)
    sweep.add_argument("-q", "--quiet", action="store_true", help="print only the result lines")
    sweep.add_argument("--debug", action="store_true", help="print tracebacks on errors")
    sweep.set_defaults(verb=cmd_sweep)

    robust = verbs.add_parser("plan-robust", help="one first-stage plan for every scenario of a pack, with its VSS and EVPI")
    robust.add_argument("pack", type=Path, help="pack file (.yaml); its `stochastic:` section sets what is shared and the risk terms")
    robust.add_argument("--named-only", action="store_true", help="use the pack's named scenarios only, not the generated ones")
    robust.add_argument("--method", choices=("ef", "ph"), default="ef", help="ef: one extensive form (default); ph: progressive hedging through mpi-sppy (the `mpi` extra), also under mpiexec")
    robust.add_argument("--ph-iterations", type=_positive_int, default=100, help="ph: iterations to run (default 100)")
    robust.add_argument("--ph-rho", type=float, default=1.0, help="ph: penalty per unit of first-stage decision [USD/unit^2] (default 1); about the decisions' value per unit")
    _add_output_options(robust, Path("robust"))
    robust.set_defaults(verb=cmd_plan_robust)

    four_cp = verbs.add_parser("four-cp", help="the monthly peak intervals (4CP) of a system-load series, as case YAML")
    four_cp.add_argument("load_csv", type=Path, help="CSV with a `timestamp` column and a load column [MW]")
    four_cp.add_argument("--column", required=True, help="the load column, e.g. ERCOT")
    four_cp.add_argument("--timezone", default="America/Chicago", help="zone of naive timestamps and of the months (default America/Chicago)")
    four_cp.add_argument("--months", default="6,7,8,9", help="months whose peaks count (default 6,7,8,9)")
    four_cp.set_defaults(verb=cmd_four_cp)
    return parser


def _add_output_options(verb: argparse.ArgumentParser, default_out: Path) -> None:
    """The options of verbs that solve and write an output folder."""
    verb.add_argument("--out", type=Path, default=default_out, help=f"output folder (default: ./{default_out})")
    verb.add_argument("--overwrite", action="store_true", help="replace the output folder if it already holds output")
    verb.add_argument("-q", "--quiet", action="store_true", help="print only the result lines")
    verb.add_argument("--debug", action="store_true", help="print tracebacks on errors")


def _add_workers_option(verb: argparse.ArgumentParser) -> None:
    verb.add_argument("--workers", type=_positive_int, default=default_workers(), help=f"local worker processes (default: the machine's cores, {default_workers()})")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1 (got {value})")
    return value


def _progress(args: argparse.Namespace):
    """Progress lines to stderr, or nothing with --quiet."""
    return (lambda _: None) if args.quiet else (lambda line: print(f"  {line}", file=sys.stderr, flush=True))


def cmd_run(args: argparse.Namespace) -> int:
    """Load, validate, build, solve, extract and write the outputs."""
    say = _progress(args)
    case_path = args.case or _bundled_example()
    check_output_free(args.out, args.overwrite)
    began = time.perf_counter()
    say(f"loading {case_path}")
    case = load_case(case_path)
    say(f"{case.grid.n_periods:,} periods of {case.spec.horizon.resolution}, {len(case.machine_classes)} machine classes at {len(case.spec.sites)} site(s)")
    model = build_model(case)
    screen = build_screening_model(case)
    say(f"built model in {time.perf_counter() - began:.1f} s")
    # built in the call, so that nothing here holds the blocked model solve() re-cuts and replaces
    report = solve(model, case.spec.solver, log=say, screen=screen, blocks=build_price_blocked(case))
    results = extract_results(model, case, report)
    out = args.out
    say(f"writing {out}/")
    with output_folder(out, args.overwrite) as staging:
        write_plan(staging, results, case)
    k = results.kpis
    valued = "terminal value less penalties" if "terminal_value_usd" in k else "profit"
    print(f"{case.name}: {k['status']}, gap {_percent(k['mip_gap'])}, objective ${k['objective_usd']:,.0f} ({valued})")
    print(f"  {k['btc_mined']:,.4f} BTC mined, energy ${k['energy_cost_usd']:,.0f} ({_money(k['average_power_price_paid_usd_per_mwh'])}/MWh), "
          f"{k['curtailed_mwh']:,.0f} MWh curtailed, uptime {'n/a' if k['uptime_fraction'] is None else format(k['uptime_fraction'], '.1%')}")
    if "terminal_value_usd" in k:
        print(f"  terminal value ${k['terminal_value_usd']:,.0f}: sold {k['btc_sold']:,.2f} BTC for ${k['sale_proceeds_usd']:,.0f}, "
              f"ending cash ${k['ending_cash_usd']:,.0f} and {k['ending_btc']:,.2f} BTC")
    for shortfall in k["shortfalls"]:
        print(f"  SHORTFALL {shortfall['message']}")
    print(f"  wrote summary.json, dispatch.csv, thresholds.csv and report.xlsx to {out} in {time.perf_counter() - began:.1f} s")
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    """Check a case without building a model."""
    case = load_case(args.case)
    print(f"ok: {case.name}: {case.grid.n_periods:,} periods, {len(case.machine_classes)} machine classes, {len(case.spec.sites)} site(s)")
    return 0


def cmd_template(args: argparse.Namespace) -> int:
    """Write the Excel input workbook for a case (the bundled example by default)."""
    source = args.source or _bundled_example()
    check_output_free(args.out, args.overwrite, "OUT")
    write_template(args.out, source)
    print(f"wrote {args.out} from {source}: fill it in, then `hashplan validate {args.out.name}` and `hashplan run {args.out.name}`")
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    """Print the case schema."""
    print(json.dumps(CaseSpec.model_json_schema(), indent=2))
    return 0


def cmd_hashprice(args: argparse.Namespace) -> int:
    """Print hashprice and the break-even power price of each catalogue model."""
    for name, value in (("--btc-price", args.btc_price), ("--difficulty", args.difficulty)):
        if not value > 0:
            raise CaseError(name, f"must be > 0 (got {value:g})", "give a positive number")
    if not 0 <= args.pool_fee < 1:
        raise CaseError("--pool-fee", f"must be in [0, 1) (got {args.pool_fee:g})", "give a fraction such as 0.02")
    subsidy = market.block_subsidy_btc(args.height)
    hashprice = float(market.hashprice_usd_per_ph_day(args.btc_price, args.difficulty, subsidy, args.fees, args.pool_fee))
    catalogue = asic_catalogue()
    efficiency = market.efficiency_j_per_th(catalogue["power_w"], catalogue["hashrate_th"])
    table = catalogue.assign(
        efficiency_j_per_th=efficiency,
        breakeven_usd_per_mwh=market.breakeven_power_price_usd_per_mwh(hashprice, efficiency),
    ).sort_values("efficiency_j_per_th")
    if args.json:
        print(json.dumps({"subsidy_btc": subsidy, "hashprice_usd_per_ph_day": hashprice, "breakeven": table.to_dict(orient="records")}, indent=2))
        return 0
    print(f"subsidy {subsidy:g} BTC/block; hashprice ${hashprice:,.2f} per PH/s per day")
    print(f"{'model':24} {'TH/s':>6} {'W':>6} {'J/TH':>6} {'break-even $/MWh':>17}")
    for row in table.itertuples():
        print(f"{row.model:24} {row.hashrate_th:6.0f} {row.power_w:6.0f} {row.efficiency_j_per_th:6.1f} {row.breakeven_usd_per_mwh:17.2f}")
    return 0


def cmd_pack(args: argparse.Namespace) -> int:
    """Solve every grid scenario (failures are recorded, not fatal) and write pack.json and pack.xlsx."""
    say = _progress(args)
    multipliers = {name: _multipliers(text, name) for name, text in (("--btc-price", args.btc_price), ("--hashprice", args.hashprice))}
    check_output_free(args.out, args.overwrite)
    count = len(multipliers["--btc-price"]) * len(multipliers["--hashprice"])
    if count > MAX_SCENARIOS:
        raise CaseError("--btc-price/--hashprice", f"{count:,} scenarios, above the limit of {MAX_SCENARIOS:,}", "give fewer multipliers")
    case = load_case(args.case)
    grid = sensitivity_grid(case, multipliers["--btc-price"], multipliers["--hashprice"])
    say(f"solving {len(grid)} scenarios with {args.workers} worker(s)")
    rows = run_sweep(grid, [1.0 / len(grid)] * len(grid), workers=args.workers, progress=None if args.quiet else ProgressBar())
    with output_folder(args.out, args.overwrite) as staging:
        write_json(staging / "pack.json", {"case": case.name, "case_hash": case.content_hash, "scenarios": rows})
        write_pack(staging / "pack.xlsx", rows, case.name)
    failed = [row for row in rows if row["status"] == "failed"]
    print(f"{case.name}: {len(rows) - len(failed)} of {len(rows)} scenarios solved; wrote pack.json and pack.xlsx to {args.out}")
    for row in failed:
        print(f"  FAILED {row['scenario']}: {row['error']}")
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    """Solve a pack's scenarios (reusing those solved before from the same inputs); write pack.json and pack.xlsx."""
    say = _progress(args)
    check_sweep_folder(args.out)
    pack = load_pack(args.pack)
    where = f"the Dask cluster at {args.scheduler}" if args.scheduler else f"{args.workers} local worker(s)"
    say(f"{pack.spec.name}: {len(pack.scenarios)} scenarios of {pack.base.name}, on {where}")
    rows = run_sweep(
        pack.scenarios, pack.probabilities, out=args.out, workers=args.workers, scheduler=args.scheduler,
        force=args.force, progress=None if args.quiet else ProgressBar(),
    )
    write_json(args.out / "pack.json", {"pack": pack.spec.name, "base_case": pack.base.name, "base_hash": pack.base.content_hash, "scenarios": rows})
    write_pack(args.out / "pack.xlsx", rows, pack.spec.name, described=f"each solved independently against {pack.base.name}")
    failed = [row for row in rows if row["status"] == "failed"]
    reused = sum(row["reused"] for row in rows)
    print(f"{pack.spec.name}: {len(rows) - len(failed)} of {len(rows)} scenarios solved ({reused} reused from an earlier run); "
          f"wrote a folder per scenario, pack.json and pack.xlsx to {args.out}")
    for row in failed:
        print(f"  FAILED {row['scenario']}: {row['error']}")
    return 0


def cmd_plan_robust(args: argparse.Namespace) -> int:
    """Solve the pack's extensive form, then WS and EEV; write robust.json, robust.xlsx and each scenario's plan."""
    say = _progress(args)
    check_output_free(args.out, args.overwrite)
    pack = load_pack(args.pack)
    chosen = [i for i, s in enumerate(pack.scenarios) if not args.named_only or s.inputs.get("kind") == "named"]
    if not chosen:
        raise CaseError("--named-only", "the pack has no named scenarios", "add `scenarios:` to the pack, or drop --named-only")
    if args.method == "ph":
        return _plan_by_hedging(args, pack)
    weights = pack.probabilities[chosen]
    scenarios = [pack.scenarios[i] for i in chosen]
    plan = plan_robust(pack, scenarios, weights / weights.sum(), say)
    summary = robust_summary(plan, pack.spec.name)
    with output_folder(args.out, args.overwrite) as staging:
        for scenario, _, results in plan.scenarios:
            folder = staging / "scenarios" / folder_name(scenario.name)
            folder.mkdir(parents=True)
            write_plan(folder, results, scenario.case)
        write_json(staging / "robust.json", summary)
        write_robust(staging / "robust.xlsx", summary)
    print(f"{pack.spec.name}: two-stage plan over {len(scenarios)} scenarios, {summary['status']}, gap {_percent(summary['mip_gap'])}, "
          f"objective ${summary['objective_usd']:,.0f}")
    print(f"  VSS ${summary['vss_usd']:,.0f} (against the mean scenario's plan), EVPI ${summary['evpi_usd']:,.0f}")
    if summary["cvar_usd"] is not None:
        print(f"  CVaR of value ${summary['cvar_usd']:,.0f}")
    if summary["covenant_breach_probability"] is not None:
        print(f"  probability of a covenant breach {summary['covenant_breach_probability']:.1%}")
    for row in plan.first_stage:
        print(f"  {row['decision']}: {_clean(row['value']):,.2f} (mean scenario's plan: {_clean(row['mean_scenario_value']):,.2f})")
    print(f"  wrote robust.json, robust.xlsx and a plan per scenario to {args.out}")
    return 0


def _plan_by_hedging(args: argparse.Namespace, pack) -> int:
    """Progressive hedging through mpi-sppy; the first MPI rank writes robust.json."""
    from optimizer.hedging import progressive_hedging

    result = progressive_hedging(args.pack, args.named_only, args.ph_iterations, args.ph_rho)
    if result["rank"] != 0:
        return 0
    summary = {
        "pack": pack.spec.name, "method": f"progressive hedging (mpi-sppy, {result['ranks']} rank(s), rho {args.ph_rho:g})",
        "iterations": result["iterations"], "convergence": float(result["convergence"]),
        "expected_value_usd": float(result["expected_value_usd"]),
        "first_stage": [{"decision": name, "value": float(value)} for name, value in result["first_stage"].items()],
    }
    with output_folder(args.out, args.overwrite) as staging:
        write_json(staging / "robust.json", summary)
    print(f"{pack.spec.name}: progressive hedging, {result['iterations']} iterations on {result['ranks']} rank(s), "
          f"expected value ${summary['expected_value_usd']:,.0f}, distance from consensus {summary['convergence']:.2e}")
    for row in summary["first_stage"]:
        print(f"  {row['decision']}: {_clean(row['value']):,.2f}")
    print(f"  wrote robust.json to {args.out}")
    return 0


def _clean(value: float) -> float:
    """A decision for printing: solver noise around zero (-1e-12) reads as 0."""
    return 0.0 if abs(value) < 5e-7 else value


def _multipliers(text: str, option: str) -> list[float]:
    try:
        values = [float(part) for part in text.split(",")]
    except ValueError:
        raise CaseError(option, f"{text!r} is not a list of numbers", "give multipliers like 0.8,1,1.2") from None
    if not all(v > 0 for v in values):
        raise CaseError(option, f"{text!r} has a multiplier that is not positive", "give positive multipliers like 0.8,1,1.2")
    return values


def cmd_four_cp(args: argparse.Namespace) -> int:
    """Print the monthly peak intervals of a load series as a `four_cp.intervals` YAML list."""
    field = f"{args.load_csv.name}:{args.column}"
    table = read_csv_table(args.load_csv, field) if args.load_csv.is_file() else None
    if table is None:
        raise CaseError(str(args.load_csv), "file not found", "give the path of a load CSV")
    series = read_step_series(table, args.column, args.timezone, field)
    months = [int(m) for m in args.months.split(",")]
    load = pd.Series(series.values, index=series.stamps_utc.tz_convert(args.timezone))
    print("intervals:")
    for stamp in market.monthly_peak_intervals(load, months):
        print(f"  - {stamp.isoformat(timespec='minutes')}   # {load[stamp]:,.0f} MW")
    return 0


def asic_catalogue() -> pd.DataFrame:
    """Nameplate specs of common ASICs (derived from published lists; see examples/derive.py)."""
    with resources.files("optimizer").joinpath("data/asic_catalogue.csv").open("r", encoding="utf-8") as handle:
        return pd.read_csv(handle)


def _bundled_example() -> Path:
    if not BUNDLED_EXAMPLE.exists():
        raise CaseError("CASE", "the bundled example is not installed with this copy", "pass a case file: hashplan run path/to/case.yaml")
    return BUNDLED_EXAMPLE


def _percent(x: float | None) -> str:
    return "unknown" if x is None else f"{x:.4%}"


def _money(x: float | None) -> str:
    return "n/a" if x is None or not np.isfinite(x) else f"${x:,.2f}"


if __name__ == "__main__":
    sys.exit(main())
