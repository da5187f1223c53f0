-- curated/dim_customer: SCD type 2 on segment and country, one row per customer version.
-- Observations come from customer exports (dated by updated_at) and from order lines (the
-- country an order was placed from). A missing attribute carries the last known value
-- forward (or the first known value back), so a new version starts only on a real change.
-- The first version is valid from 1900 so every order finds its version; name, email and
-- signup date are type 1 (latest known value on every version).
WITH observations AS (
    SELECT customer_id, valid_from AS observed_at, 0 AS source_rank, segment, country
    FROM stg_customers
    UNION ALL
    SELECT customer_id, ordered_at, 1, CAST(NULL AS VARCHAR), country
    FROM stg_order_lines
    WHERE customer_id IS NOT NULL AND country IS NOT NULL
    UNION ALL
    SELECT customer_id, MIN(ordered_at), 1, CAST(NULL AS VARCHAR), CAST(NULL AS VARCHAR)
    FROM stg_order_lines
    WHERE customer_id IS NOT NULL
    GROUP BY customer_id
),
filled AS (
    SELECT
        customer_id,
        observed_at,
        source_rank,
        COALESCE(
            LAST_VALUE(segment IGNORE NULLS) OVER so_far,
            FIRST_VALUE(segment IGNORE NULLS) OVER whole
        ) AS segment,
        COALESCE(
            LAST_VALUE(country IGNORE NULLS) OVER so_far,
            FIRST_VALUE(country IGNORE NULLS) OVER whole
        ) AS country
    FROM observations
    WINDOW
        so_far AS (
            PARTITION BY customer_id
            ORDER BY observed_at, source_rank, segment NULLS LAST, country NULLS LAST
            ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
        ),
        whole AS (
            PARTITION BY customer_id
            ORDER BY observed_at, source_rank, segment NULLS LAST, country NULLS LAST
            ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING
        )
),
changes AS (
    SELECT
        *,
        ROW_NUMBER() OVER in_order AS position,
        LAG(segment) OVER in_order AS previous_segment,
        LAG(country) OVER in_order AS previous_country,
        MIN(observed_at) OVER (PARTITION BY customer_id) AS first_seen_at
    FROM filled
    WINDOW in_order AS (
        PARTITION BY customer_id
        ORDER BY observed_at, source_rank, segment NULLS LAST, country NULLS LAST
    )
),
versions AS (
    SELECT
        customer_id,
        observed_at AS changed_at,
        segment,
        country,
        first_seen_at,
        ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY position) AS version,
        LEAD(observed_at) OVER (PARTITION BY customer_id ORDER BY position) AS valid_to
    FROM changes
    WHERE position = 1
        OR segment IS DISTINCT FROM previous_segment
        OR country IS DISTINCT FROM previous_country
),
profile AS (
    SELECT customer_id, name, email, signup_date
    FROM (
        SELECT
            customer_id,
            name,
            email,
            signup_date,
            ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY valid_from DESC) AS recency
        FROM stg_customers
    ) AS states
    WHERE recency = 1
)
SELECT
    v.customer_id || '#' || CAST(v.version AS VARCHAR) AS customer_key,
    v.customer_id,
    CAST(v.version AS INTEGER) AS version,
    p.name,
    p.email,
    v.segment,
    v.country,
    p.signup_date,
    CASE
        WHEN v.version = 1 THEN CAST('1900-01-01 00:00:00+00:00' AS TIMESTAMP WITH TIME ZONE)
        ELSE v.changed_at
    END AS valid_from,
    v.valid_to,
    v.valid_to IS NULL AS is_current,
    v.first_seen_at
FROM versions AS v
LEFT JOIN profile AS p ON p.customer_id = v.customer_id
