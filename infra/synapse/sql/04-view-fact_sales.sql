-- Generated from shared/warehouse/tables/fact_sales.toml by `shoplake synapse sql --write`: do not edit.
-- The Delta table curated/fact_sales/, partitioned by order_date.
USE shoplake;
GO
CREATE OR ALTER VIEW dbo.fact_sales AS
SELECT *
FROM OPENROWSET(
    BULK 'fact_sales',
    DATA_SOURCE = 'shoplake_curated',
    FORMAT = 'DELTA'
) WITH (
    [order_id] VARCHAR(8000) COLLATE Latin1_General_100_BIN2_UTF8,
    [line_number] INT,
    [order_date] DATE,
    [ordered_at] DATETIME2(6),
    [customer_id] VARCHAR(8000) COLLATE Latin1_General_100_BIN2_UTF8,
    [customer_key] VARCHAR(8000) COLLATE Latin1_General_100_BIN2_UTF8,
    [product_id] VARCHAR(8000) COLLATE Latin1_General_100_BIN2_UTF8,
    [category] VARCHAR(8000) COLLATE Latin1_General_100_BIN2_UTF8,
    [quantity] BIGINT,
    [unit_price] DECIMAL(18, 4),
    [revenue] DECIMAL(18, 4),
    [currency] VARCHAR(8000) COLLATE Latin1_General_100_BIN2_UTF8,
    [is_return] BIT,
    [country] VARCHAR(8000) COLLATE Latin1_General_100_BIN2_UTF8
) AS [rows];
GO
