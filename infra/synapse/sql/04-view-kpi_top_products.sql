-- Generated from shared/warehouse/tables/kpi_top_products.toml by `shoplake synapse sql --write`: do not edit.
-- The Delta table curated/kpi_top_products/, partitioned by category.
USE shoplake;
GO
CREATE OR ALTER VIEW dbo.kpi_top_products AS
SELECT *
FROM OPENROWSET(
    BULK 'kpi_top_products',
    DATA_SOURCE = 'shoplake_curated',
    FORMAT = 'DELTA'
) WITH (
    [category] VARCHAR(8000) COLLATE Latin1_General_100_BIN2_UTF8,
    [category_rank] INT,
    [overall_rank] INT,
    [product_id] VARCHAR(8000) COLLATE Latin1_General_100_BIN2_UTF8,
    [name] VARCHAR(8000) COLLATE Latin1_General_100_BIN2_UTF8,
    [units_sold] BIGINT,
    [net_revenue] DECIMAL(18, 2),
    [orders] BIGINT,
    [customers] BIGINT
) AS [rows];
GO
