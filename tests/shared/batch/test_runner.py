"""Recognising uploads and their mappings: only files under raw/batch/<mapping>/ of the lake."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.batch.ingest import upload_file
from shared.batch.mapping import MappingError, load_mapping, load_mapping_text
from shared.batch.runner import Upload, UploadError, mapping_for
from shared.lake import Lake, Zone
from shoplake.services import Services

PRODUCTS_CSV = b"product_id,name,category,price,currency\nP1,Mug,Home,1.50,GBP\n"
MAPPING_TOML = b'dataset = "products"\n[columns]\nproduct_id = "product_id"\n'


def test_an_upload_is_known_by_its_folder(local_lake: Lake) -> None:
    path = local_lake.path(Zone.RAW, "batch", "shop_products", "2026", "products.csv")

    upload = Upload.at(local_lake, path)

    assert (upload.path, upload.mapping, upload.name) == (path, "shop_products",
                                                          "2026/products.csv")


def test_a_path_relative_to_the_lake_is_read_from_the_lake(local_lake: Lake) -> None:
    upload = Upload.at(local_lake, "raw/batch/shop_products/products.csv")

    assert upload.path == local_lake.path(Zone.RAW, "batch", "shop_products", "products.csv")


@pytest.mark.parametrize("relative", [
    "raw/batch/shop_products/../../../../secret.csv",
    "raw/batch/shop_products/../../../secret.csv",
    "raw/batch/../batch/shop_products/products.csv",
    "raw/batch/shop_products/./products.csv",
    "raw/batch/shop_products//products.csv",
    "raw/batch//products.csv",
    "raw/batch/shop_products/products.csv/",
    "raw/batch/../../secret/x.csv",
    "raw/batch/.hidden/products.csv",
    "raw/batch/shop products/products.csv",
    "raw/batch/shop_products/..\\..\\..\\secret.csv",
])
def test_a_path_that_leaves_its_upload_folder_is_refused(local_lake: Lake,
                                                         relative: str) -> None:
    with pytest.raises(UploadError, match="not an upload"):
        Upload.at(local_lake, f"{local_lake.url}/{relative}")
    with pytest.raises(UploadError, match="not an upload"):
        Upload.at(local_lake, relative)


def test_the_blob_trigger_path_reads_nothing_outside_the_lake(services: Services,
                                                              tmp_path: Path) -> None:
    secret = tmp_path / "secret.csv"  # beside the lake folder, not in it
    secret.write_bytes(PRODUCTS_CSV)
    lake = services.lake
    assert Path(lake.url).parent == tmp_path

    for path in (f"{lake.url}/raw/batch/shop_products/../../../../secret.csv",
                 "raw/batch/shop_products/../../../secret.csv"):
        with pytest.raises(UploadError):
            services.process_upload(path)

    assert lake.list_files(lake.path(Zone.RAW)) == []
    assert lake.list_files(lake.path(Zone.STATE)) == []


@pytest.mark.parametrize("name", ["..", ".", "", "../../raw/batch/x/evil", "a/b", ".hidden",
                                  "x.toml", "shop products"])
def test_a_mapping_name_that_is_not_a_plain_name_is_refused(local_lake: Lake,
                                                            name: str) -> None:
    # A mapping uploaded where mapping_for("../../raw/batch/x/evil") would have found it.
    local_lake.write_bytes(local_lake.path(Zone.RAW, "batch", "x", "evil.toml"), MAPPING_TOML)

    with pytest.raises(UploadError, match="mapping name"):
        mapping_for(local_lake, name)


def test_a_lake_mapping_is_found_by_its_name(local_lake: Lake) -> None:
    local_lake.write_bytes(local_lake.path(Zone.STATE, "mappings", "acme-2.toml"), MAPPING_TOML)

    assert mapping_for(local_lake, "acme-2").name == "acme-2"


@pytest.mark.parametrize("file_name", ["...toml", "..toml", ".hidden.toml", "acme orders.toml",
                                       "acme.v2.toml"])
def test_a_mapping_file_whose_name_cannot_name_a_folder_is_refused(tmp_path: Path,
                                                                   file_name: str) -> None:
    path = tmp_path / file_name
    path.write_bytes(MAPPING_TOML)

    with pytest.raises(MappingError, match=r"letters, digits, '_' and '-'"):
        load_mapping(str(path))
    with pytest.raises(MappingError, match=r"letters, digits, '_' and '-'"):
        load_mapping_text(MAPPING_TOML.decode(), f"_state/mappings/{file_name}")


def test_an_upload_never_lands_outside_its_mapping_folder(local_lake: Lake,
                                                          tmp_path: Path) -> None:
    """A mapping file named `...toml` was named `..`: its uploads went to raw/."""
    (tmp_path / "...toml").write_bytes(MAPPING_TOML)
    export = tmp_path / "products.csv"
    export.write_bytes(PRODUCTS_CSV)

    with pytest.raises(MappingError):
        upload_file(local_lake, export, load_mapping(str(tmp_path / "...toml")))

    assert local_lake.list_files(local_lake.path(Zone.RAW)) == []
