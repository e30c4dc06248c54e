"""Case input: schema, loading and validation."""

from optimizer.case.errors import CaseError
from optimizer.case.load import load_case, parse_spec, prepare_case
from optimizer.case.model import Case, MachineClass, NetworkPath, TimeGrid
from optimizer.case.schema import CaseSpec

__all__ = ["Case", "CaseError", "CaseSpec", "MachineClass", "NetworkPath", "TimeGrid", "load_case", "parse_spec", "prepare_case"]
