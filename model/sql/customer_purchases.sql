-- Each signed-in customer's purchase history as of $as_of (the calibration end: later lines
-- are ignored), summarised the way BG/NBD and Gamma-Gamma read it, in days.
-- A purchase is a day with positive, non-return lines: several orders on one day are one
-- purchase (the models count purchase occasions, and days are the time unit), and a
-- return is not a purchase. `frequency` counts repeat purchases (lifetimes' convention),
-- and `monetary_value` is the mean value of those repeat days only, since Gamma-Gamma
-- models the spend of the purchases that BG/NBD counts.
WITH lines AS (
    SELECT customer_id, order_id, order_date, quantity, revenue, is_return
    FROM fact_sales
    WHERE customer_id IS NOT NULL AND order_date <= CAST($as_of AS DATE)
),
purchase_days AS (
    -- DECIMAL until averaged: an exact sum, so the mean is the same on every read (a
    -- parallel sum of doubles is not, and a fit on a flat likelihood can turn on it).
    SELECT customer_id, order_date, SUM(revenue) AS value
    FROM lines
    WHERE quantity > 0 AND NOT is_return
    GROUP BY customer_id, order_date
),
dated AS (
    SELECT *, MIN(order_date) OVER (PARTITION BY customer_id) AS first_purchase
    FROM purchase_days
),
histories AS (
    SELECT
        customer_id,
        MIN(order_date) AS first_purchase,
        MAX(order_date) AS last_purchase,
        COUNT(*) - 1 AS frequency,
        CAST(COALESCE(AVG(value) FILTER (WHERE order_date > first_purchase), 0) AS DOUBLE)
            AS monetary_value
    FROM dated
    GROUP BY customer_id
),
totals AS (
    -- Orders as the KPI tables count them (purchases, not returns); revenue is net.
    SELECT
        customer_id,
        COUNT(DISTINCT CASE WHEN quantity > 0 AND NOT is_return THEN order_id END) AS orders,
        CAST(SUM(revenue) AS DOUBLE) AS revenue
    FROM lines
    GROUP BY customer_id
)
SELECT
    h.customer_id,
    CAST(t.orders AS INTEGER) AS orders,
    t.revenue,
    h.first_purchase,
    h.last_purchase,
    CAST(h.frequency AS INTEGER) AS frequency,
    CAST(DATE_DIFF('day', h.first_purchase, h.last_purchase) AS INTEGER) AS recency,
    CAST(DATE_DIFF('day', h.first_purchase, CAST($as_of AS DATE)) AS INTEGER) AS T,
    h.monetary_value
FROM histories AS h
JOIN totals AS t USING (customer_id)
ORDER BY h.customer_id
