-- curated/kpi_conversion_funnel: one row per day. A session is the session id (or the
-- customer when a producer sent none); each stage counts sessions that reached it.
WITH sessions AS (
    SELECT
        event_date,
        COALESCE(session_id, customer_id) AS session_key,
        MAX(CASE WHEN event_type = 'product_view' THEN 1 ELSE 0 END) AS viewed,
        MAX(CASE WHEN event_type = 'add_to_cart' THEN 1 ELSE 0 END) AS carted,
        MAX(CASE WHEN event_type = 'purchase' THEN 1 ELSE 0 END) AS purchased
    FROM stg_events
    GROUP BY event_date, COALESCE(session_id, customer_id)
)
SELECT
    event_date,
    COUNT(*) AS sessions,
    CAST(SUM(viewed) AS BIGINT) AS product_view_sessions,
    CAST(SUM(carted) AS BIGINT) AS cart_sessions,
    CAST(SUM(purchased) AS BIGINT) AS purchase_sessions,
    CAST(SUM(carted) AS DOUBLE) / NULLIF(SUM(viewed), 0) AS view_to_cart_rate,
    CAST(SUM(purchased) AS DOUBLE) / NULLIF(SUM(carted), 0) AS cart_to_purchase_rate,
    CAST(SUM(purchased) AS DOUBLE) / COUNT(*) AS conversion_rate
FROM sessions
GROUP BY event_date
