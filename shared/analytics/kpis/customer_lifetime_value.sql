-- The most valuable customers among those whose first order falls in the period (the
-- period's new customers), by lifetime value over their whole history.
SELECT
    CAST(ROW_NUMBER() OVER (ORDER BY lifetime_value DESC, customer_id) AS INTEGER) AS rank,
    customer_id,
    segment,
    country,
    first_order_date,
    last_order_date,
    orders,
    gross_revenue,
    returned_revenue,
    lifetime_value,
    average_order_value
FROM kpi_customer_lifetime_value
WHERE first_order_date BETWEEN $date_from AND $date_to
ORDER BY rank
LIMIT $limit
