-- Generated from shared/warehouse/tables/dim_product.toml by `shoplake synapse sql --write`: do not edit.
-- The Delta table curated/dim_product/.
USE shoplake;
GO
CREATE OR ALTER VIEW dbo.dim_product AS
SELECT *
FROM OPENROWSET(
    BULK 'dim_product',
    DATA_SOURCE = 'shoplake_curated',
    FORMAT = 'DELTA'
) WITH (
    [product_id] VARCHAR(8000) COLLATE Latin1_General_100_BIN2_UTF8,
    [name] VARCHAR(8000) COLLATE Latin1_General_100_BIN2_UTF8,
    [category] VARCHAR(8000) COLLATE Latin1_General_100_BIN2_UTF8,
    [list_price] DECIMAL(18, 4),
    [currency] VARCHAR(8000) COLLATE Latin1_General_100_BIN2_UTF8,
    [in_catalogue] BIT
) AS [rows];
GO
