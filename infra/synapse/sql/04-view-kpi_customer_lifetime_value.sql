-- Generated from shared/warehouse/tables/kpi_customer_lifetime_value.toml by `shoplake synapse sql --write`: do not edit.
-- The Delta table curated/kpi_customer_lifetime_value/.
USE shoplake;
GO
CREATE OR ALTER VIEW dbo.kpi_customer_lifetime_value AS
SELECT *
FROM OPENROWSET(
    BULK 'kpi_customer_lifetime_value',
    DATA_SOURCE = 'shoplake_curated',
    FORMAT = 'DELTA'
) WITH (
    [customer_id] VARCHAR(8000) COLLATE Latin1_General_100_BIN2_UTF8,
    [segment] VARCHAR(8000) COLLATE Latin1_General_100_BIN2_UTF8,
    [country] VARCHAR(8000) COLLATE Latin1_General_100_BIN2_UTF8,
    [first_order_date] DATE,
    [last_order_date] DATE,
    [active_days] INT,
    [orders] BIGINT,
    [units] BIGINT,
    [gross_revenue] DECIMAL(18, 2),
    [returned_revenue] DECIMAL(18, 2),
    [lifetime_value] DECIMAL(18, 2),
    [average_order_value] DECIMAL(18, 2)
) AS [rows];
GO
