-- curated/kpi_top_products: the 50 best products of each category and the 100 best overall
-- by net revenue over all time. Partitioned by category: dashboards read one category.
WITH products AS (
    SELECT
        product_id,
        category,
        CAST(SUM(CASE WHEN NOT is_return AND quantity > 0 THEN quantity ELSE 0 END) AS BIGINT)
            AS units_sold,
        CAST(SUM(revenue) AS DECIMAL(18, 2)) AS net_revenue,
        COUNT(DISTINCT CASE WHEN NOT is_return AND quantity > 0 THEN order_id END) AS orders,
        COUNT(DISTINCT customer_id) AS customers
    FROM fact_sales
    GROUP BY product_id, category
),
ranked AS (
    SELECT
        s.*,
        p.name,
        ROW_NUMBER() OVER (ORDER BY s.net_revenue DESC, s.product_id, s.category) AS overall_rank,
        ROW_NUMBER() OVER (
            PARTITION BY s.category ORDER BY s.net_revenue DESC, s.product_id
        ) AS category_rank
    FROM products AS s
    LEFT JOIN dim_product AS p ON p.product_id = s.product_id
)
SELECT
    category,
    CAST(category_rank AS INTEGER) AS category_rank,
    CAST(overall_rank AS INTEGER) AS overall_rank,
    product_id,
    name,
    units_sold,
    net_revenue,
    orders,
    customers
FROM ranked
WHERE category_rank <= 50 OR overall_rank <= 100
