"""Source mappings: how one export's CSV becomes a canonical dataset, declared in TOML.

An export is described once, in a mapping file, instead of in code: onboarding a new
retailer's export is writing a mapping, not a loader. Built-in mappings live in
`shared/batch/mappings/`; any other mapping file can be given by path. `docs/batch-mappings.md`
documents the format.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, Self, get_args

import pyarrow as pa
from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from shared.batch.options import (
    CsvOptions,
    DateOptions,
    NumberOptions,
    Section,
    TimestampOptions,
    parse_values,
)
from shared.landed import REQUIRED_FIELDS, SCHEMAS, Dataset
from shared.settings import ConfigurationError

BUILTIN_DIR = Path(__file__).with_name("mappings")
DERIVED_FIELDS = frozenset({"source_row", "is_return"})
"""Canonical fields that never come from a column: the reader and [returns] set them."""

# A mapping's name becomes the upload folder raw/batch/<name>/ and the lake's mapping file
# _state/mappings/<name>.toml: it must stay one plain path segment ("..", "a/b" must not).
_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
NAME_RULE = "1 to 64 letters, digits, '_' and '-'"


def is_mapping_name(name: str) -> bool:
    """Whether `name` may name a mapping (and so a folder and a file in the lake)."""
    return _NAME.fullmatch(name) is not None


class MappingError(ConfigurationError):
    """A mapping is unusable; the one-line message names the file and the problem."""


class ReturnsRule(Section):
    """Which order lines are returns: a column's prefix or values, else a negative quantity."""

    column: str | None = Field(None, min_length=1)
    prefix: str | None = Field(None, min_length=1)
    values: tuple[str, ...] | None = Field(None, min_length=1)

    @model_validator(mode="after")
    def _one_rule(self) -> Self:
        if self.column is None and (self.prefix, self.values) != (None, None):
            raise ValueError("prefix and values need a column")
        if self.column is not None and (self.prefix is None) == (self.values is None):
            raise ValueError("give the column either a prefix or values")
        return self


class GuestRule(Section):
    customer_ids: tuple[str, ...] = ()
    """Placeholder customer ids that mean a guest, as an empty one does (e.g. "0")."""


class Mapping(Section):
    """One export's mapping to a canonical dataset; `name` is the file's name without .toml."""

    name: str
    dataset: Dataset
    description: str = ""
    csv: CsvOptions = CsvOptions()
    columns: dict[str, Annotated[str, Field(min_length=1)]]
    """Canonical field -> the source column holding it."""
    defaults: dict[str, str] = Field(default_factory=dict)
    """Canonical field -> the value used when its column is absent, unmapped or empty."""
    numbers: NumberOptions = NumberOptions()
    timestamps: TimestampOptions = TimestampOptions()
    dates: DateOptions = DateOptions()
    returns: ReturnsRule | None = None
    """order_lines only; None means a line is a return when its quantity is negative."""
    guests: GuestRule | None = None
    """order_lines only; an empty customer id always means a guest."""

    @field_validator("name")
    @classmethod
    def _usable_name(cls, value: str) -> str:
        if not is_mapping_name(value):
            raise ValueError(f"{value!r} cannot name a mapping: a mapping is named after its "
                             f"file, which must be {NAME_RULE} (plus .toml)")
        return value

    @model_validator(mode="after")
    def _fits_dataset(self) -> Self:
        schema = SCHEMAS[self.dataset]
        fields = [f.name for f in schema if f.name not in DERIVED_FIELDS]
        for section in ("columns", "defaults"):
            for key in getattr(self, section):
                if key in DERIVED_FIELDS:
                    raise ValueError(f"{section}.{key}: set by the reader or [returns], "
                                     "not by a column")
                if key not in fields:
                    raise ValueError(f"{section}.{key}: {self.dataset} has no field {key!r} "
                                     f"(fields: {', '.join(fields)})")
        for field in fields:
            if field in REQUIRED_FIELDS[self.dataset] - {"line_number"} and \
                    field not in self.columns and field not in self.defaults:
                raise ValueError(f"{field} is required by {self.dataset}: map it in [columns] "
                                 "or give it a value in [defaults]")
        if self.dataset != Dataset.ORDER_LINES:
            for section in ("returns", "guests"):
                if getattr(self, section) is not None:
                    raise ValueError(f"[{section}] applies to order_lines, not {self.dataset}")
        for field, value in self.defaults.items():
            type_ = schema.field(field).type
            if not value.strip():
                raise ValueError(f"defaults.{field}: a default cannot be blank")
            if parse_values(pa.array([value.strip()]), type_, self).null_count:
                raise ValueError(f"defaults.{field}: {value!r} is not a valid {type_} value "
                                 "under this mapping's formats")
        return self

    def required_columns(self) -> list[str]:
        """Source columns a file must have: those of required fields without a default,
        and the returns column; mapped optional fields may be absent (they become null)."""
        required = REQUIRED_FIELDS[self.dataset]
        names = [column for field, column in self.columns.items()
                 if field in required and field not in self.defaults]
        if self.returns is not None and self.returns.column is not None:
            names.append(self.returns.column)
        return list(dict.fromkeys(names))


def builtin_mappings() -> list[str]:
    """Names of the mappings shipped with the project (`load_mapping` accepts them)."""
    return sorted(path.stem for path in BUILTIN_DIR.glob("*.toml"))


def load_mapping(name_or_path: str) -> Mapping:
    """A built-in mapping by name, or a mapping file by path (anything ending in .toml)."""
    path = _locate(name_or_path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise MappingError(f"mapping {path}: cannot be read ({error.strerror})") from None
    except UnicodeDecodeError as error:
        raise MappingError(f"mapping {path}: not UTF-8 text ({error})") from None
    return load_mapping_text(text, str(path))


def load_mapping_text(text: str, source: str) -> Mapping:
    """A mapping from TOML text; `source` (its path or blob name) gives the mapping's name,
    the file name without .toml, and is named in error messages."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise MappingError(f"mapping {source}: not valid TOML ({error})") from None
    if "name" in data:
        raise MappingError(f"mapping {source}: name: unknown key (a mapping is named after "
                           "its file)")
    try:
        return Mapping.model_validate({**data, "name": Path(source).stem})
    except ValidationError as error:
        raise MappingError(f"mapping {source}: {_describe(error)}") from None


def _locate(name_or_path: str) -> Path:
    if name_or_path.endswith(".toml") or "/" in name_or_path or "\\" in name_or_path:
        return Path(name_or_path)
    if name_or_path in builtin_mappings():
        return BUILTIN_DIR / f"{name_or_path}.toml"
    raise MappingError(f"unknown mapping {name_or_path!r}: the built-in mappings are "
                       f"{', '.join(builtin_mappings())}; or give the path of a .toml file")


def _describe(error: ValidationError) -> str:
    """Pydantic's errors as one line: `where: what` for each problem."""
    problems = []
    for item in error.errors():
        loc = tuple(str(part) for part in item["loc"])
        if item["type"] == "extra_forbidden":
            message = f"unknown key (allowed: {', '.join(_allowed_keys(loc[:-1]))})"
        else:
            message = item["msg"].removeprefix("Value error, ")
        problems.append(f"{'.'.join(loc)}: {message}" if loc else message)
    return "; ".join(problems)


def _allowed_keys(section: tuple[str, ...]) -> list[str]:
    model: type[BaseModel] = Mapping
    for key in section:
        annotation: Any = model.model_fields[key].annotation
        model = next(t for t in (annotation, *get_args(annotation))
                     if isinstance(t, type) and issubclass(t, BaseModel))
    return [key for key in model.model_fields if not (model is Mapping and key == "name")]
