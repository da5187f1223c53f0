"""The one settings object: everything configurable comes from the environment here.

Azure Functions app settings and `local.settings.json` values arrive as environment
variables; the CLI's global `--lake` option overrides `LAKE_URL`. Nothing else in the
code base reads `os.environ`.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class ConfigurationError(ValueError):
    """A setting is missing or unusable; the message names what to set."""


class Settings(BaseSettings):
    """Every setting, its environment variable and default (the README's table mirrors this)."""

    model_config = SettingsConfigDict(
        extra="ignore", frozen=True, populate_by_name=True, env_ignore_empty=True
    )

    lake_url: str = Field(
        "lake",
        validation_alias="LAKE_URL",
        description="Lake root: a local folder, az://container/path (Azurite or a storage "
        "account) or abfss://container@account.dfs.core.windows.net/path.",
    )
    lake_storage_connection_string: str | None = Field(
        None,
        validation_alias="LAKE_STORAGE_CONNECTION_STRING",
        description="Account-key connection string for an az:// lake (Azurite locally; "
        "`UseDevelopmentStorage=true` works). Unset means managed identity.",
    )
    azure_client_id: str | None = Field(
        None,
        validation_alias="AZURE_CLIENT_ID",
        description="Client id of the user-assigned managed identity used for the lake.",
    )
    eventhub_name: str = Field(
        "shop-events",
        validation_alias="EVENTHUB_NAME",
        description="Event Hub the shop's events arrive on (the trigger reads %EVENTHUB_NAME%).",
    )
    eventhub_consumer_group: str = Field(
        "$Default",
        validation_alias="EVENTHUB_CONSUMER_GROUP",
        description="Consumer group of the ingest_events trigger.",
    )
    eventhub_connection_string: str | None = Field(
        None,
        validation_alias="EVENTHUB_CONNECTION",
        description="Event Hubs connection string (local development and `simulate --to "
        "eventhub`). In Azure use the identity-based EVENTHUB_CONNECTION__* settings.",
    )
    eventhub_namespace: str | None = Field(
        None,
        validation_alias="EVENTHUB_CONNECTION__fullyQualifiedNamespace",
        description="Event Hubs namespace host for identity-based connections, e.g. "
        "`shop.servicebus.windows.net`.",
    )
    http_auth_level: Literal["anonymous", "function", "admin"] = Field(
        "function",
        validation_alias="HTTP_AUTH_LEVEL",
        description="Authorization level of the HTTP API in Azure Functions.",
    )
    max_event_bytes: int = Field(
        32 * 1024,
        gt=0,
        validation_alias="MAX_EVENT_BYTES",
        description="Largest accepted event body; larger ones are quarantined as `oversize`.",
    )
    max_request_bytes: int = Field(
        4 * 1024 * 1024,
        gt=0,
        validation_alias="MAX_REQUEST_BYTES",
        description="Largest POST /api/events body; larger requests get 413.",
    )

    @field_validator("lake_url")
    @classmethod
    def _lake_url_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("LAKE_URL must not be empty")
        return value.strip()


@lru_cache(maxsize=1)
def current_settings() -> Settings:
    """Settings of this process, read once (Functions workers and the API share them)."""
    return Settings()
