-- Generated from model/batch_scoring.py by `shoplake synapse sql --write`: do not edit.
-- The Delta table curated/customer_recommendations/.
USE shoplake;
GO
CREATE OR ALTER VIEW dbo.customer_recommendations AS
SELECT *
FROM OPENROWSET(
    BULK 'customer_recommendations',
    DATA_SOURCE = 'shoplake_curated',
    FORMAT = 'DELTA'
) WITH (
    [customer_id] VARCHAR(8000) COLLATE Latin1_General_100_BIN2_UTF8,
    [rank] SMALLINT,
    [product_id] VARCHAR(8000) COLLATE Latin1_General_100_BIN2_UTF8,
    [score] REAL,
    [model_version] VARCHAR(8000) COLLATE Latin1_General_100_BIN2_UTF8,
    [scored_at] DATETIME2(6)
) AS [rows];
GO
