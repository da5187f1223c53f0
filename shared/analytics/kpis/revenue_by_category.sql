-- Orders, units and revenue per day and category, oldest first (an order with products of
-- several categories counts in each of them).
SELECT
    order_date,
    category,
    orders,
    units_sold,
    units_returned,
    gross_revenue,
    returned_revenue,
    net_revenue,
    customers
FROM kpi_revenue_by_category_day
WHERE order_date BETWEEN $date_from AND $date_to
    AND ($category IS NULL OR category = $category)
ORDER BY order_date, category
