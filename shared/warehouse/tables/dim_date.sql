-- curated/dim_date: one row per day from the first to the last day with any sale or event.
SELECT
    date_day AS date,
    CAST(EXTRACT(YEAR FROM date_day) AS INTEGER) AS year,
    CAST(EXTRACT(QUARTER FROM date_day) AS INTEGER) AS quarter,
    CAST(EXTRACT(MONTH FROM date_day) AS INTEGER) AS month,
    CAST(EXTRACT(DAY FROM date_day) AS INTEGER) AS day_of_month,
    CAST(ISODOW(date_day) AS INTEGER) AS iso_day_of_week,
    CAST(WEEKOFYEAR(date_day) AS INTEGER) AS iso_week,
    STRFTIME(date_day, '%A') AS day_name,
    STRFTIME(date_day, '%B') AS month_name,
    ISODOW(date_day) >= 6 AS is_weekend
FROM calendar
