"""The one settings object: everything configurable comes from the environment here.

Azure Functions app settings and `local.settings.json` values arrive as environment
variables; the CLI's global `--lake` option overrides `LAKE_URL`. Nothing else in the
code base reads `os.environ`.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class ConfigurationError(ValueError):
    """A setting is missing or unusable; the message names what to set."""


# Azure Table Storage names: 3-63 letters and digits, starting with a letter; "tables" is taken.
_TABLE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9]{2,62}")
# Synapse Spark pool names: up to 15 letters and digits, starting with a letter.
_SPARK_POOL_NAME = re.compile(r"[A-Za-z][A-Za-z0-9]{0,14}")


class Settings(BaseSettings):
    """Every setting, its environment variable and default (mirrored in docs/configuration.md)."""

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
        description="Client id of the user-assigned managed identity used for the lake "
        "(and for identity-based live profiles).",
    )
    lake_lease_seconds: float = Field(
        60.0,
        ge=5,
        validation_alias="LAKE_LEASE_SECONDS",
        description="Writer lease time: a refresh, training or scoring run that stops "
        "renewing its lease (it died) loses the lake after this long.",
    )
    lake_lease_wait_seconds: float = Field(
        30.0,
        ge=0,
        validation_alias="LAKE_LEASE_WAIT_SECONDS",
        description="How long a writer waits for another run to finish before failing "
        "with a message naming it.",
    )
    lake_lease_keep_seconds: float = Field(
        600.0,
        ge=0,
        validation_alias="LAKE_LEASE_KEEP_SECONDS",
        description="How long the nightly run keeps the lake between its steps (retry "
        "waits, Synapse polls); its last step releases it.",
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
        description="Largest POST /api/events or POST /api/recommendations body; larger "
        "requests get 413.",
    )
    max_request_events: int = Field(
        100_000,
        gt=0,
        validation_alias="MAX_REQUEST_EVENTS",
        description="Most events one POST /api/events may hold; more get 413 (each event, "
        "even a rejected one, costs memory and a line of the report).",
    )
    profiles_connection_string: str | None = Field(
        None,
        validation_alias="PROFILES_CONNECTION",
        description="Table Storage connection string for live shopper profiles (Azurite "
        "locally: `UseDevelopmentStorage=true`). Wins over PROFILES_CONNECTION__tableServiceUri; "
        "with neither set, profiles are off.",
    )
    profiles_table_service_uri: str | None = Field(
        None,
        validation_alias="PROFILES_CONNECTION__tableServiceUri",
        description="Table service URI for identity-based profiles, e.g. "
        "`https://account.table.core.windows.net` (managed identity: AZURE_CLIENT_ID).",
    )
    profiles_table: str = Field(
        "shopperprofiles",
        validation_alias="PROFILES_TABLE",
        description="Table holding each signed-in customer's recent product interactions.",
    )

    recommender_test_days: int = Field(
        30,
        ge=1,
        validation_alias="RECOMMENDER_TEST_DAYS",
        description="Days at the end of the purchase history held out to evaluate models "
        "(a third of the history when that is shorter).",
    )
    recommender_ease_max_items: int = Field(
        15_000,
        ge=1,
        validation_alias="RECOMMENDER_EASE_MAX_ITEMS",
        description="Largest catalogue trained with EASE (its fit peaks at about 40 bytes x "
        "items squared of memory); larger catalogues use factors.",
    )
    promotion_tolerance: float = Field(
        0.005,
        ge=0,
        validation_alias="PROMOTION_TOLERANCE",
        description="A challenger is promoted when its NDCG@10 is at least the champion's "
        "minus this.",
    )
    scoring_active_days: int = Field(
        90,
        ge=1,
        validation_alias="SCORING_ACTIVE_DAYS",
        description="Batch scoring covers customers who bought within this many days of "
        "the latest purchase.",
    )
    forecast_horizon_days: int = Field(
        28,
        ge=1,
        le=366,
        validation_alias="FORECAST_HORIZON_DAYS",
        description="Days ahead the revenue forecast covers (per category and the shop).",
    )
    forecast_units_weeks: int = Field(
        8,
        ge=1,
        le=52,
        validation_alias="FORECAST_UNITS_WEEKS",
        description="Weeks ahead the units forecast covers (per product).",
    )
    forecast_units_share: float = Field(
        0.8,
        gt=0,
        le=1,
        validation_alias="FORECAST_UNITS_SHARE",
        description="The units forecast covers the best sellers that together sold this "
        "share of the units.",
    )
    forecast_backtest_windows: int = Field(
        3,
        ge=1,
        le=12,
        validation_alias="FORECAST_BACKTEST_WINDOWS",
        description="Rolling-origin windows, each as long as the horizon, that choose the "
        "method of each series.",
    )
    customer_at_risk_below: float = Field(
        0.5,
        gt=0,
        lt=1,
        validation_alias="CUSTOMER_AT_RISK_BELOW",
        description="A customer whose probability of still being active (BG/NBD) is below "
        "this is at risk.",
    )
    model_reload_seconds: float = Field(
        30.0,
        ge=0,
        validation_alias="MODEL_RELOAD_SECONDS",
        description="How often a serving worker checks whether the champion changed.",
    )

    nightly_schedule: str = Field(
        "0 0 2 * * *",
        validation_alias="NIGHTLY_SCHEDULE",
        description="NCRONTAB schedule of the nightly run (read by the Functions host as "
        "%NIGHTLY_SCHEDULE%; UTC unless WEBSITE_TIME_ZONE says otherwise).",
    )
    nightly_max_parallel: int = Field(
        4,
        ge=1,
        validation_alias="NIGHTLY_MAX_PARALLEL",
        description="Date partitions the nightly run refreshes at once.",
    )
    refresh_runner: Literal["local", "synapse"] = Field(
        "local",
        validation_alias="REFRESH_RUNNER",
        description="Who lands uploads and runs the nightly refresh: `local` (this app, "
        "on DuckDB) or `synapse` (a Synapse pipeline run on Spark: one per uploaded file, "
        "one per night, watched with durable timers).",
    )
    synapse_endpoint: str | None = Field(
        None,
        validation_alias="SYNAPSE_ENDPOINT",
        description="Synapse workspace development endpoint, e.g. "
        "`https://<workspace>.dev.azuresynapse.net` (REFRESH_RUNNER=synapse).",
    )
    synapse_pipeline: str | None = Field(
        None,
        validation_alias="SYNAPSE_PIPELINE",
        description="Synapse pipeline that runs the refresh (REFRESH_RUNNER=synapse).",
    )
    synapse_spark_pool: str = Field(
        "shoplake",
        validation_alias="SYNAPSE_SPARK_POOL",
        description="Spark pool (Spark 3.5) the Synapse job definition runs on: up to 15 "
        "letters and digits (`shoplake synapse deploy`).",
    )
    synapse_job_folder: str | None = Field(
        None,
        validation_alias="SYNAPSE_JOB_FOLDER",
        description="Folder in the workspace's storage where `shoplake synapse deploy` puts "
        "the Spark job's files, abfss://container@account.dfs.core.windows.net/path.",
    )
    synapse_poll_seconds: float = Field(
        60.0,
        gt=0,
        validation_alias="SYNAPSE_POLL_SECONDS",
        description="Pause between status checks of a Synapse run (a durable timer).",
    )

    @field_validator("lake_url")
    @classmethod
    def _lake_url_not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("LAKE_URL must not be empty")
        return value.strip()

    @field_validator("profiles_table")
    @classmethod
    def _profiles_table_valid(cls, value: str) -> str:
        if not _TABLE_NAME.fullmatch(value) or value.lower() == "tables":
            raise ValueError(
                f"PROFILES_TABLE {value!r} is not a valid Azure table name: 3-63 letters and "
                "digits, starting with a letter (and not 'tables')"
            )
        return value

    @field_validator("synapse_spark_pool")
    @classmethod
    def _spark_pool_valid(cls, value: str) -> str:
        if not _SPARK_POOL_NAME.fullmatch(value):
            raise ValueError(
                f"SYNAPSE_SPARK_POOL {value!r} is not a Spark pool name: up to 15 letters and "
                "digits, starting with a letter"
            )
        return value

    @field_validator("profiles_table_service_uri")
    @classmethod
    def _table_service_uri_https(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        # Table Storage accepts bearer tokens over HTTPS only.
        if parts.scheme != "https" or not parts.netloc:
            raise ValueError(
                f"PROFILES_CONNECTION__tableServiceUri {value!r} must be an https:// URL, e.g. "
                "https://account.table.core.windows.net"
            )
        return value


@lru_cache(maxsize=1)
def current_settings() -> Settings:
    """Settings of this process, read once (Functions workers and the API share them)."""
    return Settings()
