-- Generated from shared/warehouse/tables/dim_date.toml by `shoplake synapse sql --write`: do not edit.
-- The Delta table curated/dim_date/.
USE shoplake;
GO
CREATE OR ALTER VIEW dbo.dim_date AS
SELECT *
FROM OPENROWSET(
    BULK 'dim_date',
    DATA_SOURCE = 'shoplake_curated',
    FORMAT = 'DELTA'
) WITH (
    [date] DATE,
    [year] INT,
    [quarter] INT,
    [month] INT,
    [day_of_month] INT,
    [iso_day_of_week] INT,
    [iso_week] INT,
    [day_name] VARCHAR(8000) COLLATE Latin1_General_100_BIN2_UTF8,
    [month_name] VARCHAR(8000) COLLATE Latin1_General_100_BIN2_UTF8,
    [is_weekend] BIT
) AS [rows];
GO
