-- Generated from shared/warehouse/tables/kpi_new_vs_returning_day.toml by `shoplake synapse sql --write`: do not edit.
-- The Delta table curated/kpi_new_vs_returning_day/.
USE shoplake;
GO
CREATE OR ALTER VIEW dbo.kpi_new_vs_returning_day AS
SELECT *
FROM OPENROWSET(
    BULK 'kpi_new_vs_returning_day',
    DATA_SOURCE = 'shoplake_curated',
    FORMAT = 'DELTA'
) WITH (
    [order_date] DATE,
    [new_customers] BIGINT,
    [returning_customers] BIGINT,
    [new_customer_orders] BIGINT,
    [returning_customer_orders] BIGINT,
    [guest_orders] BIGINT,
    [new_customer_revenue] DECIMAL(18, 2),
    [returning_customer_revenue] DECIMAL(18, 2),
    [guest_revenue] DECIMAL(18, 2)
) AS [rows];
GO
