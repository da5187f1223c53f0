"""Mapping files: the built-ins load, and every mistake is one clear line naming the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.batch.mapping import (
    Mapping,
    MappingError,
    builtin_mappings,
    load_mapping,
    load_mapping_text,
)
from shared.landed import Dataset
from shared.settings import ConfigurationError

PRODUCTS = """
dataset = "products"
[columns]
product_id = "sku"
"""


def test_builtin_mappings_are_listed_and_load() -> None:
    assert builtin_mappings() == ["online_retail", "shop_customers", "shop_orders",
                                  "shop_products"]
    datasets = {name: load_mapping(name).dataset for name in builtin_mappings()}
    assert datasets == {"online_retail": Dataset.ORDER_LINES,
                        "shop_customers": Dataset.CUSTOMERS,
                        "shop_orders": Dataset.ORDER_LINES,
                        "shop_products": Dataset.PRODUCTS}


def test_online_retail_mapping() -> None:
    mapping = load_mapping("online_retail")
    assert mapping.name == "online_retail"
    assert mapping.columns["order_id"] == "InvoiceNo"
    assert "line_number" not in mapping.columns
    assert mapping.defaults == {"currency": "GBP"}
    assert mapping.timestamps.formats == ("%m/%d/%y %H:%M",)
    assert mapping.timestamps.timezone == "Europe/London"
    assert mapping.returns is not None
    assert (mapping.returns.column, mapping.returns.prefix) == ("InvoiceNo", "C")
    assert mapping.required_columns() == ["InvoiceNo", "StockCode", "Quantity", "InvoiceDate",
                                          "UnitPrice"]


def test_mapping_file_by_path_is_named_after_the_file(tmp_path: Path) -> None:
    path = tmp_path / "acme_products.toml"
    path.write_text(PRODUCTS)
    mapping = load_mapping(str(path))
    assert (mapping.name, mapping.dataset) == ("acme_products", Dataset.PRODUCTS)


def test_defaults_of_options() -> None:
    mapping = load_mapping_text(PRODUCTS, "p.toml")
    assert (mapping.csv.encoding, mapping.csv.delimiter, mapping.csv.quote,
            mapping.csv.trim) == ("utf-8", ",", '"', True)
    assert (mapping.numbers.decimal_separator, mapping.numbers.thousands_separator) == (".", "")
    assert mapping.timestamps.formats == ("iso8601",)
    assert mapping.timestamps.timezone == "UTC"
    assert mapping.dates.formats == ("iso8601",)
    assert mapping.returns is None
    assert mapping.guests is None


def test_mapping_is_frozen() -> None:
    mapping = load_mapping_text(PRODUCTS, "p.toml")
    with pytest.raises(ValueError, match="frozen"):
        mapping.dataset = Dataset.CUSTOMERS  # type: ignore[misc]
    assert isinstance(mapping, Mapping)


def test_unknown_builtin_name_lists_the_builtins() -> None:
    with pytest.raises(MappingError) as raised:
        load_mapping("acme")
    assert str(raised.value) == (
        "unknown mapping 'acme': the built-in mappings are online_retail, shop_customers, "
        "shop_orders, shop_products; or give the path of a .toml file")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(MappingError, match=r"nothere\.toml: cannot be read"):
        load_mapping(str(tmp_path / "nothere.toml"))


def problem(text: str, source: str = "acme.toml") -> str:
    """The MappingError message for a mapping text; it is always one line."""
    with pytest.raises(MappingError) as raised:
        load_mapping_text(text, source)
    assert isinstance(raised.value, ConfigurationError)
    assert isinstance(raised.value, ValueError)
    message = str(raised.value)
    assert "\n" not in message
    assert message.startswith(f"mapping {source}: ")
    return message.removeprefix(f"mapping {source}: ")


def test_invalid_toml() -> None:
    assert problem('dataset = "products"\n[columns\n').startswith("not valid TOML (")


def test_unknown_top_level_key() -> None:
    assert problem(PRODUCTS.replace("[columns]", "colums = 1\n[columns]")) == (
        "colums: unknown key (allowed: dataset, description, csv, columns, defaults, "
        "numbers, timestamps, dates, returns, guests)")


def test_unknown_nested_key() -> None:
    assert problem(PRODUCTS + '[csv]\nencodng = "latin-1"\n') == (
        "csv.encodng: unknown key (allowed: encoding, delimiter, quote, trim)")


def test_name_is_not_a_key() -> None:
    assert problem('name = "x"\n' + PRODUCTS).startswith("name: unknown key")


def test_unknown_dataset() -> None:
    message = problem('dataset = "orders"\n[columns]\norder_id = "id"\n')
    assert message.startswith("dataset: Input should be 'order_lines', 'customers' or "
                              "'products'")


def test_missing_dataset_and_columns() -> None:
    assert problem("") == "dataset: Field required; columns: Field required"


def test_unmapped_required_field_without_default() -> None:
    text = 'dataset = "order_lines"\n[columns]\norder_id = "a"\nproduct_id = "b"\n' \
           'quantity = "c"\nunit_price = "d"\n'
    assert problem(text) == ("ordered_at is required by order_lines: map it in [columns] "
                             "or give it a value in [defaults]")


def test_required_field_may_have_a_default_instead() -> None:
    mapping = load_mapping_text('dataset = "order_lines"\n[columns]\norder_id = "a"\n'
                                'product_id = "b"\nunit_price = "d"\nordered_at = "e"\n'
                                '[defaults]\nquantity = "1"\n', "d.toml")
    assert "quantity" not in mapping.columns
    assert mapping.required_columns() == ["a", "b", "d", "e"]


def test_column_for_a_field_the_dataset_lacks() -> None:
    assert problem(PRODUCTS + 'price = "p"\n') == (
        "columns.price: products has no field 'price' (fields: product_id, name, category, "
        "unit_price, currency)")


@pytest.mark.parametrize("field", ["is_return", "source_row"])
def test_derived_fields_are_not_columns(field: str) -> None:
    assert problem(PRODUCTS + f'{field} = "x"\n').startswith(f"columns.{field}: set by the reader")


def test_invalid_default_for_a_typed_field() -> None:
    assert problem(PRODUCTS + '[defaults]\nunit_price = "cheap"\n') == (
        "defaults.unit_price: 'cheap' is not a valid decimal128(18, 4) value under this "
        "mapping's formats")


def test_returns_and_guests_are_for_order_lines() -> None:
    assert problem(PRODUCTS + '[guests]\ncustomer_ids = ["0"]\n') == (
        "[guests] applies to order_lines, not products")


@pytest.mark.parametrize(("rule", "message"), [
    ('column = "s"', "returns: give the column either a prefix or values"),
    ('column = "s"\nprefix = "C"\nvalues = ["r"]', "returns: give the column either a prefix "
                                                  "or values"),
    ('prefix = "C"', "returns: prefix and values need a column"),
])
def test_returns_rule_must_be_one_rule(rule: str, message: str) -> None:
    text = ('dataset = "order_lines"\n[columns]\norder_id = "a"\nproduct_id = "b"\n'
            'quantity = "c"\nunit_price = "d"\nordered_at = "e"\n[returns]\n' + rule + "\n")
    assert problem(text) == message


@pytest.mark.parametrize(("section", "message"), [
    ('[csv]\nencoding = "klingon"', "csv.encoding: unknown encoding 'klingon'"),
    ('[csv]\nencoding = "utf-16"', "csv.encoding: encoding 'utf-16' is not ASCII-compatible"),
    ('[csv]\ndelimiter = ";;"', "csv.delimiter: String should have at most 1 character"),
    ('[csv]\ndelimiter = "\\n"', "csv.delimiter: must not be a line break"),
    ('[csv]\ndelimiter = "\\""', "csv: delimiter and quote must differ"),
    ('[numbers]\ndecimal_separator = ","\nthousands_separator = ","',
     "numbers: decimal_separator and thousands_separator must differ"),
    ('[numbers]\nthousands_separator = "_"', "numbers.thousands_separator: Input should be"),
    ('[timestamps]\ntimezone = "Mars/Olympus"', "timestamps.timezone: unknown time zone "
                                                "'Mars/Olympus'"),
    ('[timestamps]\nformats = []', "timestamps.formats: Tuple should have at least 1 item"),
    ('[timestamps]\nformats = ["%Y-%m-%d %H:%M %z"]', "timestamps.formats: '%Y-%m-%d %H:%M %z': "
                                                       "timestamps with a UTC offset need"),
    ('[dates]\nformats = ["yyyy-mm-dd"]', "dates.formats: 'yyyy-mm-dd' is neither 'iso8601' "
                                          "nor a strptime format"),
])
def test_invalid_options(section: str, message: str) -> None:
    assert problem(PRODUCTS + section + "\n").startswith(message)


def test_several_problems_in_one_line() -> None:
    message = problem(PRODUCTS + '[csv]\ntrim = 3\nquote = ""\n')
    assert message == ("csv.quote: String should have at least 1 character; "
                       "csv.trim: Input should be a valid boolean, unable to interpret input")
