-- Generated from shared/warehouse/tables/kpi_revenue_by_category_day.toml by `shoplake synapse sql --write`: do not edit.
-- The Delta table curated/kpi_revenue_by_category_day/, partitioned by order_date.
USE shoplake;
GO
CREATE OR ALTER VIEW dbo.kpi_revenue_by_category_day AS
SELECT *
FROM OPENROWSET(
    BULK 'kpi_revenue_by_category_day',
    DATA_SOURCE = 'shoplake_curated',
    FORMAT = 'DELTA'
) WITH (
    [order_date] DATE,
    [category] VARCHAR(8000) COLLATE Latin1_General_100_BIN2_UTF8,
    [orders] BIGINT,
    [units_sold] BIGINT,
    [units_returned] BIGINT,
    [gross_revenue] DECIMAL(18, 2),
    [returned_revenue] DECIMAL(18, 2),
    [net_revenue] DECIMAL(18, 2),
    [customers] BIGINT
) AS [rows];
GO
