"""The Pyomo formulation of hashplan, one module per concern (see ``build.py``)."""
