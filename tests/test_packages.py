"""Each package's public names (its `__all__`) exist, those loaded on first use included:
a module renamed or a name moved fails here, not in the first caller."""

from __future__ import annotations

import importlib

import pytest

PACKAGES = ["shared", "shared.batch", "shared.events", "shared.simulator", "shared.warehouse",
            "model", "durable", "shoplake", "shoplake.api"]


@pytest.mark.parametrize("name", PACKAGES)
def test_every_public_name_of_a_package_resolves(name: str) -> None:
    package = importlib.import_module(name)
    namespace: dict[str, object] = {}

    exec(f"from {name} import *", namespace)  # imports what __all__ lists, modules included

    assert sorted(set(package.__all__) - set(namespace)) == []


def test_a_package_cannot_lazily_export_another_packages_module() -> None:
    """Names loaded on first use are imports the layer contracts cannot see."""
    from shared.exports import lazy_exports

    with pytest.raises(ValueError, match=r"shoplake\.cli"):
        lazy_exports("shared.batch", {"shared.batch.ingest": ["upload_file"],
                                      "shoplake.cli": ["app"]})
