"""Progressive hedging through mpi-sppy, for packs whose extensive form does not fit one machine.

mpi-sppy builds each scenario's model through :func:`scenario_creator` (its contract: a Pyomo
model with its first-stage variables attached to the root node, and its probability), solves
the scenarios on as many MPI ranks as it is started with, and drives their first stages
together. Install with ``pip install "hashplan[mpi]"``; run in one process, or on N ranks with
``mpiexec -n N hashplan plan-robust PACK --method ph``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import pyomo.environ as pyo

from models.build import build_model
from models.stochastic import first_stage_variables
from optimizer.case import CaseError
from optimizer.scenarios import Pack, load_pack

SOLVER = "highs"
"""Pyomo's HiGHS interface: it takes the quadratic proximal term progressive hedging adds."""


@lru_cache(maxsize=4)
def _pack(path: str) -> Pack:
    return load_pack(Path(path))


def scenario_names(pack_path: str | Path, named_only: bool = False) -> list[str]:
    """The scenarios of the pack, by name, as mpi-sppy addresses them."""
    pack = _pack(str(pack_path))
    return [s.name for s in pack.scenarios if not named_only or s.inputs.get("kind") == "named"]


def scenario_creator(scenario_name: str, pack_path: str, named_only: bool = False) -> pyo.ConcreteModel:
    """mpi-sppy's scenario creator: the scenario's model with its first stage on the root node.

    The first-stage cost attached is the capex of the shared decisions' blocks (mpi-sppy only
    reports it); the objective stays the scenario's own, maximised.
    """
    from mpisppy.utils import sputils

    pack = _pack(pack_path)
    names = scenario_names(pack_path, named_only)
    scenario = next(s for s in pack.scenarios if s.name == scenario_name)
    if scenario.case is None:
        raise CaseError(f"scenarios ({scenario_name})", scenario.error, "fix the scenario's inputs")
    weights = {s.name: s.weight for s in pack.scenarios if s.name in names}
    model = build_model(scenario.case)
    spec = pack.spec.stochastic
    shared = first_stage_variables(model, scenario.case, spec.first_stage_epochs, spec.first_stage_days)
    capex = [block.component(name) for block, name in ((getattr(model, "renewal", None), "machine_capex_cost_usd"), (getattr(model, "hosting", None), "hpc_capex_cost_usd")) if block is not None]
    model.first_stage_cost_usd = pyo.Expression(expr=sum(capex) if capex else 0.0)
    sputils.attach_root_node(model, model.first_stage_cost_usd, list(shared.values()))
    model._hashplan_first_stage = list(shared)
    model._mpisppy_probability = weights[scenario_name] / sum(weights.values())
    return model


def progressive_hedging(pack_path: str | Path, named_only: bool = False, iterations: int = 50, rho: float = 1.0) -> dict:
    """Run progressive hedging on the pack and return the first stage it agrees on.

    ``convthresh`` is negative so that all ``iterations`` run: mpi-sppy's own test compares
    each scenario with the mean first stage and can stop before the first stage is optimal.

    Returns
    -------
    dict
        ``first_stage`` (decision name -> the scenarios' mean value, x-bar), ``expected_value_usd``
        (the probability-weighted objective at the last iterate), ``iterations``, ``convergence``
        (mean distance from x-bar), ``ranks`` (MPI processes used) and this process's ``rank``.
    """
    try:
        from mpisppy import MPI
        from mpisppy.opt.ph import PH
    except ImportError:
        raise CaseError("--method ph", "mpi-sppy is not installed", 'install it with `pip install "hashplan[mpi]"`') from None
    options = {
        "solver_name": SOLVER, "PHIterLimit": iterations, "defaultPHrho": rho, "convthresh": -1.0,
        "verbose": False, "display_progress": False, "display_timing": False,
        "iter0_solver_options": {}, "iterk_solver_options": {},
    }
    names = scenario_names(pack_path, named_only)
    ph = PH(options, names, scenario_creator, scenario_creator_kwargs={"pack_path": str(pack_path), "named_only": named_only})
    convergence, _, _ = ph.ph_main()
    expected = ph.Eobjective()
    local = next(iter(ph.local_scenarios.values()))
    xbars = local._mpisppy_model.xbars
    return {
        "first_stage": {name: pyo.value(xbars[("ROOT", i)]) for i, name in enumerate(local._hashplan_first_stage)},
        "expected_value_usd": expected,
        "iterations": ph._PHIter,
        "convergence": convergence,
        "ranks": MPI.COMM_WORLD.Get_size(),
        "rank": MPI.COMM_WORLD.Get_rank(),
    }
