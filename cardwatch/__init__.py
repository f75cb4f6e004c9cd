"""cardwatch: health and thermals for accelerator fleets of any vendor."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("cardwatch")
except PackageNotFoundError:  # pragma: no cover - only when run from an uninstalled tree
    __version__ = "0+unknown"
