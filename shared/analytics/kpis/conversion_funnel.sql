-- Sessions reaching each stage of the funnel over the period, with the share of all
-- sessions and the rate from the stage before.
WITH totals AS (
    SELECT
        COALESCE(SUM(sessions), 0) AS sessions,
        COALESCE(SUM(product_view_sessions), 0) AS viewed,
        COALESCE(SUM(cart_sessions), 0) AS carted,
        COALESCE(SUM(purchase_sessions), 0) AS purchased
    FROM kpi_conversion_funnel
    WHERE event_date BETWEEN $date_from AND $date_to
),
stages AS (
    SELECT 1 AS step, 'sessions' AS stage, sessions AS reached, NULL AS before_it
    FROM totals
    UNION ALL
    SELECT 2, 'product_view', viewed, sessions FROM totals
    UNION ALL
    SELECT 3, 'add_to_cart', carted, viewed FROM totals
    UNION ALL
    SELECT 4, 'purchase', purchased, carted FROM totals
)
SELECT
    stage,
    CAST(reached AS BIGINT) AS sessions,
    CAST(reached AS DOUBLE) / NULLIF((SELECT sessions FROM totals), 0) AS share_of_sessions,
    CAST(reached AS DOUBLE) / NULLIF(before_it, 0) AS rate_from_previous
FROM stages
ORDER BY step
