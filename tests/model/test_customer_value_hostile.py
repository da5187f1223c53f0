"""Customer value on hostile sales: spend that does not vary between customers, odd ids,
returns, zero and negative values, guests only; every written value finite and in range."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from lifetimes import BetaGeoFitter
from lifetimes.utils import ConvergenceError

from model import customer_value
from model.bgnbd import BgNbdFitter
from model.customer_value import (
    CUSTOMER_VALUE_SCHEMA,
    TABLE,
    fit_spend_model,
    predict_customer_value,
    purchase_summary,
)
from shared.lake import Lake, Zone
from tests.model.test_customer_value import SALES_SCHEMA

NOW = datetime(2026, 10, 6, 2, 0, tzinfo=UTC)
START = date(2026, 1, 1)

Line = tuple[str | None, int, float, bool]
"""customer_id, day (from START), revenue, is_return."""


def write_sales(lake: Lake, lines: list[Line]) -> None:
    rows = [{
        "order_id": f"O{number}", "line_number": 1, "order_date": START + timedelta(days=day),
        "ordered_at": datetime.combine(START + timedelta(days=day), datetime.min.time(), UTC),
        "customer_id": customer, "customer_key": None, "product_id": "P1", "category": "A",
        "quantity": -1 if is_return else 1, "unit_price": Decimal(f"{abs(value):.2f}"),
        "revenue": Decimal(f"{value:.2f}"), "currency": "GBP", "is_return": is_return,
        "country": None,
    } for number, (customer, day, value, is_return) in enumerate(lines)]
    with lake.writer():
        lake.write_table(pa.Table.from_pylist(rows, SALES_SCHEMA), Zone.CURATED,
                         "fact_sales", mode="overwrite", partition_by=["order_date"])


def shop_lines(customers: int = 200, days: int = 200, seed: int = 3) -> list[Line]:
    """Customers arriving over `days`, each buying at their own rate; every purchase's value
    drawn from one distribution for all (nobody is a bigger spender than another)."""
    rng = np.random.default_rng(seed)
    lines: list[Line] = []
    for number in range(customers):
        first = int(rng.integers(0, days))
        rate = rng.uniform(0.005, 0.1)
        lines += [(f"C{number}", day, round(float(rng.uniform(5, 100)), 2), False)
                  for day in range(first, days) if day == first or rng.random() < rate]
    return lines


def assert_sound(lake: Lake, at_risk_below: float = 0.5) -> pa.Table:
    """Every float finite, predictions non-negative, probabilities in [0, 1], at_risk as the
    threshold says."""
    table = lake.table(Zone.CURATED, TABLE).to_pyarrow_table()
    assert table.schema == CUSTOMER_VALUE_SCHEMA
    for name in ("expected_purchases_90d", "expected_purchases_365d", "probability_alive",
                 "expected_order_value", "predicted_value_12m"):
        values = table[name].to_numpy()
        assert np.isfinite(values).all() and (values >= 0).all(), name
    alive = table["probability_alive"].to_numpy()
    assert (alive <= 1).all()
    assert (table["at_risk"].to_numpy() == (alive < at_risk_below)).all()
    assert np.isfinite(table["revenue"].to_numpy()).all()
    return table


@pytest.mark.parametrize("spend", ["same distribution", "identical", "two values"])
def test_spend_that_does_not_vary_between_customers_is_fitted_within_bounds(spend: str
                                                                            ) -> None:
    """Gamma-Gamma's likelihood runs flat towards q, v -> infinity when customers' spend does
    not differ: the plain fit does not converge and the bounded retry must work."""
    rng = np.random.default_rng(0)
    frequency = rng.integers(1, 6, 200).astype(float)
    monetary_value = {
        "same distribution": np.array([rng.uniform(5, 100, int(f)).mean() for f in frequency]),
        "identical": np.full(200, 20.0),
        "two values": np.where(np.arange(200) % 2 == 0, 20.0, 30.0),
    }[spend]

    fitted = fit_spend_model(frequency, monetary_value)

    assert fitted.bounded_
    assert np.isfinite(fitted.params_.to_numpy()).all()
    expected = np.asarray(fitted.conditional_expected_average_profit(frequency,
                                                                     monetary_value))
    assert np.isfinite(expected).all() and (expected > 0).all()


def test_a_shop_of_alike_spenders_is_valued(tmp_path: Path) -> None:
    lake = Lake.open(str(tmp_path))
    write_sales(lake, shop_lines())

    result = predict_customer_value(lake, NOW)

    assert result.skipped is None and result.customers == 200
    assert_sound(lake)


def test_one_time_buyers_are_valued_when_few_seem_to_drop_out(tmp_path: Path) -> None:
    """Customers who keep buying at their own rate: BG/NBD fits a + b < 1, where lifetimes'
    expected purchases of a one-time buyer were NaN (the log of a negative hypergeometric
    term) and the nightly step failed."""
    lake = Lake.open(str(tmp_path))
    write_sales(lake, shop_lines(seed=9))

    result = predict_customer_value(lake, NOW)

    assert result.skipped is None and result.customers == 200
    table = assert_sound(lake)
    one_time = pc.equal(table["frequency"], 0)
    assert pc.min(pc.filter(table["expected_purchases_365d"], one_time)).as_py() > 0


def test_expected_purchases_where_the_hypergeometric_term_is_negative() -> None:
    """Against a Monte Carlo of two million BG/NBD customers with these parameters, none
    buying again in the 100 days since their first purchase: 0.7183, 2.1440 and 8.641
    purchases in the next 30, 90 and 365 days."""
    fitter = BgNbdFitter()
    fitter.params_ = pd.Series({"r": 4.1159, "alpha": 70.979, "a": 0.0012658, "b": 0.078116})

    expected = [float(fitter.conditional_expected_number_of_purchases_up_to_time(
        t, np.array([0.0]), np.array([0.0]), np.array([100.0]))[0]) for t in (30, 90, 365)]

    assert expected == pytest.approx([0.7183, 2.1440, 8.641], rel=2e-3)
    # Where lifetimes' own expectation is defined, the same.
    lifetimes = BetaGeoFitter()
    lifetimes.params_ = fitter.params_
    histories = (np.array([0.0, 1, 5, 40]), np.array([0.0, 10, 60, 190]),
                 np.array([100.0, 50, 150, 200]))
    assert np.allclose(
        fitter.conditional_expected_number_of_purchases_up_to_time(10, *histories),
        lifetimes.conditional_expected_number_of_purchases_up_to_time(10, *histories))


def spenders(customers: int, seed: int, spread: float) -> list[Line]:
    """Customers with their own mean spend, drawn from a Pareto tail of index `spread` (below
    one: a few customers spend without bound)."""
    rng = np.random.default_rng(seed)
    lines: list[Line] = []
    for number in range(customers):
        first, rate = int(rng.integers(0, 200)), rng.uniform(0.01, 0.1)
        mean = (rng.pareto(spread) + 1) * 10
        lines += [(f"C{number}", day, round(float(rng.gamma(2, mean / 2)), 2), False)
                  for day in range(first, 200) if day == first or rng.random() < rate]
    return lines


def test_repeat_days_worth_nothing_or_less_are_valued_at_the_mean(tmp_path: Path) -> None:
    """Free items and adjustment lines (positive quantity, zero or negative value): a repeat
    buyer whose repeat days were worth -400 was expected to spend below zero."""
    lines = spenders(300, seed=5, spread=3.0)
    lines += [("NEG", 10, 50.0, False), *(("NEG", day, -400.0, False) for day in (20, 30, 40)),
              ("ZERO", 10, 50.0, False), ("ZERO", 20, 0.0, False), ("ZERO", 30, 0.0, False)]
    lake = Lake.open(str(tmp_path))
    write_sales(lake, lines)

    assert predict_customer_value(lake, NOW).skipped is None

    table = assert_sound(lake).to_pandas().set_index("customer_id")
    one_time = table[table["frequency"] == 0]["expected_order_value"]
    # No evidence of their spend: the population's mean, as for a one-time buyer.
    assert table.at["NEG", "expected_order_value"] == pytest.approx(one_time.iloc[0])
    assert table.at["ZERO", "expected_order_value"] == pytest.approx(one_time.iloc[0])
    assert table.at["NEG", "revenue"] == -1150


def test_spend_without_a_finite_mean_skips_and_keeps_the_table(tmp_path: Path) -> None:
    """A few customers spending without bound: Gamma-Gamma fits q < 1, where its mean spend
    is infinite and its expected values came out negative. The run is skipped with the
    reason; the previous table stays."""
    lake = Lake.open(str(tmp_path))
    write_sales(lake, shop_lines())
    first = predict_customer_value(lake, NOW)
    write_sales(lake, spenders(300, seed=4, spread=0.8))

    result = predict_customer_value(lake, NOW + timedelta(days=1))

    assert result.version is None and result.skipped is not None
    assert "q = 0.97" in result.skipped
    assert set(assert_sound(lake)["model_version"].to_pylist()) == {first.version}


def test_a_fit_without_finite_predictions_skips_and_keeps_the_table(tmp_path: Path) -> None:
    """Thousands of identical histories: the fit runs to the bounds (no heterogeneity to
    learn) where the hypergeometric terms are not finite. That is a skip with the reason,
    not a failed nightly run, and the previous table stays."""
    lake = Lake.open(str(tmp_path))
    write_sales(lake, shop_lines())
    first = predict_customer_value(lake, NOW)
    write_sales(lake, [*((f"C{n}", day, 20.0, False) for n in range(5000) for day in (0, 10)),
                       ("Z", 20, 1.0, False)])

    result = predict_customer_value(lake, NOW + timedelta(days=1))

    assert result.version is None and "not finite" in (result.skipped or "")
    assert set(assert_sound(lake)["model_version"].to_pylist()) == {first.version}


def test_the_purchase_summary_is_the_same_on_every_read(tmp_path: Path) -> None:
    """Mean repeat values were averaged as doubles in parallel, so their last bits changed
    from read to read, and with them whether a fit on a flat likelihood converged."""
    lake = Lake.open(str(tmp_path))
    write_sales(lake, shop_lines())

    reads = {purchase_summary(lake, START + timedelta(days=199))["monetary_value"]
             .to_numpy().tobytes() for _ in range(4)}

    assert len(reads) == 1


def unconverging_spend() -> tuple[np.ndarray, np.ndarray]:
    """Repeat buyers whose spend is alike, on which even the bounded Gamma-Gamma search
    ends in a failed line search."""
    rng = np.random.default_rng(189)
    frequency = rng.integers(1, 10, int(rng.integers(20, 300))).astype(float)
    return frequency, np.array([rng.gamma(4, 12, int(f)).mean() for f in frequency])


def test_models_that_do_not_converge_skip_and_keep_the_table(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConvergenceError):
        fit_spend_model(*unconverging_spend())
    lake = Lake.open(str(tmp_path))
    write_sales(lake, shop_lines())
    first = predict_customer_value(lake, NOW)
    monkeypatch.setattr(customer_value, "fit_spend_model",
                        lambda *_: fit_spend_model(*unconverging_spend()))

    result = predict_customer_value(lake, NOW + timedelta(days=1))

    assert result.version is None and "did not converge" in (result.skipped or "")
    assert set(assert_sound(lake)["model_version"].to_pylist()) == {first.version}


def test_odd_ids_returns_and_guests_beside_a_shop(tmp_path: Path) -> None:
    """Quotes, emoji, a newline, an empty and a very long id; customers who only returned;
    guests; a 1e12 order: every buyer valued, nobody else."""
    odd = {"C1": "it's \"q\"", "C2": "🛒", "C3": "a\nb", "C4": "x" * 5000, "C5": ""}
    lines = [(odd.get(customer or "", customer), day, value, is_return)
             for customer, day, value, is_return in shop_lines(seed=11)]
    lines += [(f"R{n}", n, -10.0, True) for n in range(20)]
    lines += [(None, n, 15.0, False) for n in range(50)]
    lines += [("C6", 150, 1e12, False)]
    lake = Lake.open(str(tmp_path))
    write_sales(lake, lines)

    assert predict_customer_value(lake, NOW).skipped is None

    customers = set(assert_sound(lake)["customer_id"].to_pylist())
    assert customers == {f"C{n}" for n in (0, *range(6, 200))} | set(odd.values())


@pytest.mark.parametrize(("lines", "reason"), [
    ([], "is empty"),
    ([(None, n, 15.0, False) for n in range(50)], "no purchases by signed-in customers"),
    ([(f"C{n}", n, 15.0, False) for n in range(50)], "0 customers bought again"),
    ([(f"C{n}", 0, 15.0, False) for n in range(50)], "first purchase is on the last day"),
], ids=["empty", "guests", "once-each", "one-day"])
def test_sales_without_a_fit_are_skipped(tmp_path: Path, lines: list[Line], reason: str
                                         ) -> None:
    lake = Lake.open(str(tmp_path))
    write_sales(lake, lines)

    result = predict_customer_value(lake, NOW)

    assert result.version is None and reason in (result.skipped or "")
    assert not lake.table_exists(Zone.CURATED, TABLE)
