"""The nightly orchestration: one pure definition (`nightly`), its Durable and embedded
drivers, thin activities, the per-day starter and the Functions blueprint."""
