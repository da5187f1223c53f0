"""The portability guard: each rule reports its trap in a minimal SQL and is quiet once the
SQL is written the portable way; the built-in tables have no problem; a table folder with
a trap is reported by its file."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.warehouse.dialect import portability_problems
from shared.warehouse.specs import CATALOG, SOURCE_KEYS, TABLES_FOLDER, load_catalog, source_schemas

INPUTS = {**source_schemas(), **CATALOG.schemas}
KEYS = {**SOURCE_KEYS, **{spec.name: spec.unique for spec in CATALOG}}

TRAPS = [
    # (what it reports, the hostile SQL, the same written portably)
    ("QUALIFY with SELECT *",
     "SELECT * FROM stg_events QUALIFY ROW_NUMBER() OVER (PARTITION BY event_id "
     "ORDER BY received_at) = 1",
     "SELECT event_id FROM stg_events QUALIFY ROW_NUMBER() OVER (PARTITION BY event_id "
     "ORDER BY received_at) = 1"),
    ("* EXCEPT", "SELECT * EXCLUDE (query) FROM stg_events", "SELECT event_id FROM stg_events"),
    ("32-bit Murmur3", "SELECT hash(event_id) AS h FROM stg_events",
     "SELECT md5(event_id) AS h FROM stg_events"),
    ("does not know STRLEN()", "SELECT strlen(event_id) AS n FROM stg_events",
     "SELECT length(event_id) AS n FROM stg_events"),
    ("Sunday is 0 on DuckDB", "SELECT DAYOFWEEK(date_day) AS d FROM calendar",
     "SELECT ISODOW(date_day) AS d FROM calendar"),
    ("not among the functions known to agree",
     "SELECT SIGN(quantity) AS s FROM stg_events",
     "SELECT CASE WHEN quantity > 0 THEN 1 WHEN quantity < 0 THEN -1 ELSE 0 END AS s "
     "FROM stg_events"),
    ("cannot translate it to Spark",
     "SELECT ARG_MAX(event_id, occurred_at, 2) AS e FROM stg_events",
     "SELECT MAX(occurred_at) AS e FROM stg_events"),
    ("CAST of text", "SELECT CAST(query AS INTEGER) AS n FROM stg_events",
     "SELECT TRY_CAST(query AS DECIMAL(18, 0)) AS n FROM stg_events"),
    ("TRY_CAST of text to an integer", "SELECT TRY_CAST(query AS BIGINT) AS n FROM stg_events",
     "SELECT CAST(TRY_CAST(query AS DECIMAL(18, 0)) AS BIGINT) AS n FROM stg_events"),
    ("cast to an integer is rounded", "SELECT CAST(unit_price AS INTEGER) AS p FROM stg_events",
     "SELECT CAST(ROUND(unit_price) AS INTEGER) AS p FROM stg_events"),
    ("cast to an integer is rounded", "SELECT TRY_CAST(revenue AS BIGINT) AS r FROM fact_sales",
     "SELECT TRY_CAST(ROUND(revenue) AS BIGINT) AS r FROM fact_sales"),
    ("DOUBLE cast to DECIMAL", "SELECT CAST(unit_price AS DECIMAL(18, 2)) AS p FROM stg_events",
     "SELECT CAST(ROUND(unit_price * 100) / 100 AS DECIMAL(18, 2)) AS p FROM stg_events"),
    ("different text", "SELECT CAST(occurred_at AS VARCHAR) AS t FROM stg_events",
     "SELECT STRFTIME(occurred_at, '%Y-%m-%d %H:%M:%S') AS t FROM stg_events"),
    ("ROUND of a DOUBLE", "SELECT ROUND(unit_price, 2) AS p FROM stg_events",
     "SELECT ROUND(unit_price * 100) / 100 AS p FROM stg_events"),
    ("SUM of integers", "SELECT SUM(quantity) AS units FROM stg_order_lines",
     "SELECT CAST(SUM(quantity) AS BIGINT) AS units FROM stg_order_lines"),
    ("SUM of integers", "SELECT SUM(revenue) OVER (PARTITION BY order_id) AS r FROM fact_sales",
     "SELECT CAST(SUM(revenue) OVER (PARTITION BY order_id) AS DECIMAL(18, 4)) AS r "
     "FROM fact_sales"),
    ("AVG of DECIMALs", "SELECT AVG(unit_price) AS p FROM stg_order_lines",
     "SELECT AVG(CAST(unit_price AS DOUBLE)) AS p FROM stg_order_lines"),
    ("divides DECIMALs", "SELECT revenue / NULLIF(quantity, 0) AS p FROM fact_sales",
     "SELECT CAST(revenue AS DOUBLE) / NULLIF(quantity, 0) AS p FROM fact_sales"),
    ("dividing by 0", "SELECT quantity / quantity AS p FROM fact_sales",
     "SELECT quantity / NULLIF(quantity, 0) AS p FROM fact_sales"),
    ("dividing by 0", "SELECT line_number % quantity AS p FROM fact_sales",
     "SELECT line_number % (2 * NULLIF(quantity, 0)) AS p FROM fact_sales"),
    ("DATE_DIFF counts boundaries",
     "SELECT DATE_DIFF('day', ordered_at, ordered_at) AS d FROM stg_order_lines",
     "SELECT DATE_DIFF('day', CAST(ordered_at AS DATE), order_date) AS d FROM stg_order_lines"),
    ("a DATE and an INTERVAL", "SELECT order_date + INTERVAL 1 DAY AS d FROM stg_order_lines",
     "SELECT order_date + 1 AS d FROM stg_order_lines"),
    ("difference of two dates", "SELECT order_date - order_date AS d FROM stg_order_lines",
     "SELECT DATE_DIFF('day', order_date, order_date) AS d FROM stg_order_lines"),
    ("EXTRACT(DOW)", "SELECT EXTRACT(DOW FROM date_day) AS d FROM calendar",
     "SELECT EXTRACT(DOY FROM date_day) AS d FROM calendar"),
    ("STRFTIME format", "SELECT STRFTIME(ordered_at, '%Y%m%dT%H') AS t FROM stg_order_lines",
     "SELECT STRFTIME(ordered_at, '%Y%m%d %H') AS t FROM stg_order_lines"),
    ("DATE_TRUNC to HOUR", "SELECT DATE_TRUNC('hour', ordered_at) AS t FROM stg_order_lines",
     "SELECT DATE_TRUNC('day', ordered_at) AS t FROM stg_order_lines"),
    ("from position 0", "SELECT SUBSTRING(event_id, 0, 3) AS p FROM stg_events",
     "SELECT SUBSTRING(event_id, 1, 3) AS p FROM stg_events"),
    ("from position 0", "SELECT SUBSTRING(event_id, quantity, 3) AS p FROM stg_events",
     "SELECT SUBSTRING(event_id, GREATEST(quantity, 1), 3) AS p FROM stg_events"),
    ("negative SUBSTRING length",
     "SELECT SUBSTRING(event_id, 3, LENGTH(event_id) - 5) AS p FROM stg_events",
     "SELECT SUBSTRING(event_id, 3, GREATEST(LENGTH(event_id) - 5, 0)) AS p FROM stg_events"),
    ("LEFT(s, -n)", "SELECT LEFT(event_id, -2) AS p FROM stg_events",
     "SELECT LEFT(event_id, GREATEST(LENGTH(event_id) - 2, 0)) AS p FROM stg_events"),
    ("SPLIT_PART's part 0", "SELECT SPLIT_PART(page_url, '/', 0) AS p FROM stg_events",
     "SELECT SPLIT_PART(page_url, '/', 1) AS p FROM stg_events"),
    ("empty delimiter", "SELECT SPLIT_PART(page_url, '', 1) AS p FROM stg_events",
     "SELECT SPLIT_PART(page_url, '/', 1) AS p FROM stg_events"),
    ("empty fill", "SELECT LPAD(event_id, 12, '') AS p FROM stg_events",
     "SELECT LPAD(event_id, 12, '0') AS p FROM stg_events"),
    ("backslash in a LIKE pattern",
     "SELECT event_id FROM stg_events WHERE query LIKE '50\\%%'",
     "SELECT event_id FROM stg_events WHERE query LIKE '50\\%%' ESCAPE '\\'"),
    ("not a literal may hold a backslash",
     "SELECT event_id FROM stg_events WHERE query ILIKE event_type",
     "SELECT event_id FROM stg_events WHERE CONTAINS(query, event_type)"),
    ("an ESCAPE alike on both",
     "SELECT event_id FROM stg_events WHERE query LIKE 'a!b%' ESCAPE '!'",
     "SELECT event_id FROM stg_events WHERE query LIKE 'a!_b!!%' ESCAPE '!'"),
    ("compares text with DATE", "SELECT event_id FROM stg_events WHERE query = event_date",
     "SELECT event_id FROM stg_events WHERE TRY_CAST(query AS DATE) = event_date"),
    ("leaves ties",
     "SELECT ROW_NUMBER() OVER (PARTITION BY order_id ORDER BY ordered_at) AS n "
     "FROM stg_order_lines",
     "SELECT ROW_NUMBER() OVER (PARTITION BY order_id ORDER BY ordered_at, line_number) AS n "
     "FROM stg_order_lines"),
    ("leaves ties",  # a named window over a GROUP BY, whose key is what it groups by
     "WITH days AS (SELECT customer_id, order_date, COUNT(*) AS n FROM fact_sales "
     "GROUP BY customer_id, order_date) SELECT LAG(n) OVER w AS before FROM days "
     "WINDOW w AS (PARTITION BY customer_id ORDER BY n)",
     "WITH days AS (SELECT customer_id, order_date, COUNT(*) AS n FROM fact_sales "
     "GROUP BY customer_id, order_date) SELECT LAG(n) OVER w AS before FROM days "
     "WINDOW w AS (PARTITION BY customer_id ORDER BY n, order_date)"),
    ("leaves ties",  # a join to many rows: their key is needed too; to one row, it is not
     "SELECT ROW_NUMBER() OVER (ORDER BY l.order_id, l.line_number) AS n "
     "FROM stg_order_lines AS l JOIN dim_customer AS c ON c.customer_id = l.customer_id",
     "SELECT ROW_NUMBER() OVER (ORDER BY l.order_id, l.line_number) AS n "
     "FROM stg_order_lines AS l JOIN dim_product AS p ON p.product_id = l.product_id"),
    ("leaves ties", "SELECT order_id FROM stg_order_lines ORDER BY ordered_at LIMIT 5",
     "SELECT order_id FROM stg_order_lines ORDER BY ordered_at, order_id, line_number LIMIT 5"),
    ("leaves ties",  # a LIMIT on groups: their key is what they are grouped by
     "SELECT customer_id, COUNT(*) AS n FROM stg_events GROUP BY customer_id "
     "ORDER BY n DESC LIMIT 3",
     "SELECT customer_id, COUNT(*) AS n FROM stg_events GROUP BY customer_id "
     "ORDER BY n DESC, customer_id LIMIT 3"),
    ("leaves ties",  # Spark's translation keeps the first row of each by a ROW_NUMBER
     "SELECT DISTINCT ON (customer_id) customer_id, event_id FROM stg_events "
     "ORDER BY customer_id, occurred_at",
     "SELECT DISTINCT ON (customer_id) customer_id, event_id FROM stg_events "
     "ORDER BY customer_id, occurred_at, event_id"),
    ("LIMIT without ORDER BY", "SELECT order_id FROM stg_order_lines LIMIT 5",
     "SELECT order_id FROM stg_order_lines ORDER BY order_id, line_number LIMIT 5"),
]

ALIKE = [
    # Forms the rules must let through: they answer the same on both engines.
    "SELECT event_id FROM stg_events WHERE event_date = '2024-01-31' AND event_type = 'purchase'",
    "SELECT CAST(SUM(quantity) AS DOUBLE) / NULLIF(SUM(quantity), 0) AS r FROM stg_order_lines",
    "SELECT CAST(SUM(quantity) AS DOUBLE) / COUNT(*) AS r FROM stg_order_lines GROUP BY order_id",
    "SELECT order_date FROM stg_order_lines GROUP BY order_date HAVING SUM(quantity) > 0",
    "SELECT CAST(NULL AS VARCHAR) AS a, CAST('2024-01-31' AS DATE) AS b",
    # Cents times 100 are whole: the cast has nothing to round.
    "SELECT CAST(revenue * 10000 AS BIGINT) AS c FROM fact_sales",
    # Negative positions count from the end alike; no length, or start 1, cuts nothing.
    "SELECT SUBSTRING(event_id, -3, 2) AS a, SUBSTRING(event_id, 0) AS b, "
    "SUBSTRING(event_id, 1, LENGTH(event_id) - 1) AS c, SPLIT_PART(page_url, '/', -1) AS d "
    "FROM stg_events",
    "SELECT event_id FROM stg_events WHERE query ILIKE '%shoe_%' AND page_url NOT LIKE '/a%'",
    # Rows of a UNION ALL have no known key: the tie rule stays quiet rather than guess.
    "WITH seen AS (SELECT customer_id, ordered_at FROM stg_order_lines UNION ALL "
    "SELECT customer_id, valid_from FROM stg_customers) "
    "SELECT ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY ordered_at) AS n FROM seen",
]


@pytest.mark.parametrize(("reported", "hostile", "portable"), TRAPS,
                         ids=[f"{i}-{trap[0]}" for i, trap in enumerate(TRAPS)])
def test_a_rule_reports_its_trap_and_not_the_portable_form(reported: str, hostile: str,
                                                           portable: str) -> None:
    problems = portability_problems(hostile, INPUTS, KEYS)

    assert any(reported in problem for problem in problems), problems
    assert portability_problems(portable, INPUTS, KEYS) == []


@pytest.mark.parametrize("sql", ALIKE)
def test_what_agrees_on_both_engines_is_not_reported(sql: str) -> None:
    assert portability_problems(sql, INPUTS, KEYS) == []


def test_a_problem_names_its_line_expression_and_fix() -> None:
    sql = "SELECT\n    event_id,\n    hash(event_id) AS h\nFROM stg_events"

    assert portability_problems(sql, INPUTS, KEYS) == [
        "line 3: HASH(stg_events.event_id): a 64-bit hash on DuckDB, Spark's is a 32-bit "
        "Murmur3; use MD5"]


def test_sql_that_sqlglot_cannot_read_is_reported() -> None:
    (problem,) = portability_problems("SELECT (", INPUTS, KEYS)

    assert problem.startswith("sqlglot cannot read it")


def test_the_built_in_tables_are_portable() -> None:
    assert CATALOG.portability() == {}


def test_a_table_folder_with_a_trap_is_reported_by_file_but_still_refreshes(
        tmp_path: Path) -> None:
    folder = tmp_path / "more_tables"
    folder.mkdir()
    (folder / "kpi_order_hashes.sql").write_text(
        "-- curated/kpi_order_hashes\nSELECT order_id, hash(order_id) AS bucket\n"
        "FROM fact_sales\nGROUP BY order_id\n")
    (folder / "kpi_order_hashes.toml").write_text(
        'zone = "curated"\nstep = "kpis"\nwrite = "replace"\nkey = ["order_id"]\n')
    catalog = load_catalog(TABLES_FOLDER, folder)

    catalog.check()  # DuckDB runs it: the refresh is not refused
    assert catalog.portability() == {"kpi_order_hashes": [
        f"{folder / 'kpi_order_hashes.sql'}: line 2: HASH(fact_sales.order_id): a 64-bit "
        "hash on DuckDB, Spark's is a 32-bit Murmur3; use MD5"]}
