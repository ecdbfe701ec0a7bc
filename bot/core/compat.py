"""`pkg_resources` for twitter-text-parser, when setuptools is not installed.

twitter-text-parser (3.0.0) reads its emoji table with `pkg_resources.resource_string` but does not
declare setuptools, which a lean runtime (the Docker image) does not ship and newer setuptools no
longer provides. This registers a module with that one function, read through importlib.resources,
only when no real `pkg_resources` can be imported. Import it before `twitter_text`.
"""

from __future__ import annotations

import importlib.resources
import importlib.util
import sys
import types


def resource_string(package_or_requirement: str, resource_name: str) -> bytes:
    """`pkg_resources.resource_string` for a module name: the bytes of a file beside that module."""
    module = sys.modules.get(package_or_requirement)
    package = package_or_requirement
    if module is not None and not hasattr(module, "__path__"):
        package = module.__package__ or package_or_requirement.rpartition(".")[0]
    elif module is None and importlib.util.find_spec(package_or_requirement) is not None:
        spec = importlib.util.find_spec(package_or_requirement)
        if spec is not None and spec.submodule_search_locations is None:
            package = package_or_requirement.rpartition(".")[0]
    return importlib.resources.files(package).joinpath(resource_name).read_bytes()


def install_pkg_resources_shim() -> bool:
    """Register the shim when `pkg_resources` cannot be imported; True when it was registered."""
    if "pkg_resources" in sys.modules:
        return False
    try:
        if importlib.util.find_spec("pkg_resources") is not None:
            return False
    except (ImportError, ValueError):
        pass
    shim = types.ModuleType("pkg_resources", "textwire's stand-in: resource_string only")
    shim.resource_string = resource_string  # type: ignore[attr-defined]
    sys.modules["pkg_resources"] = shim
    return True


install_pkg_resources_shim()

__all__ = ["install_pkg_resources_shim", "resource_string"]
