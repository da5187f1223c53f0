-- curated/kpi_product_sales_day: one row per (order_date, product_id), so that top products
-- can be ranked over any date range and category. Sales are positive lines that are not
-- returns; net revenue also nets returns and adjustments.
SELECT
    order_date,
    product_id,
    category,
    CAST(SUM(CASE WHEN NOT is_return AND quantity > 0 THEN quantity ELSE 0 END) AS BIGINT)
        AS units_sold,
    CAST(SUM(CASE WHEN is_return THEN -quantity ELSE 0 END) AS BIGINT) AS units_returned,
    CAST(SUM(CASE WHEN NOT is_return AND quantity > 0 THEN revenue ELSE 0 END)
        AS DECIMAL(18, 2)) AS gross_revenue,
    CAST(SUM(revenue) AS DECIMAL(18, 2)) AS net_revenue,
    COUNT(DISTINCT CASE WHEN NOT is_return AND quantity > 0 THEN order_id END) AS orders
FROM fact_sales
GROUP BY order_date, product_id, category
