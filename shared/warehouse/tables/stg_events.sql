-- processed/events: one row per event_id; the first copy the lake received wins.
-- Copies of an event share occurred_at, so they share a date partition.
SELECT
    event_id,
    event_type,
    occurred_at,
    event_date,
    customer_id,
    session_id,
    product_id,
    CAST(quantity AS INTEGER) AS quantity,
    unit_price,
    currency,
    order_id,
    query,
    CAST(rating AS INTEGER) AS rating,
    page_url,
    schema_version,
    enqueued_at AS received_at
FROM (
    SELECT
        *,
        ROW_NUMBER() OVER (
            PARTITION BY event_id
            ORDER BY enqueued_at, source, source_partition, sequence_number
        ) AS copy_number
    FROM raw_events
) AS copies
WHERE copy_number = 1
