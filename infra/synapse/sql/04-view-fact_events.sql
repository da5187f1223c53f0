-- Generated from shared/warehouse/tables/fact_events.toml by `shoplake synapse sql --write`: do not edit.
-- The Delta table curated/fact_events/, partitioned by event_date.
USE shoplake;
GO
CREATE OR ALTER VIEW dbo.fact_events AS
SELECT *
FROM OPENROWSET(
    BULK 'fact_events',
    DATA_SOURCE = 'shoplake_curated',
    FORMAT = 'DELTA'
) WITH (
    [event_date] DATE,
    [event_type] VARCHAR(8000) COLLATE Latin1_General_100_BIN2_UTF8,
    [product_id] VARCHAR(8000) COLLATE Latin1_General_100_BIN2_UTF8,
    [category] VARCHAR(8000) COLLATE Latin1_General_100_BIN2_UTF8,
    [events] BIGINT,
    [sessions] BIGINT,
    [customers] BIGINT,
    [units] BIGINT
) AS [rows];
GO
