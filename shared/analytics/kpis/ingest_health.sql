-- What ingestion received per day and source, and what became of it: landed, or
-- quarantined with a reason. Received = landed + quarantined, per day and source.
SELECT
    received_date,
    source,
    outcome,
    CAST(SUM(records) AS BIGINT) AS records
FROM ingest_log
WHERE received_date BETWEEN $date_from AND $date_to
GROUP BY received_date, source, outcome
ORDER BY received_date, source, outcome = 'landed' DESC, outcome
