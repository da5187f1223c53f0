-- New, returning and guest shoppers per day, with their orders and net revenue.
SELECT
    order_date,
    new_customers,
    returning_customers,
    new_customer_orders,
    returning_customer_orders,
    guest_orders,
    new_customer_revenue,
    returning_customer_revenue,
    guest_revenue
FROM kpi_new_vs_returning_day
WHERE order_date BETWEEN $date_from AND $date_to
ORDER BY order_date
