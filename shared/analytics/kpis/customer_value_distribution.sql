-- How lifetime value is spread over the customers whose first order falls in the period:
-- 20 bins of one round width (1, 2 or 5 times a power of ten) that reach the 95th
-- percentile, one open bin above them and one for negative values (returns exceeding sales).
WITH customers AS (
    SELECT CAST(lifetime_value AS DOUBLE) AS lifetime_value
    FROM kpi_customer_lifetime_value
    WHERE first_order_date BETWEEN $date_from AND $date_to
),
step AS (
    SELECT GREATEST(COALESCE(QUANTILE_CONT(lifetime_value, 0.95), 0), 1) / 20 AS raw_width
    FROM customers
),
width AS (
    SELECT
        CASE
            WHEN raw_width <= magnitude THEN magnitude
            WHEN raw_width <= 2 * magnitude THEN 2 * magnitude
            WHEN raw_width <= 5 * magnitude THEN 5 * magnitude
            ELSE 10 * magnitude
        END AS width
    FROM (SELECT raw_width, POW(10, FLOOR(LOG10(raw_width))) AS magnitude FROM step) AS s
),
bins AS (
    SELECT CAST(range AS INTEGER) AS bin FROM range(-1, 21)
),
binned AS (
    SELECT
        CAST(GREATEST(LEAST(FLOOR(c.lifetime_value / w.width), 20), -1) AS INTEGER) AS bin,
        c.lifetime_value
    FROM customers AS c, width AS w
)
SELECT
    CASE WHEN b.bin >= 0 THEN b.bin * w.width END AS value_from,
    CASE WHEN b.bin < 20 THEN (b.bin + 1) * w.width END AS value_to,
    COUNT(c.bin) AS customers,
    CAST(COALESCE(SUM(c.lifetime_value), 0) AS DECIMAL(18, 2)) AS lifetime_value
FROM bins AS b
CROSS JOIN width AS w
LEFT JOIN binned AS c ON c.bin = b.bin
GROUP BY b.bin, w.width
HAVING b.bin BETWEEN 0 AND 19 OR COUNT(c.bin) > 0
ORDER BY b.bin
