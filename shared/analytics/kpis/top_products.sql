-- The best-selling products of the period by net revenue (ties by product id).
SELECT
    CAST(ROW_NUMBER() OVER (ORDER BY SUM(s.net_revenue) DESC, s.product_id) AS INTEGER) AS rank,
    s.product_id,
    ANY_VALUE(p.name) AS name,
    s.category,
    CAST(SUM(s.units_sold) AS BIGINT) AS units_sold,
    CAST(SUM(s.net_revenue) AS DECIMAL(18, 2)) AS net_revenue,
    CAST(SUM(s.orders) AS BIGINT) AS orders
FROM kpi_product_sales_day AS s
LEFT JOIN dim_product AS p ON p.product_id = s.product_id
WHERE s.order_date BETWEEN $date_from AND $date_to
    AND ($category IS NULL OR s.category = $category)
GROUP BY s.product_id, s.category
ORDER BY rank
LIMIT $limit
