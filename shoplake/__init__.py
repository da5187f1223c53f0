"""shoplake's entry layer: the CLI, the HTTP API, the demo and the composition of services.

Its public names load on first use, so the command line starts without the services.
"""

from shared.exports import lazy_exports

__all__, __getattr__ = lazy_exports(__name__, {
    "shoplake.cli": ["main"],
    "shoplake.feed": ["ShopFeed"],
    "shoplake.services": ["Services", "current_services"],
})
