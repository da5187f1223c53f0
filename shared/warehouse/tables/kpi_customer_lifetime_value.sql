-- curated/kpi_customer_lifetime_value: one row per known customer (guests excluded), over
-- their whole history, with their current segment and country.
WITH history AS (
    SELECT
        customer_id,
        MIN(order_date) AS first_order_date,
        MAX(order_date) AS last_order_date,
        COUNT(DISTINCT CASE WHEN NOT is_return AND quantity > 0 THEN order_id END) AS orders,
        CAST(SUM(CASE WHEN NOT is_return AND quantity > 0 THEN quantity ELSE 0 END) AS BIGINT)
            AS units,
        CAST(SUM(CASE WHEN NOT is_return AND quantity > 0 THEN revenue ELSE 0 END)
            AS DECIMAL(18, 2)) AS gross_revenue,
        CAST(SUM(CASE WHEN is_return THEN -revenue ELSE 0 END) AS DECIMAL(18, 2))
            AS returned_revenue,
        CAST(SUM(revenue) AS DECIMAL(18, 2)) AS lifetime_value
    FROM fact_sales
    WHERE customer_id IS NOT NULL
    GROUP BY customer_id
)
SELECT
    h.customer_id,
    c.segment,
    c.country,
    h.first_order_date,
    h.last_order_date,
    CAST(DATE_DIFF('day', h.first_order_date, h.last_order_date) AS INTEGER) AS active_days,
    h.orders,
    h.units,
    h.gross_revenue,
    h.returned_revenue,
    h.lifetime_value,
    -- In whole cents, half up, with integers only: DuckDB divides decimals as doubles and
    -- Spark exactly, so a decimal division rounds differently on the two engines.
    CAST(CAST((CAST(h.gross_revenue * 100 AS BIGINT) * 2 + h.orders) // (2 * NULLIF(h.orders, 0))
        AS DECIMAL(18, 0)) * 0.01 AS DECIMAL(18, 2)) AS average_order_value
FROM history AS h
LEFT JOIN dim_customer AS c ON c.customer_id = h.customer_id AND c.is_current
