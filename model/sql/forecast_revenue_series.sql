-- Daily net revenue per category and for the whole shop (category NULL), every day from
-- the first of the history window to the data's latest day, zero where nothing sold.
-- $history_days: how many days back from the latest day the series start at most.
WITH sales AS (
    SELECT order_date, COALESCE(category, 'Uncategorised') AS category, net_revenue
    FROM kpi_revenue_by_category_day
),
span AS (
    SELECT GREATEST(MIN(order_date), MAX(order_date) - CAST($history_days - 1 AS INTEGER))
               AS first_day,
           MAX(order_date) AS last_day
    FROM sales
),
days AS (
    SELECT CAST(day AS DATE) AS ds
    FROM span, generate_series(span.first_day, span.last_day, INTERVAL 1 DAY) AS t(day)
),
series AS (
    SELECT DISTINCT category FROM sales, span WHERE order_date >= span.first_day
    UNION ALL
    SELECT NULL
),
daily AS (
    SELECT order_date, category, SUM(net_revenue) AS revenue FROM sales GROUP BY ALL
    UNION ALL
    SELECT order_date, NULL, SUM(net_revenue) FROM sales GROUP BY ALL
)
SELECT s.category, d.ds, CAST(COALESCE(daily.revenue, 0) AS DOUBLE) AS y
FROM series AS s
CROSS JOIN days AS d
LEFT JOIN daily
    ON daily.order_date = d.ds AND daily.category IS NOT DISTINCT FROM s.category
ORDER BY s.category NULLS FIRST, d.ds
