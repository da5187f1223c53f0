-- The period's headline figures beside the previous period of the same length. Revenue,
-- orders, units and the average order follow the category filter; new customers and the
-- conversion rate are the whole shop's.
WITH periods AS (
    SELECT 'current' AS period, CAST($date_from AS DATE) AS first_day,
        CAST($date_to AS DATE) AS last_day
    UNION ALL
    SELECT 'previous', CAST($previous_from AS DATE), CAST($previous_to AS DATE)
),
sales AS (
    SELECT
        p.period,
        COALESCE(SUM(r.net_revenue), 0) AS net_revenue,
        COALESCE(SUM(r.gross_revenue), 0) AS gross_revenue,
        COALESCE(SUM(r.units_sold), 0) AS units_sold,
        COALESCE(SUM(r.orders), 0) AS category_orders
    FROM periods AS p
    LEFT JOIN kpi_revenue_by_category_day AS r
        ON r.order_date BETWEEN p.first_day AND p.last_day
        AND (CAST($category AS VARCHAR) IS NULL OR r.category = $category)
    GROUP BY p.period
),
shoppers AS (
    -- Every order has one shopper: these add up to the shop's orders without counting an
    -- order of several categories twice.
    SELECT
        p.period,
        COALESCE(SUM(n.new_customer_orders + n.returning_customer_orders + n.guest_orders), 0)
            AS orders,
        COALESCE(SUM(n.new_customers), 0) AS new_customers
    FROM periods AS p
    LEFT JOIN kpi_new_vs_returning_day AS n ON n.order_date BETWEEN p.first_day AND p.last_day
    GROUP BY p.period
),
funnel AS (
    SELECT
        p.period,
        COALESCE(SUM(f.sessions), 0) AS sessions,
        COALESCE(SUM(f.purchase_sessions), 0) AS purchase_sessions
    FROM periods AS p
    LEFT JOIN kpi_conversion_funnel AS f ON f.event_date BETWEEN p.first_day AND p.last_day
    GROUP BY p.period
),
figures AS (
    SELECT
        s.period,
        CAST(s.net_revenue AS DOUBLE) AS net_revenue,
        CAST(CASE WHEN CAST($category AS VARCHAR) IS NULL THEN h.orders
            ELSE s.category_orders END AS DOUBLE) AS orders,
        CAST(s.units_sold AS DOUBLE) AS units_sold,
        CAST(s.gross_revenue AS DOUBLE) AS gross_revenue,
        CAST(h.new_customers AS DOUBLE) AS new_customers,
        CAST(f.purchase_sessions AS DOUBLE) / NULLIF(f.sessions, 0) AS conversion_rate
    FROM sales AS s
    JOIN shoppers AS h ON h.period = s.period
    JOIN funnel AS f ON f.period = s.period
),
metrics AS (
    SELECT period, 1 AS position, 'net_revenue' AS metric, 'Net revenue' AS label,
        net_revenue AS value, TRUE AS follows_category
    FROM figures
    UNION ALL
    SELECT period, 2, 'orders', 'Orders', orders, TRUE FROM figures
    UNION ALL
    SELECT period, 3, 'units_sold', 'Units sold', units_sold, TRUE FROM figures
    UNION ALL
    SELECT period, 4, 'average_order_value', 'Average order value',
        ROUND(gross_revenue / NULLIF(orders, 0), 2), TRUE
    FROM figures
    UNION ALL
    SELECT period, 5, 'new_customers', 'New customers', new_customers, FALSE FROM figures
    UNION ALL
    SELECT period, 6, 'conversion_rate', 'Conversion rate', conversion_rate, FALSE FROM figures
)
SELECT
    c.metric,
    c.label,
    c.value,
    p.value AS previous,
    (c.value - p.value) / NULLIF(p.value, 0) AS change,
    c.follows_category
FROM metrics AS c
JOIN metrics AS p ON p.metric = c.metric AND p.period = 'previous'
WHERE c.period = 'current'
ORDER BY c.position
