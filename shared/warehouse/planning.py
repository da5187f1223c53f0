"""What a refresh must rebuild, from the lake's listing and the last watermark.

Planning reads sources only: which raw event dates changed, which landed files are new
(and the dates and business keys their rows touch, with those of the rows they replace).
What each table then rebuilds follows from the specs: a partitioned table rebuilds the
dates of the table that drives it (and those its changed dimensions add), a replaced table
is rebuilt when any input changed, a merged table recomputes the keys the plan names.
"""

from __future__ import annotations

from datetime import date

import pyarrow.compute as pc
import pyarrow.dataset as ds

from shared.landed import landed_rows
from shared.warehouse.session import RefreshSession, values
from shared.warehouse.sources import table_input
from shared.warehouse.specs import CALENDAR, LANDED, RAW_EVENTS, Step, TableSpec, Write
from shared.warehouse.state import Plan, fingerprint


def plan_changes(session: RefreshSession, full: bool) -> Plan:
    catalog = session.catalog
    partitioned = catalog.step(Step.PARTITION)
    if full:
        # Every partition there is or was: a date whose files vanished is emptied.
        return Plan(full=True,
                    dates={spec.name: session.all_dates(spec) | session.partition_dates(spec)
                           for spec in partitioned},
                    changed_sources=set(LANDED), keys=dict.fromkeys(catalog.merge_keys()),
                    snapshot=session.snapshot)
    previous = session.previous
    before = previous.event_partitions
    event_dates = {d for d, files in session.raw_files.items()
                   if before.get(d.isoformat()) != fingerprint(files)}
    event_dates |= {date.fromisoformat(d) for d in before} - set(session.raw_files)
    new_files = {view: sorted(set(names) - set(previous.landed.get(LANDED[view].value, [])))
                 for view, names in session.landed.items()}
    plan = Plan(changed_sources={view for view, names in new_files.items() if names},
                keys={key: set() for key in catalog.merge_keys()}, snapshot=session.snapshot)
    for spec in partitioned:
        ((source, _),) = spec.inputs.items()
        if source == RAW_EVENTS:
            plan.dates[spec.name] = set(event_dates)
        else:
            plan.dates[spec.name] = _touched(session, spec, new_files[source], plan.keys)
        if not session.exists(spec):  # new or deleted: every date (steps write dates apart)
            plan.dates[spec.name] |= session.all_dates(spec)
    for view, names in new_files.items():  # inputs read whole (snapshots): their keys
        if names and not any(view in spec.inputs for spec in partitioned):
            _add_keys(session, view, landed_rows(session.lake, LANDED[view], names), plan.keys)
    for spec in catalog:
        if spec.merge and not session.exists(spec):
            plan.keys[spec.merge.by] = None
    return plan


def _merge_keys_of(session: RefreshSession, view: str, columns: list[str]) -> list[str]:
    """The business keys of merged tables built on `view` that its rows carry."""
    return sorted({spec.merge.by for spec in session.catalog
                   if spec.merge and view in session.catalog.sources(spec)
                   and spec.merge.by in columns})


def _add_keys(session: RefreshSession, view: str, rows: ds.Dataset,
              keys: dict[str, set[str] | None]) -> None:
    session.planner.bind("new_rows", rows)
    for column in _merge_keys_of(session, view, rows.schema.names):
        if keys[column] is not None:
            keys[column] |= values(session.planner.table(
                f"SELECT DISTINCT {column} FROM new_rows WHERE {column} IS NOT NULL"))


def _touched(session: RefreshSession, spec: TableSpec, new_files: list[str],
             keys: dict[str, set[str] | None]) -> set[date]:
    """Dates (and business keys) of a dated landed input's new rows and of the rows of
    the table they replace (same key)."""
    if not new_files:
        return set()
    ((view, dated),) = spec.inputs.items()
    engine = session.planner
    found = landed_rows(session.lake, LANDED[view], new_files)
    business = _merge_keys_of(session, view, found.schema.names)
    new_rows = found.to_table(columns=sorted({*spec.key, *business,
                                              *_columns(dated.dates, found.schema.names)}))
    engine.bind("new_rows", new_rows)
    selected = ", ".join([f"{dated.dates} AS touched_date", *business])
    sql = f"SELECT {selected} FROM new_rows"
    if session.exists(spec) and new_rows.num_rows:
        # The rows these replace; the range of the key's first column lets Parquet
        # statistics skip files.
        first, last = (v.as_py() for v in pc.min_max(new_rows[spec.key[0]]).values())
        engine.bind("current_rows", table_input(session.lake, session.delta(spec)))
        sql += (f" UNION ALL SELECT {', '.join([spec.date_column, *business])}"
                f" FROM current_rows SEMI JOIN new_rows USING ({', '.join(spec.key)})"
                f" WHERE {spec.key[0]} BETWEEN {_literal(first)} AND {_literal(last)}")
    engine.bind("touched", engine.table(sql))
    for column in business:
        if keys[column] is not None:
            keys[column] |= values(engine.table(
                f"SELECT DISTINCT {column} FROM touched WHERE {column} IS NOT NULL"))
    return values(engine.table("SELECT DISTINCT touched_date FROM touched"))


def dates_for(session: RefreshSession, plan: Plan, spec: TableSpec) -> set[date]:
    """The dates a partitioned table rebuilds: those of the table driving it, and those
    its changed dimensions added."""
    dates = set(plan.dates.get(spec.name, set())) | plan.extra_dates.get(spec.name, set())
    driver = session.catalog.dated_table_input(spec)
    if driver is not None:
        dates |= dates_for(session, plan, driver[0])
    return dates


def input_changed(session: RefreshSession, plan: Plan, name: str) -> bool:
    """Whether a plan changes what the named input holds."""
    catalog = session.catalog
    if name in LANDED:
        return name in plan.changed_sources
    if name == RAW_EVENTS:
        return any(plan.dates.get(spec.name) for spec in catalog.step(Step.PARTITION)
                   if RAW_EVENTS in spec.inputs)
    if name == CALENDAR:
        return plan.calendar != session.previous.calendar
    spec = catalog[name]
    if spec.write is Write.PARTITIONS:
        return bool(dates_for(session, plan, spec))
    if spec.write is Write.MERGE:
        return name in plan.changed
    return any(input_changed(session, plan, read) for read in spec.reads)


def _columns(expression: str, names: list[str]) -> list[str]:
    """The columns an SQL expression names."""
    return [name for name in names if name in expression.replace("(", " ").replace(")", " ")
            .split()]


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
