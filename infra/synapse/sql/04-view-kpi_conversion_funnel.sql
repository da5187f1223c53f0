-- Generated from shared/warehouse/tables/kpi_conversion_funnel.toml by `shoplake synapse sql --write`: do not edit.
-- The Delta table curated/kpi_conversion_funnel/, partitioned by event_date.
USE shoplake;
GO
CREATE OR ALTER VIEW dbo.kpi_conversion_funnel AS
SELECT *
FROM OPENROWSET(
    BULK 'kpi_conversion_funnel',
    DATA_SOURCE = 'shoplake_curated',
    FORMAT = 'DELTA'
) WITH (
    [event_date] DATE,
    [sessions] BIGINT,
    [product_view_sessions] BIGINT,
    [cart_sessions] BIGINT,
    [purchase_sessions] BIGINT,
    [view_to_cart_rate] FLOAT,
    [cart_to_purchase_rate] FLOAT,
    [conversion_rate] FLOAT
) AS [rows];
GO
