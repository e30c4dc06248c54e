"""hashplan: fleet, power and treasury optimisation for Bitcoin mining companies."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("hashplan")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0+unknown"
