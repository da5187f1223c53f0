"""A simulated shop delivered to a lake the way production data arrives, a day at a time.

Events go through the Event Hubs ingest path in Event Hubs-shaped batches (sequence numbers
continue from day to day on each partition); orders, the catalogue and the customer list
are CSV exports uploaded through the batch path with the shop's own mappings. The demo, the
benchmark and the tests all load data this way, so they exercise what production runs.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from shared.batch.ingest import BatchFileResult, upload_file
from shared.batch.mapping import load_mapping
from shared.events.delivery import eventhub_batches
from shared.events.raw import IngestTotals
from shared.simulator import SimulatedDay, event_stream, write_csv
from shoplake.services import Services


class ShopFeed:
    def __init__(self, services: Services, exports: Path, *, partitions: int = 4,
                 batch_size: int = 1000) -> None:
        self.services = services
        self.exports = Path(exports)
        self.exports.mkdir(parents=True, exist_ok=True)
        self.partitions = partitions
        self.batch_size = batch_size
        self._next_sequence = [0] * partitions

    def events(self, day: SimulatedDay) -> IngestTotals:
        """The day's events, through what the Event Hubs trigger runs."""
        stream = event_stream([day])
        totals = IngestTotals()
        for batch in eventhub_batches(stream.bodies, stream.keys, stream.enqueued_at,
                                      partitions=self.partitions, batch_size=self.batch_size,
                                      next_sequence=self._next_sequence):
            result = self.services.ingest(batch)
            totals.add(result.received, result.landed, result.quarantined, result.reasons)
        return totals

    def orders(self, day: SimulatedDay) -> BatchFileResult:
        """The day's order export, uploaded."""
        return self.upload(day.orders, "shop_orders", f"orders-{day.date.isoformat()}.csv")

    def upload(self, table: pa.Table, mapping: str, file_name: str) -> BatchFileResult:
        """Write `table` as a CSV export and upload it with the named mapping."""
        path = write_csv(table, self.exports / file_name)
        return upload_file(self.services.lake, path, load_mapping(mapping))
