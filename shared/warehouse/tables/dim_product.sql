-- curated/dim_product: one row per product (type 1: current values). The catalogue export
-- is the authority; products only ever seen on order lines take their latest name and
-- price from there and the category 'Uncategorised'.
WITH sold AS (
    SELECT DISTINCT product_id FROM stg_order_lines
),
latest_line AS (
    -- Only needed where the catalogue leaves a gap: skip fully catalogued products.
    SELECT product_id, product_name, unit_price, currency
    FROM (
        SELECT
            product_id,
            product_name,
            unit_price,
            currency,
            ROW_NUMBER() OVER (
                PARTITION BY product_id
                ORDER BY product_name IS NULL, ordered_at DESC, order_id DESC, line_number DESC
            ) AS recency
        FROM stg_order_lines
        WHERE NOT is_return AND quantity > 0
            AND product_id NOT IN (
                SELECT product_id FROM stg_products
                WHERE name IS NOT NULL AND unit_price IS NOT NULL AND currency IS NOT NULL
            )
    ) AS lines
    WHERE recency = 1
)
SELECT
    COALESCE(c.product_id, s.product_id) AS product_id,
    COALESCE(c.name, l.product_name) AS name,
    COALESCE(c.category, 'Uncategorised') AS category,
    COALESCE(c.unit_price, l.unit_price) AS list_price,
    COALESCE(c.currency, l.currency) AS currency,
    c.product_id IS NOT NULL AS in_catalogue
FROM stg_products AS c
FULL OUTER JOIN sold AS s ON s.product_id = c.product_id
LEFT JOIN latest_line AS l ON l.product_id = COALESCE(c.product_id, s.product_id)
