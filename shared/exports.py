"""A package's public names, each imported from its module on first use (PEP 562).

For a package whose `__init__` must stay light: importing one of its modules, or the
package, loads nothing else, yet `from package import Name` works and `__all__` lists the
API. (A name must not also be a module's name: importing that module would replace it.)
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from importlib import import_module
from typing import Any


def lazy_exports(package: str, modules: dict[str, list[str]]
                 ) -> tuple[list[str], Callable[[str], Any]]:
    """`__all__` and `__getattr__` for `package`, re-exporting `modules`' names
    ({module: [name, ...]})."""
    outside = [module for module in modules if not module.startswith(f"{package}.")]
    if outside:
        # Loaded by name, these imports are invisible to the import contracts (make lint):
        # only a package's own modules may be re-exported this way.
        raise ValueError(f"{package} may lazily export only its own modules, not "
                         f"{', '.join(outside)}")
    home = {name: module for module, names in modules.items() for name in names}

    def __getattr__(name: str) -> Any:
        if name not in home:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(import_module(home[name]), name)
        setattr(sys.modules[package], name, value)
        return value

    return sorted(home), __getattr__
