-- Generated from shared/warehouse/tables/dim_customer.toml by `shoplake synapse sql --write`: do not edit.
-- The Delta table curated/dim_customer/.
USE shoplake;
GO
CREATE OR ALTER VIEW dbo.dim_customer AS
SELECT *
FROM OPENROWSET(
    BULK 'dim_customer',
    DATA_SOURCE = 'shoplake_curated',
    FORMAT = 'DELTA'
) WITH (
    [customer_key] VARCHAR(8000) COLLATE Latin1_General_100_BIN2_UTF8,
    [customer_id] VARCHAR(8000) COLLATE Latin1_General_100_BIN2_UTF8,
    [version] INT,
    [name] VARCHAR(8000) COLLATE Latin1_General_100_BIN2_UTF8,
    [email] VARCHAR(8000) COLLATE Latin1_General_100_BIN2_UTF8,
    [segment] VARCHAR(8000) COLLATE Latin1_General_100_BIN2_UTF8,
    [country] VARCHAR(8000) COLLATE Latin1_General_100_BIN2_UTF8,
    [signup_date] DATE,
    [valid_from] DATETIME2(6),
    [valid_to] DATETIME2(6),
    [is_current] BIT,
    [first_seen_at] DATETIME2(6)
) AS [rows];
GO
