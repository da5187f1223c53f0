-- Generated from shoplake/serverless_sql.py by `shoplake synapse sql --write`: do not edit.
-- The database Power BI connects to (run in master). UTF-8 collation: Parquet's strings are UTF-8.
IF DB_ID(N'shoplake') IS NULL
    CREATE DATABASE shoplake COLLATE Latin1_General_100_BIN2_UTF8;
GO
