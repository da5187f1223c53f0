"""The dashboard page and the self-contained file `shoplake dashboard` writes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from model.retrain import RetrainResult
from shared.analytics import KPIS, KpiReader
from shared.lake import Lake
from shoplake.cli import app
from shoplake.dashboard import build_snapshot, render_page

CONFIG = re.compile(r'<script id="shoplake-config" type="application/json">(.*?)</script>', re.S)


def config_of(page: str) -> dict:
    (found,) = CONFIG.findall(page)
    return json.loads(found)


def test_data_cannot_end_the_script_it_travels_in() -> None:
    hostile = {"answers": {"x": "</script><script>alert(1)</script><!--"}}
    page = render_page(api="", snapshot=hostile)
    assert "<script>alert(1)" not in page
    assert config_of(page)["snapshot"] == hostile
    assert page.count("</script>") == 3  # the config, the chart library, the dashboard


def test_slots_are_filled_once_whatever_the_data_holds() -> None:
    page = render_page(api="", snapshot={"name": "/*SCRIPT*/ /*ECHARTS*/"})
    assert config_of(page)["snapshot"] == {"name": "/*SCRIPT*/ /*ECHARTS*/"}


def test_the_snapshot_holds_every_listed_period_and_category(kpi_lake_dir: Path) -> None:
    reader = KpiReader(Lake.open(str(kpi_lake_dir)))
    snapshot = build_snapshot(reader, None)
    overview = snapshot["overview"]
    for period in overview["periods"]:
        for name, spec in KPIS.items():
            categories = [None, *overview["categories"]] if "category" in spec.filters else [None]
            for category in categories:
                key = "|".join([name, period["from"], period["to"], category or ""])
                answer = snapshot["answers"][key]
                assert answer["filters"]["from"] == period["from"]
                assert answer["filters"]["category"] == category
    assert snapshot["recommendations"] == {}


def test_the_command_writes_a_page_with_the_top_customers_recommendations(
        api_trained: tuple[Path, RetrainResult], tmp_path: Path) -> None:
    out = tmp_path / "page" / "dashboard.html"
    result = CliRunner().invoke(app, ["--lake", str(api_trained[0]), "dashboard", "--out",
                                      str(out)])
    assert result.exit_code == 0, result.output
    assert str(out.resolve()) in "".join(result.stderr.split())
    snapshot = config_of(out.read_text())["snapshot"]
    shown = {row["customer_id"] for key, answer in snapshot["answers"].items()
             if key.startswith("customer_lifetime_value|") for row in answer["rows"]}
    assert shown and set(snapshot["recommendations"]) == shown
    some = snapshot["recommendations"][min(shown)]
    assert some["source"] == "personal" and len(some["new_for_you"]) == 5


def test_the_command_says_how_to_install_the_chart_library(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from shoplake import dashboard

    monkeypatch.setattr(dashboard, "ECHARTS", tmp_path / "missing.js")
    result = CliRunner().invoke(app, ["--lake", str(tmp_path / "lake"), "dashboard", "--out",
                                      str(tmp_path / "d.html")])
    assert result.exit_code == 1
    assert "make assets" in result.stderr
    assert not (tmp_path / "d.html").exists()
