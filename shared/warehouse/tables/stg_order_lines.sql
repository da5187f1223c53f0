-- processed/order_lines: one row per (order_id, line_number). A re-sent or overlapping
-- export replaces a line: the most recently landed file wins, then the later row in it.
SELECT
    order_id,
    line_number,
    ordered_at,
    CAST(ordered_at AS DATE) AS order_date,
    customer_id,
    product_id,
    product_name,
    quantity,
    unit_price,
    currency,
    is_return,
    country,
    source_file,
    source_row
FROM (
    SELECT
        *,
        ROW_NUMBER() OVER (
            PARTITION BY order_id, line_number
            ORDER BY landed_at DESC, source_file DESC, source_row DESC
        ) AS recency
    FROM landed_order_lines
) AS versions
WHERE recency = 1
