"""Typed conversion: each quarantine reason, number and time formats, returns, guests,
and the real exports (the shop simulator's and the UCI Online Retail file)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from shared.batch.mapping import Mapping, load_mapping, load_mapping_text
from shared.batch.reader import read_batch_file
from shared.landed import ROW_QUARANTINE_SCHEMA, SCHEMAS
from shared.simulator import ShopConfig, simulate_shop, write_exports

ONLINE_RETAIL = (Path(__file__).resolve().parents[4] / "shared" / "data" / "online_retail"
                 / "online_retail_raw_first240k.csv.gz")
"""The real UCI export, shared read-only beside the repository (../shared/data)."""

ORDERS = """
dataset = "order_lines"
[columns]
order_id = "order"
product_id = "product"
quantity = "qty"
unit_price = "price"
ordered_at = "at"
customer_id = "customer"
currency = "cur"
"""
HEADER = b"order,product,qty,price,at,customer,cur\n"
GOOD = b"A,p1,2,1.50,2026-09-01T10:00:00Z,c1,EUR\n"


def mapping_of(text: str, extra: str = "") -> Mapping:
    return load_mapping_text(text + extra, "test.toml")


def read(tmp_path: Path, data: bytes, mapping: Mapping | str) -> tuple[pa.Table, pa.Table]:
    """Landed and quarantined rows of `data` written to a file and read with `mapping`."""
    if isinstance(mapping, str):
        mapping = mapping_of(mapping)
    path = tmp_path / "export.csv"
    path.write_bytes(data)
    with path.open("rb") as stream:
        chunks = list(read_batch_file(stream, mapping, name=path.name))
    landed = pa.concat_tables([SCHEMAS[mapping.dataset].empty_table(), *(c.landed for c in chunks)])
    quarantined = pa.concat_tables([ROW_QUARANTINE_SCHEMA.empty_table(),
                                    *(c.quarantined for c in chunks)])
    return landed, quarantined


def quarantine_of(tmp_path: Path, line: bytes, mapping: Mapping | str = ORDERS,
                  header: bytes = HEADER) -> dict[str, object]:
    """The quarantine row of a one-record file (which must not land)."""
    landed, quarantined = read(tmp_path, header + line, mapping)
    assert landed.num_rows == 0
    [row] = quarantined.to_pylist()
    return row


def landed_of(tmp_path: Path, line: bytes, mapping: Mapping | str = ORDERS,
              header: bytes = HEADER) -> dict[str, object]:
    landed, quarantined = read(tmp_path, header + line, mapping)
    assert quarantined.to_pylist() == []
    [row] = landed.to_pylist()
    return row


def test_good_row_lands_with_every_field(tmp_path: Path) -> None:
    assert landed_of(tmp_path, GOOD) == {
        "order_id": "A", "line_number": 1,
        "ordered_at": datetime(2026, 9, 1, 10, tzinfo=UTC), "customer_id": "c1",
        "product_id": "p1", "product_name": None, "quantity": 2,
        "unit_price": Decimal("1.5"), "currency": "EUR", "is_return": False, "country": None,
        "source_row": 2,
    }


def test_quarantine_row_describes_the_problem(tmp_path: Path) -> None:
    line = b"A,p1, 1.5 ,1.50,2026-09-01T10:00:00Z,c1,EUR"
    assert quarantine_of(tmp_path, line + b"\n") == {
        "row_number": 2,
        "reason": "bad_number",
        "field": "quantity",
        "detail": "quantity (column 'qty') is not a whole number: ' 1.5 '",
        "original_line": line.decode(),
        "original": [("order", "A"), ("product", "p1"), ("qty", " 1.5 "), ("price", "1.50"),
                     ("at", "2026-09-01T10:00:00Z"), ("customer", "c1"), ("cur", "EUR")],
    }


@pytest.mark.parametrize(("line", "reason", "field", "detail"), [
    (b",p1,2,1.5,2026-09-01T10:00:00Z,c1,EUR", "missing_value", "order_id",
     "order_id (column 'order') is empty"),
    (b"A,  ,2,1.5,2026-09-01T10:00:00Z,c1,EUR", "missing_value", "product_id",
     "product_id (column 'product') is empty"),
    (b"A,p1,,1.5,2026-09-01T10:00:00Z,c1,EUR", "missing_value", "quantity",
     "quantity (column 'qty') is empty"),
    (b"A,p1,2,,2026-09-01T10:00:00Z,c1,EUR", "missing_value", "unit_price",
     "unit_price (column 'price') is empty"),
    (b"A,p1,2,1.5,,c1,EUR", "missing_value", "ordered_at", "ordered_at (column 'at') is empty"),
    (b"A,p1,two,1.5,2026-09-01T10:00:00Z,c1,EUR", "bad_number", "quantity",
     "quantity (column 'qty') is not a whole number: 'two'"),
    (b"A,p1,99999999999999999999,1.5,2026-09-01T10:00:00Z,c1,EUR", "bad_number", "quantity",
     None),
    (b"A,p1,2,1.23456,2026-09-01T10:00:00Z,c1,EUR", "bad_decimal", "unit_price",
     "unit_price (column 'price') is not a decimal number with at most 14 digits before and "
     "4 after the decimal separator '.': '1.23456'"),
    (b'A,p1,2,"1,50",2026-09-01T10:00:00Z,c1,EUR', "bad_decimal", "unit_price", None),
    (b"A,p1,2,1e3,2026-09-01T10:00:00Z,c1,EUR", "bad_decimal", "unit_price", None),
    (b"A,p1,2,\xc2\xa31.50,2026-09-01T10:00:00Z,c1,EUR", "bad_decimal", "unit_price", None),
    (b"A,p1,2,123456789012345,2026-09-01T10:00:00Z,c1,EUR", "bad_decimal", "unit_price", None),
    (b"A,p1,2,1.5,yesterday,c1,EUR", "bad_timestamp", "ordered_at",
     "ordered_at (column 'at') matches none of the timestamp formats iso8601 as a real time "
     "in UTC: 'yesterday'"),
    (b"A,p1,2,1.5,2026-02-30T10:00:00Z,c1,EUR", "bad_timestamp", "ordered_at", None),
    (b"A,p1,2,1.5,2026-09-01T24:00:00Z,c1,EUR", "bad_timestamp", "ordered_at", None),
    (b"A,p1,2,1.5,2026-09-01,c1,EUR", "bad_timestamp", "ordered_at", None),
    (b"A,p1,2,1.5,0001-01-01T00:00:00Z,c1,EUR", "implausible_timestamp", "ordered_at",
     "ordered_at (column 'at') is not a plausible time (from 1970-01-01, before 2200-01-01): "
     "'0001-01-01T00:00:00Z'"),
    (b"A,p1,2,1.5,9999-12-31T23:59:59Z,c1,EUR", "implausible_timestamp", "ordered_at", None),
    (b"A,p1,2,1.5,1969-12-31T23:59:59Z,c1,EUR", "implausible_timestamp", "ordered_at", None),
])
def test_each_reason(tmp_path: Path, line: bytes, reason: str, field: str,
                     detail: str | None) -> None:
    row = quarantine_of(tmp_path, line + b"\n")
    assert (row["reason"], row["field"]) == (reason, field)
    if detail is not None:
        assert row["detail"] == detail


def test_the_plausible_times_land(tmp_path: Path) -> None:
    for moment in (b"1970-01-01T00:00:00Z", b"2199-12-31T23:59:59Z"):
        assert landed_of(tmp_path, b"A,p1,2,1.5," + moment + b",c1,EUR\n")["order_id"] == "A"


def test_bad_date(tmp_path: Path) -> None:
    mapping = 'dataset = "customers"\n[columns]\ncustomer_id = "id"\nsignup_date = "since"\n'
    row = quarantine_of(tmp_path, b"c1,2026-02-30\n", mapping, b"id,since\n")
    assert (row["reason"], row["field"]) == ("bad_date", "signup_date")
    assert row["detail"] == ("signup_date (column 'since') matches none of the date formats "
                             "iso8601: '2026-02-30'")
    assert landed_of(tmp_path, b"c1,2024-02-29\n", mapping, b"id,since\n")["signup_date"] == \
        date(2024, 2, 29)


def test_customers_need_a_customer_id(tmp_path: Path) -> None:
    mapping = 'dataset = "customers"\n[columns]\ncustomer_id = "id"\nname = "name"\n'
    row = quarantine_of(tmp_path, b" ,Ann\n", mapping, b"id,name\n")
    assert (row["reason"], row["field"]) == ("missing_value", "customer_id")


@pytest.mark.parametrize(("line", "reason", "field"), [
    (b",,x,y,z,c1,EUR", "missing_value", "order_id"),  # missing before any bad value
    (b"A,p1,x,y,z,c1,EUR", "bad_number", "quantity"),  # then numbers, decimals, times
    (b"A,p1,1,y,z,c1,EUR", "bad_decimal", "unit_price"),
    (b"A,p1,,y,z,c1,EUR", "missing_value", "quantity"),
    (b"A,p\xff,x,y,,c1,EUR", "bad_encoding", None),  # encoding before any field
    (b"A,p\xff,x,y,z,c1", "wrong_column_count", None),  # and the field count first
])
def test_first_failing_check_wins(tmp_path: Path, line: bytes, reason: str,
                                  field: str | None) -> None:
    row = quarantine_of(tmp_path, line + b"\n")
    assert (row["reason"], row["field"]) == (reason, field)


@pytest.mark.parametrize(("text", "expected"), [
    ("1.50", "1.5"), ("19.0", "19"), ("0.001", "0.001"), (".5", "0.5"), ("5.", "5"),
    ("+3.25", "3.25"), ("-3.25", "-3.25"), ("1.23450000", "1.2345"), ("007.1", "7.1"),
    ("99999999999999.9999", "99999999999999.9999"), ("0", "0"),
])
def test_prices_are_exact(tmp_path: Path, text: str, expected: str) -> None:
    line = f"A,p1,2,{text},2026-09-01T10:00:00Z,c1,EUR\n".encode()
    assert landed_of(tmp_path, line)["unit_price"] == Decimal(expected)


@pytest.mark.parametrize(("text", "expected"), [("6", 6), ("6.0", 6), ("-3", -3), ("+4", 4),
                                                ("007", 7), (" 12 ", 12)])
def test_whole_numbers(tmp_path: Path, text: str, expected: int) -> None:
    line = f"A,p1,{text},1,2026-09-01T10:00:00Z,c1,EUR\n".encode()
    assert landed_of(tmp_path, line)["quantity"] == expected


COMMA_DECIMALS = ORDERS + """
[csv]
delimiter = ";"
[numbers]
decimal_separator = ","
thousands_separator = "."
"""


@pytest.mark.parametrize(("qty", "price", "expected"), [
    ("2", "1.234,50", ("2", "1234.5")),
    ("1.000", "12,5", ("1000", "12.5")),
    ("2", "1.234.567,1234", ("2", "1234567.1234")),
    ("2", "0,99", ("2", "0.99")),
    ("2", "1.5", None),  # grouping must be in threes
    ("2", "12.34,5", None),
    ("2", "1,2,3", None),
])
def test_decimal_comma_with_thousands_separator(tmp_path: Path, qty: str, price: str,
                                                expected: tuple[str, str] | None) -> None:
    header = b"order;product;qty;price;at;customer;cur\n"
    line = f"A;p1;{qty};{price};2026-09-01T10:00:00Z;c1;EUR\n".encode()
    landed, quarantined = read(tmp_path, header + line, COMMA_DECIMALS)
    if expected is None:
        assert quarantined["reason"].to_pylist() == ["bad_decimal"]
    else:
        row = landed.to_pylist()[0]
        assert (row["quantity"], row["unit_price"]) == (int(expected[0]), Decimal(expected[1]))


def test_thousands_comma_with_decimal_point(tmp_path: Path) -> None:
    mapping = ORDERS + '[numbers]\nthousands_separator = ","\n'
    row = landed_of(tmp_path, b'A,p1,"1,200","1,234.5",2026-09-01T10:00:00Z,c1,EUR\n', mapping)
    assert (row["quantity"], row["unit_price"]) == (1200, Decimal("1234.5"))


@pytest.mark.parametrize(("text", "expected"), [
    ("2026-09-01T19:28:48.385Z", datetime(2026, 9, 1, 19, 28, 48, 385000, tzinfo=UTC)),
    ("2026-09-01 19:28:48", datetime(2026, 9, 1, 19, 28, 48, tzinfo=UTC)),
    ("2026-09-01T19:28", datetime(2026, 9, 1, 19, 28, tzinfo=UTC)),
    ("2026-09-01t19:28:48.1234567z", datetime(2026, 9, 1, 19, 28, 48, 123456, tzinfo=UTC)),
    ("2026-09-01T21:28:48+02:00", datetime(2026, 9, 1, 19, 28, 48, tzinfo=UTC)),
    ("2026-09-01T18:28:48-0100", datetime(2026, 9, 1, 19, 28, 48, tzinfo=UTC)),
])
def test_iso8601_timestamps(tmp_path: Path, text: str, expected: datetime) -> None:
    line = f"A,p1,2,1,{text},c1,EUR\n".encode()
    assert landed_of(tmp_path, line)["ordered_at"] == expected


LONDON = ORDERS + """
[timestamps]
formats = ["%m/%d/%y %H:%M", "iso8601"]
timezone = "Europe/London"
"""


@pytest.mark.parametrize(("text", "expected"), [
    ("12/1/10 8:26", datetime(2010, 12, 1, 8, 26, tzinfo=UTC)),  # GMT: no padding needed
    ("12/01/10 08:26", datetime(2010, 12, 1, 8, 26, tzinfo=UTC)),
    ("6/26/11 10:59", datetime(2011, 6, 26, 9, 59, tzinfo=UTC)),  # BST is UTC+1
    ("10/30/11 1:30", datetime(2011, 10, 30, 0, 30, tzinfo=UTC)),  # twice: the first one
    ("2011-06-26 10:59", datetime(2011, 6, 26, 9, 59, tzinfo=UTC)),  # the second format
    ("2011-06-26T10:59:00Z", datetime(2011, 6, 26, 10, 59, tzinfo=UTC)),  # offset wins
])
def test_local_timestamp_formats(tmp_path: Path, text: str, expected: datetime) -> None:
    line = f"A,p1,2,1,{text},c1,EUR\n".encode()
    assert landed_of(tmp_path, line, LONDON)["ordered_at"] == expected


@pytest.mark.parametrize("text", ["2/30/11 10:00", "3/27/11 1:30", "13/1/10 8:26",
                                  "12/1/2010 8:26", "12/1/10"])
def test_impossible_local_timestamps(tmp_path: Path, text: str) -> None:
    """Feb 30 is not rolled over into March; 1:30 on 27 March 2011 never happened in London."""
    row = quarantine_of(tmp_path, f"A,p1,2,1,{text},c1,EUR\n".encode(), LONDON)
    assert row["reason"] == "bad_timestamp"
    assert row["detail"] == (f"ordered_at (column 'at') matches none of the timestamp formats "
                             f"%m/%d/%y %H:%M, iso8601 as a real time in Europe/London: {text!r}")


def test_returns_by_prefix(tmp_path: Path) -> None:
    mapping = ORDERS + '[returns]\ncolumn = "order"\nprefix = "C"\n'
    data = HEADER + GOOD + b"C9,p1,-2,1.5,2026-09-01T10:00:00Z,c1,EUR\n" \
                         + b"B,p1,-1,1.5,2026-09-01T10:00:00Z,c1,EUR\n"
    landed, _ = read(tmp_path, data, mapping)
    assert landed["is_return"].to_pylist() == [False, True, False]


def test_returns_by_values_of_a_column_not_otherwise_mapped(tmp_path: Path) -> None:
    mapping = ORDERS + '[returns]\ncolumn = "status"\nvalues = ["return", "refund"]\n'
    header = HEADER.rstrip(b"\n") + b",status\n"
    lines = [GOOD.rstrip(b"\n") + suffix + b"\n" for suffix in (b",sale", b", return", b",refund",
                                                                  b",")]
    landed, _ = read(tmp_path, header + b"".join(lines), mapping)
    assert landed["is_return"].to_pylist() == [False, True, True, False]


def test_returns_by_negative_quantity_by_default(tmp_path: Path) -> None:
    data = HEADER + GOOD + b"B,p1,-1,1.5,2026-09-01T10:00:00Z,c1,EUR\n"
    landed, _ = read(tmp_path, data, ORDERS)
    assert landed["is_return"].to_pylist() == [False, True]


def test_guests_are_null_customers(tmp_path: Path) -> None:
    mapping = ORDERS + '[guests]\ncustomer_ids = ["0", "GUEST"]\n'
    lines = [GOOD.replace(b"c1", value) for value in (b"", b" ", b"0", b"GUEST", b"00", b"c2")]
    landed, _ = read(tmp_path, HEADER + b"".join(lines), mapping)
    assert landed["customer_id"].to_pylist() == [None, None, None, None, "00", "c2"]


def test_defaults_fill_empty_and_absent_columns(tmp_path: Path) -> None:
    mapping = ORDERS + '[defaults]\ncurrency = "GBP"\ncountry = "United Kingdom"\n'
    data = HEADER + GOOD + GOOD.replace(b"EUR", b"")
    landed, _ = read(tmp_path, data, mapping)
    assert landed["currency"].to_pylist() == ["EUR", "GBP"]
    assert landed["country"].to_pylist() == ["United Kingdom"] * 2


def test_text_is_trimmed_unless_the_mapping_says_not(tmp_path: Path) -> None:
    line = b" A ,p1,2,1,2026-09-01T10:00:00Z, c1 ,EUR\n"
    assert landed_of(tmp_path, line)["customer_id"] == "c1"
    kept = landed_of(tmp_path, line, ORDERS + "[csv]\ntrim = false\n")
    assert (kept["order_id"], kept["customer_id"]) == (" A ", " c1 ")


def test_line_number_column(tmp_path: Path) -> None:
    mapping = ORDERS + 'line_number = "line"\n'
    header = HEADER.rstrip(b"\n") + b",line\n"
    data = header + GOOD.rstrip(b"\n") + b",7\n" + GOOD.rstrip(b"\n") + b",2147483648\n"
    landed, quarantined = read(tmp_path, data, mapping)
    assert landed["line_number"].to_pylist() == [7]
    assert quarantined.select(["reason", "field"]).to_pylist() == [
        {"reason": "bad_number", "field": "line_number"}]


def test_line_positions_count_every_line_of_the_order(tmp_path: Path) -> None:
    """A quarantined line keeps its place: the lines after it keep their numbers."""
    data = HEADER + GOOD + GOOD.replace(b",2,", b",x,") + GOOD + GOOD.replace(b"A,", b"B,")
    landed, _ = read(tmp_path, data, ORDERS)
    assert landed.select(["order_id", "line_number"]).to_pylist() == [
        {"order_id": "A", "line_number": 1}, {"order_id": "A", "line_number": 3},
        {"order_id": "B", "line_number": 1}]


def read_export(path: Path, mapping: str) -> tuple[pa.Table, pa.Table]:
    with path.open("rb") as stream:
        chunks = list(read_batch_file(stream, load_mapping(mapping), name=path.name,
                                      chunk_rows=50))
    return (pa.concat_tables(c.landed for c in chunks),
            pa.concat_tables(c.quarantined for c in chunks))


@pytest.fixture(scope="module")
def shop_exports(tmp_path_factory: pytest.TempPathFactory):
    config = ShopConfig(days=3, products=60, customers=200, sessions_per_day=80,
                        return_rate=0.5, guest_share=0.6)
    shop = simulate_shop(config)
    return shop, write_exports(shop, tmp_path_factory.mktemp("exports"))


def test_simulator_orders_round_trip(shop_exports) -> None:
    shop, files = shop_exports
    landed, quarantined = read_export(files.orders, "shop_orders")
    assert quarantined.num_rows == 0
    orders = pa.concat_tables(day.orders for day in shop.days())
    assert landed.num_rows == orders.num_rows == files.orders_rows
    assert landed["customer_id"].null_count > 0  # guests
    assert pc.any(landed["is_return"]).as_py()
    for name in ("order_id", "line_number", "ordered_at", "customer_id", "product_id",
                 "quantity", "currency"):
        assert landed[name].to_pylist() == orders[name].to_pylist(), name
    assert landed["unit_price"].to_pylist() == [Decimal(str(p)) for p in
                                                orders["unit_price"].to_pylist()]
    assert landed["is_return"].to_pylist() == [s == "return" for s in
                                               orders["status"].to_pylist()]
    assert landed["source_row"].to_pylist() == list(range(2, orders.num_rows + 2))


def test_simulator_customers_round_trip(shop_exports) -> None:
    shop, files = shop_exports
    landed, quarantined = read_export(files.customers, "shop_customers")
    assert quarantined.num_rows == 0
    customers = shop.customers
    for name in ("customer_id", "name", "email", "segment", "country", "signup_date"):
        assert landed[name].to_pylist() == customers[name].to_pylist(), name
    millis = customers["updated_at"].cast(pa.timestamp("ms", tz="UTC"), safe=False)
    assert landed["updated_at"].to_pylist() == millis.cast(pa.timestamp("us", tz="UTC")).to_pylist()


def test_simulator_products_round_trip(shop_exports) -> None:
    shop, files = shop_exports
    landed, quarantined = read_export(files.products, "shop_products")
    assert quarantined.num_rows == 0
    products = shop.products
    for name in ("product_id", "name", "category", "currency"):
        assert landed[name].to_pylist() == products[name].to_pylist(), name
    assert landed["unit_price"].to_pylist() == [Decimal(str(p)) for p in
                                                products["price"].to_pylist()]


def revenue(quantities: list[int], prices: list[Decimal]) -> Decimal:
    return sum((Decimal(q) * p for q, p in zip(quantities, prices, strict=True)), Decimal(0))


@pytest.mark.skipif(not ONLINE_RETAIL.exists(), reason="needs ../shared/data")
def test_online_retail_export_reconciles() -> None:
    """The real UCI export lands through its mapping and matches the reference figures."""
    with ONLINE_RETAIL.open("rb") as stream:
        chunks = list(read_batch_file(stream, load_mapping("online_retail"),
                                      name=ONLINE_RETAIL.name))
    landed = pa.concat_tables(c.landed for c in chunks)
    quarantined = pa.concat_tables(c.quarantined for c in chunks)
    assert landed.num_rows + quarantined.num_rows == 240_007
    # Σ quantity * price over every row; the reference 4,275,143.93 is this, to the cent.
    total = revenue(landed["quantity"].to_pylist(), landed["unit_price"].to_pylist())
    for original in quarantined["original"].to_pylist():
        values = dict(original or [])
        total += Decimal(values["Quantity"]) * Decimal(values["UnitPrice"])
    assert total == Decimal("4275143.931")
    assert total.quantize(Decimal("0.01")) == Decimal("4275143.93")

    sales = landed.filter(pc.and_(pc.and_(pc.is_valid(landed["customer_id"]),
                                          pc.greater(landed["quantity"], 0)),
                                  pc.invert(landed["is_return"])))
    assert sales.num_rows == 168_675
    assert [len(pc.unique(sales[name])) for name in ("order_id", "customer_id",
                                                     "product_id")] == [8_590, 2_931, 3_264]
    sales_total = revenue(sales["quantity"].to_pylist(), sales["unit_price"].to_pylist())
    assert sales_total.quantize(Decimal("0.01")) == Decimal("3888971.74")

    assert pc.sum(landed["is_return"]).as_py() == 4_350
    assert landed["customer_id"].null_count == 67_225
    assert "17850" in landed["customer_id"].to_pylist()
    keys = pc.binary_join_element_wise(landed["order_id"],
                                       landed["line_number"].cast(pa.string()), "#")
    assert len(pc.unique(keys)) == landed.num_rows
