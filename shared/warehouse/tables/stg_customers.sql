-- processed/customers: every observed state of a customer, one row per
-- (customer_id, valid_from). A state without a timestamp is dated when its file landed.
SELECT
    customer_id,
    name,
    email,
    segment,
    country,
    signup_date,
    valid_from,
    source_file
FROM (
    SELECT
        *,
        COALESCE(updated_at, landed_at) AS valid_from,
        ROW_NUMBER() OVER (
            PARTITION BY customer_id, COALESCE(updated_at, landed_at)
            ORDER BY landed_at DESC, source_file DESC, source_row DESC
        ) AS recency
    FROM landed_customers
) AS states
WHERE recency = 1
