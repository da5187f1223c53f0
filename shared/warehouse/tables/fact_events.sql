-- curated/fact_events: daily grain, one row per (event_date, event_type, product_id).
-- Event grain already lives in processed/events; dashboards and the funnel ask daily
-- questions, and this is about a hundred times smaller.
SELECT
    e.event_date,
    e.event_type,
    e.product_id,
    p.category,
    COUNT(*) AS events,
    COUNT(DISTINCT COALESCE(e.session_id, e.customer_id)) AS sessions,
    COUNT(DISTINCT e.customer_id) AS customers,
    CAST(SUM(e.quantity) AS BIGINT) AS units
FROM stg_events AS e
LEFT JOIN dim_product AS p ON p.product_id = e.product_id
GROUP BY e.event_date, e.event_type, e.product_id, p.category
