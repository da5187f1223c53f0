-- curated/kpi_new_vs_returning_day: one row per order date. A known customer is new on the
-- day of their first purchase (every order that day counts as new) and returning on every
-- later day; returns before any purchase in the data count as returning. Guests apart.
-- Each order has one customer, so new + returning + guest orders are the day's orders.
WITH first_purchase AS (
    SELECT customer_id, MIN(order_date) AS first_date
    FROM fact_sales
    WHERE customer_id IS NOT NULL AND NOT is_return AND quantity > 0
    GROUP BY customer_id
),
lines AS (
    SELECT
        s.order_date,
        s.order_id,
        s.customer_id,
        s.revenue,
        NOT s.is_return AND s.quantity > 0 AS is_sale,
        CASE
            WHEN s.customer_id IS NULL THEN 'guest'
            WHEN s.order_date = f.first_date THEN 'new'
            ELSE 'returning'
        END AS shopper
    FROM fact_sales AS s
    LEFT JOIN first_purchase AS f ON f.customer_id = s.customer_id
)
SELECT
    order_date,
    COUNT(DISTINCT CASE WHEN shopper = 'new' AND is_sale THEN customer_id END) AS new_customers,
    COUNT(DISTINCT CASE WHEN shopper = 'returning' AND is_sale THEN customer_id END)
        AS returning_customers,
    COUNT(DISTINCT CASE WHEN shopper = 'new' AND is_sale THEN order_id END) AS new_customer_orders,
    COUNT(DISTINCT CASE WHEN shopper = 'returning' AND is_sale THEN order_id END)
        AS returning_customer_orders,
    COUNT(DISTINCT CASE WHEN shopper = 'guest' AND is_sale THEN order_id END) AS guest_orders,
    CAST(SUM(CASE WHEN shopper = 'new' THEN revenue ELSE 0 END) AS DECIMAL(18, 2))
        AS new_customer_revenue,
    CAST(SUM(CASE WHEN shopper = 'returning' THEN revenue ELSE 0 END) AS DECIMAL(18, 2))
        AS returning_customer_revenue,
    CAST(SUM(CASE WHEN shopper = 'guest' THEN revenue ELSE 0 END) AS DECIMAL(18, 2))
        AS guest_revenue
FROM lines
GROUP BY order_date
