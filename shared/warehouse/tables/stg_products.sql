-- processed/products: the catalogue as last exported, one row per product_id.
SELECT
    product_id,
    name,
    category,
    unit_price,
    currency,
    source_file
FROM (
    SELECT
        *,
        ROW_NUMBER() OVER (
            PARTITION BY product_id
            ORDER BY landed_at DESC, source_file DESC, source_row DESC
        ) AS recency
    FROM landed_products
) AS versions
WHERE recency = 1
