"""shoplake's library: everything the Functions, the CLI and the tests share.

It never imports `azure.functions`; `function_app.py` adapts bindings to these calls.
Its public names are its modules and packages (`__all__`; importing `shared` loads none
of them) and what each package's own `__all__` exports: a caller outside the library
imports `shared.lake` or `shared.warehouse`, never `shared.warehouse.engine`.
"""

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "batch",
    "events",
    "exports",
    "lake",
    "landed",
    "lease",
    "profiles",
    "settings",
    "simulator",
    "storage",
    "synapse",
    "types",
    "warehouse",
]
