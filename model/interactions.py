"""Purchase interactions: read from the curated star schema, split in time, made into matrices."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import scipy.sparse as sp

from shared.lake import Lake, Zone
from shared.types import UTC_TIMESTAMP
from shared.warehouse import DuckDBEngine, table_input

PURCHASES_SQL = """
SELECT customer_id, product_id, ordered_at
FROM fact_sales
WHERE customer_id IS NOT NULL AND quantity > 0 AND NOT is_return
"""
"""Interactions are purchases of signed-in customers: guests and returns carry no taste."""


HISTORY_SCHEMA = pa.schema([
    ("customer_id", pa.string()),
    ("item", pa.int32()),
    ("purchases", pa.int32()),
    ("last_purchased_at", UTC_TIMESTAMP),
])
"""`Interactions` as a table: a model version's trained history (`customers.parquet`)."""


class NoPurchasesError(RuntimeError):
    """Nothing to train on; the message says what to run first."""


@dataclass(frozen=True)
class Purchases:
    """Purchase lines: which customer bought which product when (µs since the epoch, UTC)."""

    customer_ids: pa.Array
    product_ids: pa.Array
    at_us: np.ndarray

    @classmethod
    def from_table(cls, table: pa.Table) -> Purchases:
        """From a table with customer_id, product_id and ordered_at (a UTC timestamp)."""
        at = pc.cast(table["ordered_at"].combine_chunks().cast(UTC_TIMESTAMP), pa.int64())
        return cls(pc.cast(table["customer_id"], pa.string()).combine_chunks(),
                   pc.cast(table["product_id"], pa.string()).combine_chunks(),
                   at.to_numpy(zero_copy_only=False))

    def __len__(self) -> int:
        return len(self.at_us)

    @property
    def latest(self) -> datetime:
        return _to_datetime(int(self.at_us.max()))

    @property
    def span(self) -> timedelta:
        return timedelta(microseconds=int(self.at_us.max() - self.at_us.min()))

    def before(self, cutoff: datetime) -> Purchases:
        return self._where(self.at_us < _to_us(cutoff))

    def since(self, cutoff: datetime) -> Purchases:
        return self._where(self.at_us >= _to_us(cutoff))

    def _where(self, mask: np.ndarray) -> Purchases:
        keep = pa.array(mask)
        return Purchases(self.customer_ids.filter(keep), self.product_ids.filter(keep),
                         self.at_us[mask])


def read_purchases(lake: Lake) -> Purchases:
    """Every purchase in curated/fact_sales; a clear error when there are none yet."""
    if not lake.table_exists(Zone.CURATED, "fact_sales"):
        raise NoPurchasesError("curated/fact_sales does not exist yet: land order exports "
                               "and run `shoplake refresh` first")
    with DuckDBEngine() as engine:
        engine.bind("fact_sales", table_input(lake, lake.table(Zone.CURATED, "fact_sales")))
        purchases = Purchases.from_table(engine.table(PURCHASES_SQL))
    if not len(purchases):
        raise NoPurchasesError("curated/fact_sales holds no purchases by signed-in customers")
    return purchases


@dataclass(frozen=True)
class Interactions:
    """Customers x products: purchase lines per pair, and when the pair was last bought.

    Rows are `customers` and columns `products` (both sorted); `counts` and `last_us`
    share one sparsity structure.
    """

    customers: np.ndarray
    products: np.ndarray
    counts: sp.csr_matrix
    last_us: sp.csr_matrix

    @classmethod
    def build(cls, purchases: Purchases, products: np.ndarray | None = None) -> Interactions:
        """Matrices of `purchases`; with `products`, columns are exactly those (others dropped)."""
        customers, rows = _codes(purchases.customer_ids)
        if products is None:
            products, columns = _codes(purchases.product_ids)
            at = purchases.at_us
        else:
            positions = pc.index_in(purchases.product_ids, pa.array(products, pa.string()))
            known = positions.is_valid().to_numpy(zero_copy_only=False)
            columns = positions.fill_null(0).to_numpy(zero_copy_only=False)[known]
            rows, at = rows[known], purchases.at_us[known]
        shape = (len(customers), len(products))
        pairs = rows.astype(np.int64) * len(products) + columns
        order = np.argsort(pairs, kind="stable")
        pairs, at = pairs[order], at[order]
        starts = np.flatnonzero(np.r_[True, pairs[1:] != pairs[:-1]]) if len(pairs) else \
            np.zeros(0, dtype=np.int64)
        unique = pairs[starts]
        counts = np.diff(np.r_[starts, len(pairs)]).astype(np.float32)
        last = np.maximum.reduceat(at, starts) if len(starts) else at[:0]
        row_of, column_of = np.divmod(unique, max(len(products), 1))
        indptr = np.searchsorted(row_of, np.arange(shape[0] + 1))
        return cls(
            customers,
            products,
            sp.csr_matrix((counts, column_of, indptr), shape=shape),
            sp.csr_matrix((last.astype(np.float64), column_of, indptr), shape=shape),
        )

    def to_table(self) -> pa.Table:
        """Each customer's purchases by item position (`HISTORY_SCHEMA`)."""
        counts, last = self.counts.tocoo(), self.last_us.tocoo()
        return pa.table({
            "customer_id": pa.array(self.customers[counts.row], pa.string()),
            "item": pa.array(counts.col.astype(np.int32)),
            "purchases": pa.array(counts.data.astype(np.int32)),
            "last_purchased_at": pa.array(last.data.astype("int64").astype("datetime64[us]"),
                                          UTC_TIMESTAMP),
        }, schema=HISTORY_SCHEMA)

    @classmethod
    def from_table(cls, table: pa.Table, products: np.ndarray) -> Interactions:
        """Back from `to_table`, over the same `products`."""
        customers, rows = _codes(table["customer_id"].combine_chunks())
        columns = table["item"].to_numpy()
        shape = (len(customers), len(products))
        last = pc.cast(table["last_purchased_at"], pa.int64()).to_numpy().astype(np.float64)
        return cls(
            customers,
            products,
            sp.csr_matrix((table["purchases"].to_numpy().astype(np.float32), (rows, columns)),
                          shape),
            sp.csr_matrix((last, (rows, columns)), shape),
        )

    @property
    def binary(self) -> sp.csr_matrix:
        """1 where the customer bought the product at all (what the models learn from)."""
        ones = self.counts.copy()
        ones.data[:] = 1.0
        return ones

    def popularity(self) -> np.ndarray:
        """How many customers bought each product."""
        return np.bincount(self.counts.indices, minlength=len(self.products)).astype(
            np.float32)


def _codes(values: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct values and each value's position among them."""
    encoded = values.dictionary_encode()
    dictionary = np.asarray(encoded.dictionary.to_pylist(), dtype=object)
    order = np.argsort(dictionary.astype(str), kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return dictionary[order], rank[encoded.indices.to_numpy(zero_copy_only=False)]


def _to_us(moment: datetime) -> int:
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


def _to_datetime(microseconds: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=microseconds)
