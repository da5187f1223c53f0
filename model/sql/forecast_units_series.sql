-- Weekly units sold (weeks start on Monday) of the best sellers that together sold
-- $units_share of the units, every complete week of the history window, zero where none
-- sold. A week is complete when the data reaches its Sunday; the first one, when the data
-- starts on its Monday.
WITH span AS (
    SELECT
        CAST(DATE_TRUNC('week', GREATEST(MIN(order_date),
            MAX(order_date) - CAST($history_days - 1 AS INTEGER)) + INTERVAL 6 DAY) AS DATE)
            AS first_week,
        CAST(DATE_TRUNC('week', MAX(order_date) + INTERVAL 1 DAY) - INTERVAL 7 DAY AS DATE)
            AS last_week
    FROM kpi_product_sales_day
),
weekly AS (
    SELECT product_id, CAST(DATE_TRUNC('week', order_date) AS DATE) AS week_start,
           SUM(units_sold) AS units
    FROM kpi_product_sales_day, span
    WHERE order_date >= span.first_week AND order_date < span.last_week + 7
    GROUP BY ALL
),
ranked AS (
    SELECT product_id,
           SUM(units) AS product_units,
           SUM(SUM(units)) OVER (ORDER BY SUM(units) DESC, product_id
                                 ROWS UNBOUNDED PRECEDING) AS running,
           SUM(SUM(units)) OVER () AS total
    FROM weekly
    GROUP BY product_id
),
best AS (
    -- Products until the running total reaches the share (the one reaching it included).
    SELECT product_id FROM ranked
    WHERE product_units > 0 AND running - product_units < $units_share * total
),
weeks AS (
    SELECT CAST(week AS DATE) AS week_start
    FROM span, generate_series(span.first_week, span.last_week, INTERVAL 7 DAY) AS t(week)
)
SELECT b.product_id, w.week_start AS ds, CAST(COALESCE(weekly.units, 0) AS DOUBLE) AS y
FROM best AS b
CROSS JOIN weeks AS w
LEFT JOIN weekly ON weekly.product_id = b.product_id AND weekly.week_start = w.week_start
ORDER BY b.product_id, w.week_start
