"""The composition of services, as the layers below are handed it."""

from __future__ import annotations

import inspect
from datetime import UTC, datetime

from durable.activities import NightlyServices
from shoplake.services import Services


def test_services_provide_what_the_nightly_activities_use(services: Services) -> None:
    members = {name for name in vars(NightlyServices) if not name.startswith("_")}

    assert members == {"settings", "lake", "synapse", "recommender", "train"}
    for name in members:  # found without opening anything (Synapse would need settings)
        inspect.getattr_static(services, name)
    inspect.signature(services.train).bind(datetime.now(UTC))
