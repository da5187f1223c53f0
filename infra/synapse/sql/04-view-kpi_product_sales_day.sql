-- Generated from shared/warehouse/tables/kpi_product_sales_day.toml by `shoplake synapse sql --write`: do not edit.
-- The Delta table curated/kpi_product_sales_day/, partitioned by order_date.
USE shoplake;
GO
CREATE OR ALTER VIEW dbo.kpi_product_sales_day AS
SELECT *
FROM OPENROWSET(
    BULK 'kpi_product_sales_day',
    DATA_SOURCE = 'shoplake_curated',
    FORMAT = 'DELTA'
) WITH (
    [order_date] DATE,
    [product_id] VARCHAR(8000) COLLATE Latin1_General_100_BIN2_UTF8,
    [category] VARCHAR(8000) COLLATE Latin1_General_100_BIN2_UTF8,
    [units_sold] BIGINT,
    [units_returned] BIGINT,
    [gross_revenue] DECIMAL(18, 2),
    [net_revenue] DECIMAL(18, 2),
    [orders] BIGINT
) AS [rows];
GO
