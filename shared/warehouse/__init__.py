"""The star schema: SQL transforms (`sql/`), their declarations (`models.py`) and the
incremental refresh that runs them on DuckDB and writes Delta tables (`refresh.py`)."""
