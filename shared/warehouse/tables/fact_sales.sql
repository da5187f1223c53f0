-- curated/fact_sales: one row per order line. Returns keep their negative quantity and
-- revenue; guests have a null customer. customer_key is the customer's version at the
-- moment of the order.
SELECT
    l.order_id,
    l.line_number,
    l.order_date,
    l.ordered_at,
    l.customer_id,
    c.customer_key,
    l.product_id,
    p.category,
    l.quantity,
    l.unit_price,
    CAST(l.quantity * l.unit_price AS DECIMAL(18, 4)) AS revenue,
    l.currency,
    l.is_return,
    l.country
FROM stg_order_lines AS l
LEFT JOIN dim_product AS p ON p.product_id = l.product_id
LEFT JOIN dim_customer AS c
    ON c.customer_id = l.customer_id
    AND l.ordered_at >= c.valid_from
    AND (c.valid_to IS NULL OR l.ordered_at < c.valid_to)
