"""The nightly orchestration: one pure definition (`nightly`), its Durable and embedded
drivers, thin activities, the per-day starter and the Functions blueprint.

Its public names load on first use, so the pure definition imports nothing else and only
the blueprint's users load `azure.functions`.
"""

from shared.exports import lazy_exports

__all__, __getattr__ = lazy_exports(__name__, {
    "durable.activities": ["NightlyServices"],
    "durable.blueprint": ["nightly_blueprint"],
    "durable.embedded": ["run_nightly"],
    "durable.nightly": ["NightlyInput", "Summary"],
    "durable.starter": ["nightly_input"],
})
