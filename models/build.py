"""Assemble the hashplan model from its blocks."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyomo.environ as pyo
from pyomo.common.collections import ComponentMap
from pyomo.common.gc_manager import PauseGC

from models.fleet import add_fleet, add_renewal, add_switching
from models.hosting import add_hosting
from models.objective import add_objective
from models.power import add_demand_response, add_four_cp, add_power
from models.time import add_time
from models.treasury import add_treasury
from optimizer.case import Case
from optimizer.case.load import coarsened, price_blocked


def build_model(case: Case) -> pyo.ConcreteModel:
    """The Pyomo model of a case: one block per concern, then the objective.

    Python's cyclic garbage collector is paused meanwhile: the build allocates millions of
    objects and none of them are garbage, yet each collection walks them all (with it running,
    a year of 3 sites x 12 models took 17.8 s to build instead of 9.9 s).
    """
    with PauseGC():
        model = pyo.ConcreteModel(name=case.name)
        add_time(model, case)
        add_fleet(model, case)
        add_renewal(model, case)
        add_hosting(model, case)
        add_power(model, case)
        add_four_cp(model, case)
        add_demand_response(model, case)
        add_switching(model, case)
        add_treasury(model, case)
        add_objective(model, case)
    return model


def build_screening_model(case: Case) -> pyo.ConcreteModel | None:
    """The model of the case on ``solver.screening_resolution``'s clock, if asked for and the case
    has integer monthly decisions (HPC halls) for it to choose; else None."""
    resolution = case.spec.solver.screening_resolution
    if resolution is None or not case.spec.hpc:
        return None
    return build_model(coarsened(case, resolution))


PERIOD_ROWS = ("fleet.machines_within_installed", "renewal.machines_within_installed_fleet", "power.site_load_within_interconnect")
"""Constraints indexed (site, ..., period): the only rows of a price-blockable model that differ by clock."""


@dataclass(frozen=True)
class PriceBlocks:
    """The case's model on its price-block clock (``solver.price_blocks_per_day``), and the map back to the hours.

    Attributes
    ----------
    model : pyomo.environ.ConcreteModel
        The model built on the blocked case (see :func:`optimizer.case.load.price_blocked`).
    case : Case
        The hourly case.
    position : dict of str to numpy.ndarray
        Per site, the blocked period holding each hourly period [-].
    """

    model: pyo.ConcreteModel
    case: Case
    position: dict[str, np.ndarray]

    def write_out(self, hourly: pyo.ConcreteModel) -> None:
        """Load the blocked plan into the hourly model: every hour of a site's block runs the block's machines.

        ``fleet.running`` is the model's only per-period variable (the case checks refuse the
        features that add others); every other variable has the same name on both clocks.
        """
        blocked = self.model
        # component by component: a variable's own name walks its parents, 0.6 s over the 3-site x 12-model year
        for component in hourly.component_objects(pyo.Var, descend_into=True):
            if component is not hourly.fleet.running:
                source = blocked.find_component(component.name)
                for index, var in component.items():
                    var.set_value(source[index].value, skip_validation=True)
        source = blocked.fleet.running_array
        for k, machine_class in enumerate(self.case.machine_classes):
            values = [var.value for var in source[k]]
            for var, t in zip(hourly.fleet.running_array[k].tolist(), self.position[machine_class.site].tolist()):
                var.set_value(values[t], skip_validation=True)

    def refined(self, hourly: pyo.ConcreteModel) -> PriceBlocks:
        """The blocks re-cut so that no block merges hours in which ``hourly``'s loaded plan runs different machines at a site.

        Given a relaxation's hourly dispatch (the site LPs of the solver's bound), the blocked
        model rebuilt on these blocks can run exactly that dispatch.
        """
        classes = self.case.machine_classes
        running = hourly.fleet.running_array
        apart = {
            site: np.array([[var.value for var in running[k]] for k, c in enumerate(classes) if c.site == site], dtype=float).reshape(-1, running.shape[1])
            for site in self.position
        }
        blocked, position = price_blocked(self.case, self.case.spec.solver.price_blocks_per_day, apart)
        return PriceBlocks(build_model(blocked), self.case, position)

    def hourly_duals(self, duals: ComponentMap, hourly: pyo.ConcreteModel) -> ComponentMap:
        """The blocked plan's duals on the hourly model's constraints.

        Daily and monthly rows have the same names on both clocks. A period row's dual (the
        value of one more unit in every hour of its block) is shared over the block's hours in
        proportion to their length, so its sum over the hours, which reports show, is kept.
        """
        blocked = self.model
        hours = self.case.grid.hours
        block_hours = {site: np.bincount(where, weights=hours) for site, where in self.position.items()}
        # by id: ComponentMap.get costs three calls a row
        dual_of = {id(constraint): dual for constraint, dual in duals.items()}
        mapped = ComponentMap()
        # component by component: a row's own name walks its parents, 2.6 s over the rows of the 3-site x 12-model year
        for component in hourly.component_objects(pyo.Constraint, active=True, descend_into=True):
            name = component.name
            source = blocked.find_component(name)
            if source is None:
                continue
            for index, constraint in component.items():
                if not constraint.active:
                    continue
                if name in PERIOD_ROWS:
                    *key, t = index
                    site = key[0]
                    t_blocked = int(self.position[site][t])
                    dual = dual_of.get(id(source[(*key, t_blocked)]))
                    share = hours[t] / block_hours[site][t_blocked]
                else:
                    dual, share = dual_of.get(id(source[index])) if index in source else None, 1.0
                if dual is not None:
                    mapped[constraint] = dual * share
        return mapped


def build_price_blocked(case: Case) -> PriceBlocks | None:
    """The model of the case on its price blocks, if ``solver.price_blocks_per_day`` asks for them; else None."""
    blocks_per_day = case.spec.solver.price_blocks_per_day
    if blocks_per_day is None:
        return None
    blocked, position = price_blocked(case, blocks_per_day)
    return PriceBlocks(build_model(blocked), case, position)
