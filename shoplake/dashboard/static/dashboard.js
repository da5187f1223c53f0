// The dashboard: every panel shows one KPI answer of the API (GET {api}/kpis/{name}) for
// the period and category picked; the forecast and at-risk panels show the nightly run's
// predictions (GET {api}/forecasts/revenue, GET {api}/customers/at-risk). In a file written
// by `shoplake dashboard --out`, the answers for each listed period and category, and the
// predictions, travel inside the page (config.snapshot).
(function () {
  "use strict";
  const config = JSON.parse(document.getElementById("shoplake-config").textContent);
  const snapshot = config.snapshot;
  const $ = (id) => document.getElementById(id);
  const charts = {};
  const answers = {};
  let overview = null;
  let renders = 0;
  let pending = 0;

  const number = new Intl.NumberFormat(undefined, { maximumFractionDigits: 0 });
  const money = new Intl.NumberFormat(undefined, { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  const percent = new Intl.NumberFormat(undefined, { style: "percent", maximumFractionDigits: 1 });
  const compact = new Intl.NumberFormat(undefined, { notation: "compact", maximumFractionDigits: 1 });
  const FORMATS = { net_revenue: money, average_order_value: money, conversion_rate: percent };
  // Twelve colours apart for any colour vision (Paul Tol's "muted" and "bright" schemes).
  const COLOURS = ["#4477aa", "#ee6677", "#228833", "#ccbb44", "#66ccee", "#aa3377", "#332288",
    "#dd7733", "#117733", "#999933", "#882255", "#bbbbbb"];
  const VALUE_AXIS = { type: "value", axisLabel: { formatter: (v) => compact.format(v) } };

  // -- data -------------------------------------------------------------------------

  function apiUrl(path) {
    const url = new URL(config.api + "/" + path, window.location.href);
    const key = new URLSearchParams(window.location.search).get("code");
    if (key) url.searchParams.set("code", key); // Azure's function key, passed on
    return url;
  }

  async function getJson(path) {
    const response = await fetch(apiUrl(path), { headers: { Accept: "application/json" } });
    const body = await response.json().catch(() => ({}));
    if (!response.ok) {
      throw Object.assign(new Error(body.message || response.status + " " + response.statusText),
        { status: response.status, body });
    }
    return body;
  }

  function filtersOf(name) {
    const spec = overview.kpis.find((kpi) => kpi.name === name);
    const filters = { from: $("from").value, to: $("to").value };
    if (spec.filters.includes("category") && $("category").value) filters.category = $("category").value;
    return filters;
  }

  async function kpi(name) {
    const filters = filtersOf(name);
    if (snapshot) {
      const key = [name, filters.from, filters.to, filters.category || ""].join("|");
      if (!(key in snapshot.answers)) throw new Error("this file holds the listed periods only");
      return snapshot.answers[key];
    }
    return getJson("kpis/" + name + "?" + new URLSearchParams(filters));
  }

  // -- charts -----------------------------------------------------------------------

  function chart(id, option, hasData, empty = "No data for this period.") {
    const element = $(id);
    if (!hasData) {
      if (charts[id]) { charts[id].dispose(); delete charts[id]; }
      element.innerHTML = '<p class="empty">' + escape(empty) + "</p>";
      return;
    }
    if (!charts[id]) {
      element.innerHTML = "";
      charts[id] = echarts.init(element, null, { renderer: "svg" });
    }
    charts[id].setOption(Object.assign({
      aria: { enabled: true },
      color: COLOURS,
      animation: false,
      tooltip: { trigger: "axis", confine: true },
      grid: { left: 8, right: 16, top: 36, bottom: 8, containLabel: true },
    }, option), { notMerge: true });
  }

  // Every day of the answer's period, so that a day without data shows as a gap.
  function daysOf(answer) {
    const days = [];
    for (let day = new Date(answer.filters.from + "T00:00:00Z"); day <= new Date(answer.filters.to + "T00:00:00Z");
      day.setUTCDate(day.getUTCDate() + 1)) days.push(day.toISOString().slice(0, 10));
    return days;
  }

  // A legend above the plot: room for it and for the axis names under it.
  const LEGEND_GRID = { left: 8, right: 16, top: 56, bottom: 8, containLabel: true };

  function drawRevenue(answer) {
    const dates = daysOf(answer);
    const categories = [...new Set(answer.rows.map((row) => row.category))];
    const value = {};
    answer.rows.forEach((row) => { value[row.category + "|" + row.order_date] = row.net_revenue; });
    chart("chart-revenue", {
      legend: { type: "scroll", top: 0 },
      grid: LEGEND_GRID,
      xAxis: { type: "category", data: dates, boundaryGap: false },
      yAxis: { ...VALUE_AXIS, name: "net revenue" },
      tooltip: { trigger: "axis", confine: true, valueFormatter: (v) => money.format(v) },
      series: categories.map((category) => ({
        name: category, type: "line", stack: "revenue", areaStyle: {}, showSymbol: false,
        data: dates.map((day) => value[category + "|" + day] ?? 0),
      })),
    }, answer.rows.length > 0);
  }

  function drawFunnel(answer) {
    const rows = answer.rows;
    const labels = { sessions: "Sessions", product_view: "Viewed a product", add_to_cart: "Added to cart", purchase: "Purchased" };
    chart("chart-funnel", {
      tooltip: { trigger: "item", confine: true, formatter: (p) => {
        const row = rows[rows.length - 1 - p.dataIndex];
        return labels[row.stage] + ": " + number.format(row.sessions) + " sessions<br>"
          + percent.format(row.share_of_sessions || 0) + " of sessions"
          + (row.rate_from_previous == null ? "" : ", " + percent.format(row.rate_from_previous) + " of the stage before");
      } },
      grid: { left: 8, right: 48, top: 16, bottom: 8, containLabel: true },
      xAxis: VALUE_AXIS,
      yAxis: { type: "category", data: rows.map((row) => labels[row.stage]).reverse() },
      series: [{ name: "Sessions", type: "bar", data: rows.map((row) => row.sessions).reverse(),
        label: { show: true, position: "right", formatter: (p) => percent.format(rows[rows.length - 1 - p.dataIndex].share_of_sessions || 0) } }],
    }, rows.length > 0 && rows[0].sessions > 0);
  }

  function drawCustomers(answer) {
    const rows = answer.rows;
    const days = daysOf(answer);
    const byDay = Object.fromEntries(rows.map((row) => [row.order_date, row]));
    const series = (name, column) => ({ name, type: "bar", stack: "customers",
      data: days.map((day) => (byDay[day] ? byDay[day][column] : 0)) });
    chart("chart-customers", {
      legend: { top: 0 },
      grid: LEGEND_GRID,
      xAxis: { type: "category", data: days },
      yAxis: { ...VALUE_AXIS, name: "customers" },
      series: [series("New", "new_customers"), series("Returning", "returning_customers")],
    }, rows.length > 0);
  }

  function drawProducts(answer) {
    const rows = answer.rows.slice().reverse();
    chart("chart-products", {
      tooltip: { trigger: "item", confine: true, formatter: (p) => {
        const row = rows[p.dataIndex];
        return escape(row.name || row.product_id) + " (" + escape(row.product_id) + ", " + escape(row.category) + ")<br>"
          + "net revenue " + money.format(row.net_revenue) + "<br>" + number.format(row.units_sold) + " units, "
          + number.format(row.orders) + " orders";
      } },
      xAxis: VALUE_AXIS,
      yAxis: { type: "category", data: rows.map((row) => row.name || row.product_id),
        axisLabel: { width: 150, overflow: "truncate" } },
      series: [{ name: "Net revenue", type: "bar", data: rows.map((row) => row.net_revenue) }],
    }, rows.length > 0);
  }

  function binLabel(row) {
    if (row.value_from == null) return "< 0";
    if (row.value_to == null) return "≥ " + number.format(row.value_from);
    return number.format(row.value_from) + "–" + number.format(row.value_to);
  }

  function drawDistribution(answer) {
    const rows = answer.rows;
    chart("chart-clv", {
      xAxis: { type: "category", data: rows.map(binLabel), name: "lifetime value", nameLocation: "middle", nameGap: 28 },
      yAxis: { ...VALUE_AXIS, name: "customers" },
      grid: { left: 8, right: 16, top: 36, bottom: 28, containLabel: true },
      series: [{ name: "Customers", type: "bar", barCategoryGap: "4%", data: rows.map((row) => row.customers) }],
    }, rows.some((row) => row.customers > 0));
  }

  function drawIngest(answer) {
    const rows = answer.rows;
    const dates = daysOf(answer);
    const outcomes = [...new Set(rows.map((row) => row.outcome))].sort((a, b) => (a === "landed" ? -1 : b === "landed" ? 1 : a.localeCompare(b)));
    const count = {};
    let received = 0, landed = 0;
    rows.forEach((row) => {
      const key = row.outcome + "|" + row.received_date;
      count[key] = (count[key] || 0) + row.records;
      received += row.records;
      if (row.outcome === "landed") landed += row.records;
    });
    const quarantined = received - landed;
    $("ingest-summary").textContent = "Received " + number.format(received) + " records: "
      + number.format(landed) + " landed, " + number.format(quarantined) + " quarantined"
      + (received ? " (" + percent.format(quarantined / received) + ")" : "") + ".";
    $("ingest-summary").dataset.received = received;
    $("ingest-summary").dataset.landed = landed;
    $("ingest-summary").dataset.quarantined = quarantined;
    // Quarantined records are a few per thousand: bars of their own, beside a line of landed.
    chart("chart-ingest", {
      legend: { type: "scroll", top: 0 },
      grid: LEGEND_GRID,
      xAxis: { type: "category", data: dates },
      yAxis: [{ ...VALUE_AXIS, name: "quarantined" }, { ...VALUE_AXIS, name: "landed", splitLine: { show: false } }],
      series: outcomes.map((outcome) => outcome === "landed"
        ? { name: "landed", type: "line", yAxisIndex: 1, symbol: "circle", symbolSize: 4, z: 3,
            data: dates.map((day) => count["landed|" + day] || 0) }
        : { name: outcome, type: "bar", stack: "quarantined",
            data: dates.map((day) => count[outcome + "|" + day] || 0) }),
    }, rows.length > 0);
  }

  // -- predictions: the revenue forecast, the customers at risk -----------------------
  // Not there before the first nightly run (the API answers 404): the panel says so, and
  // the page is still ready. Any other failure is reported as a KPI's is.

  const NO_RUN = "the nightly run (or shoplake forecast) makes them.";
  const RECENT_DAYS = 28; // actual revenue shown before the forecast

  async function forecast() {
    const category = $("category").value;
    if (snapshot) {
      const forecasts = snapshot.forecasts || {};
      if (category in forecasts) return forecasts[category];
      return { missing: Object.keys(forecasts).length ? "This file holds no forecast for " + category + "."
        : "No forecast when this file was written: " + NO_RUN };
    }
    try {
      return await getJson("forecasts/revenue" + (category ? "?" + new URLSearchParams({ category }) : ""));
    } catch (error) {
      if (error.status !== 404) throw error;
      return { missing: error.body && error.body.categories
        ? "No forecast for " + category + ": categories are forecast once they have enough sales history."
        : "No forecast yet: " + NO_RUN };
    }
  }

  async function atRisk() {
    if (snapshot) return snapshot.at_risk || { missing: "No customer values when this file was written: " + NO_RUN };
    try {
      return await getJson("customers/at-risk?limit=10");
    } catch (error) {
      if (error.status !== 404) throw error;
      return { missing: "No customer values yet: " + NO_RUN };
    }
  }

  function addDays(day, days) {
    const date = new Date(day + "T00:00:00Z");
    date.setUTCDate(date.getUTCDate() + days);
    return date.toISOString().slice(0, 10);
  }

  // The forecast after the actual revenue of its last weeks (where the period shown has
  // them: `revenue`, this render's revenue_by_category answer); the intervals are bands,
  // each the area of a series stacked on an invisible one at its lower bound.
  function drawForecast(answer, revenue) {
    const summary = $("forecast-summary");
    if (answer.missing) {
      summary.textContent = "";
      chart("chart-forecast", null, false, answer.missing);
      return;
    }
    const first = answer.days[0].date;
    const last = answer.days[answer.days.length - 1].date;
    const actual = {};
    let start = first;
    if (revenue && (revenue.filters.category || null) === answer.category) {
      revenue.rows.forEach((row) => { actual[row.order_date] = (actual[row.order_date] || 0) + row.net_revenue; });
      const from = [addDays(answer.as_of, 1 - RECENT_DAYS), revenue.filters.from].sort()[1];
      const to = [answer.as_of, revenue.filters.to].sort()[0];
      if (from <= to) start = from;
    }
    const days = [];
    for (let day = start; day <= last; day = addDays(day, 1)) days.push(day);
    const ahead = Object.fromEntries(answer.days.map((row) => [row.date, row]));
    const pick = (value) => days.map((day) => (ahead[day] ? value(ahead[day]) : null));
    const recent = days.map((day) => (day < first && day <= revenue?.filters.to ? actual[day] ?? 0 : null));
    const colour = "#aa3377";
    // Each band in its own shade (its legend's too): rgba of the forecast's colour.
    const band = (level, alpha) => {
      const lo = "lo_" + level, hi = "hi_" + level;
      const common = { type: "line", stack: "band " + level, stackStrategy: "all", showSymbol: false,
        lineStyle: { opacity: 0 }, color: "rgba(170, 51, 119, " + alpha + ")", tooltip: { show: false } };
      return [
        { ...common, name: level + "% lower bound", data: pick((row) => row[lo]) },
        { ...common, name: level + "% interval", areaStyle: { opacity: 1 },
          data: pick((row) => (row[lo] == null || row[hi] == null ? null : row[hi] - row[lo])) },
      ];
    };
    const range = (row, level) => (row["lo_" + level] == null ? ""
      : "<br>" + level + "%: " + money.format(row["lo_" + level]) + " – " + money.format(row["hi_" + level]));
    chart("chart-forecast", {
      legend: { top: 0, data: ["Actual", "Forecast", { name: "80% interval", icon: "rect" }, { name: "95% interval", icon: "rect" }] },
      grid: LEGEND_GRID,
      xAxis: { type: "category", data: days, boundaryGap: false },
      yAxis: { ...VALUE_AXIS, name: "net revenue" },
      tooltip: { trigger: "axis", confine: true, formatter: (points) => {
        const day = days[points[0].dataIndex];
        const row = ahead[day];
        if (!row) return day + "<br>actual " + money.format(actual[day] ?? 0);
        return day + "<br>forecast " + money.format(row.revenue) + range(row, 80) + range(row, 95);
      } },
      series: [
        ...band(95, 0.15), ...band(80, 0.25),
        { name: "Forecast", type: "line", color: colour, showSymbol: false, lineStyle: { type: "dashed" },
          data: pick((row) => row.revenue) },
        { name: "Actual", type: "line", color: COLOURS[0], showSymbol: false, data: recent },
      ],
    }, answer.days.length > 0);
    const backtest = answer.backtest || {};
    let text = (answer.category || "Whole shop") + ": forecast as of " + answer.as_of + " by " + answer.method;
    if (backtest.mase != null && backtest.baseline_mase != null) {
      text += "; in the backtest, MASE " + backtest.mase.toFixed(2) + " against seasonal naive's "
        + backtest.baseline_mase.toFixed(2);
    }
    if (backtest.coverage_80 != null) text += "; its 80% intervals held " + percent.format(backtest.coverage_80) + " of the days";
    summary.textContent = text + ".";
    Object.assign(summary.dataset, { asOf: answer.as_of, method: answer.method, modelVersion: answer.model_version });
  }

  function drawAtRisk(answer) {
    const body = $("at-risk").tBodies[0];
    const empty = (text) => {
      const td = body.insertRow().insertCell();
      td.colSpan = 6;
      td.className = "empty";
      td.textContent = text;
    };
    body.replaceChildren();
    if (answer.missing) {
      $("at-risk-summary").textContent = "";
      empty(answer.missing);
      return;
    }
    $("at-risk-summary").textContent = number.format(answer.customers_at_risk) + " of the "
      + number.format(answer.customers_valued) + " customers valued are at risk"
      + (answer.as_of ? " (as of " + answer.as_of + ")" : "") + ".";
    answer.customers.forEach((row) => {
      const tr = body.insertRow();
      tr.tabIndex = 0;
      tr.dataset.customer = row.customer_id;
      [[row.customer_id, ""], [money.format(row.revenue), "num"], [number.format(row.orders), "num"],
        [row.last_purchase, ""], [percent.format(row.probability_alive), "num"],
        [money.format(row.predicted_value_12m), "num"]].forEach(([text, kind]) => {
        const td = tr.insertCell();
        td.textContent = text;
        if (kind) td.className = kind;
      });
    });
    if (!answer.customers.length) empty("No customer is at risk.");
  }

  // -- headline, tables, recommendations ---------------------------------------------

  function drawHeadline(answer) {
    const cards = answer.rows.map((row) => {
      const format = FORMATS[row.metric] || number;
      const value = row.value == null ? "—" : format.format(row.value);
      let change = "no previous period";
      let direction = "";
      if (row.change != null) {
        direction = row.change > 0 ? "up" : row.change < 0 ? "down" : "";
        change = (row.change > 0 ? "▲ " : row.change < 0 ? "▼ " : "") + percent.format(Math.abs(row.change)) + " vs previous period";
      }
      const scope = !row.follows_category && $("category").value ? " (all categories)" : "";
      return '<div class="card" data-metric="' + row.metric + '"><div class="label">' + escape(row.label + scope)
        + '</div><div class="value">' + value + '</div><div class="change ' + direction + '">' + change + "</div></div>";
    });
    $("headline").innerHTML = cards.join("");
  }

  // Rows built as elements, not HTML: an id keeps every character (HTML turns CR LF into LF).
  function drawTopCustomers(answer) {
    const body = $("top-customers").tBodies[0];
    body.replaceChildren(...answer.rows.map((row) => {
      const tr = document.createElement("tr");
      tr.tabIndex = 0;
      tr.dataset.customer = row.customer_id;
      [[row.rank, ""], [row.customer_id, ""], [row.segment || "", ""], [number.format(row.orders), "num"],
        [money.format(row.lifetime_value), "num"]].forEach(([text, kind]) => {
        const td = tr.insertCell();
        td.textContent = text;
        if (kind) td.className = kind;
      });
      return tr;
    }));
    if (!answer.rows.length) {
      const td = body.insertRow().insertCell();
      td.colSpan = 5;
      td.className = "empty";
      td.textContent = "No new customers in this period.";
    }
  }

  async function showRecommendations(customer) {
    const target = $("recommendations");
    customer = customer.trim();
    if (!customer) return;
    $("customer").value = customer;
    target.innerHTML = '<p class="sub">Loading…</p>';
    try {
      let answer;
      if (snapshot) {
        answer = snapshot.recommendations[customer];
        if (!answer) throw new Error("this file holds the listed customers' recommendations only; serve the dashboard (shoplake serve) for any customer");
      } else {
        answer = await getJson("recommendations/" + encodeURIComponent(customer) + "?k=5");
      }
      const list = (products) => products.length ? "<ol>" + products.map((p) => "<li>" + escape(p.name || p.product_id)
        + ' <span class="sub">' + escape(p.category || "") + "</span></li>").join("") + "</ol>" : '<p class="sub">Nothing yet.</p>';
      target.innerHTML = '<p class="sub">' + escape(customer) + ": " + (answer.source === "popular" ? "not known yet: popular products" : "personal picks")
        + ' (model ' + escape(answer.model_version) + ')</p><div class="recs"><div><h3>New for you</h3>' + list(answer.new_for_you)
        + '</div><div><h3>Buy again</h3>' + list(answer.buy_again) + "</div></div>";
    } catch (error) {
      target.innerHTML = '<p class="sub">' + escape(error.message) + "</p>";
    }
  }

  function escape(text) {
    return String(text).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
  }

  // -- flow -------------------------------------------------------------------------

  const PANELS = {
    headline: drawHeadline, revenue_by_category: drawRevenue, conversion_funnel: drawFunnel,
    new_vs_returning: drawCustomers, top_products: drawProducts, customer_value_distribution: drawDistribution,
    customer_lifetime_value: drawTopCustomers, ingest_health: drawIngest,
  };

  async function render() {
    const ticket = ++pending;
    document.body.dataset.state = "loading";
    const names = Object.keys(PANELS);
    const [predicted, risk, ...results] = await Promise.allSettled([forecast(), atRisk(), ...names.map((name) => kpi(name))]);
    if (ticket !== pending) return; // a newer filter change is on its way
    const failures = [];
    names.forEach((name, index) => {
      const result = results[index];
      if (result.status === "fulfilled") {
        answers[name] = result.value;
        PANELS[name](result.value);
      } else {
        failures.push(name + ": " + result.reason.message);
      }
    });
    const revenue = results[names.indexOf("revenue_by_category")];
    [["forecast", predicted, (answer) => drawForecast(answer, revenue.status === "fulfilled" ? revenue.value : null)],
      ["at_risk", risk, drawAtRisk]].forEach(([name, result, draw]) => {
      const answer = result.status === "fulfilled" ? result.value : { missing: "Could not be loaded: " + result.reason.message };
      if (result.status !== "fulfilled") failures.push(name + ": " + result.reason.message);
      answers[name] = answer;
      draw(answer);
    });
    $("banner").hidden = failures.length === 0;
    $("banner").textContent = failures.length ? "Some panels could not be loaded — " + failures.join("; ") : "";
    document.body.dataset.renders = String(++renders);
    document.body.dataset.state = failures.length ? "error" : "ready";
  }

  function pickPeriod() {
    const period = overview.periods[$("period").selectedIndex];
    if (!period) return;
    $("from").value = period.from;
    $("to").value = period.to;
  }

  async function start() {
    try {
      overview = snapshot ? snapshot.overview : await getJson("kpis");
    } catch (error) {
      $("banner").hidden = false;
      $("banner").textContent = "The KPIs could not be loaded: " + error.message;
      document.body.dataset.state = "error";
      return;
    }
    const periods = overview.periods;
    // Options built as elements, not HTML: a value keeps every character (CR LF included).
    $("period").replaceChildren(...periods.map((p) => new Option(p.label)), ...(snapshot ? [] : [new Option("Custom")]));
    $("period").selectedIndex = Math.min(1, periods.length - 1); // the last 28 days, when there are as many
    $("category").append(...overview.categories.map((c) => new Option(c, c)));
    [$("from"), $("to")].forEach((input) => {
      input.min = overview.dates.first || "";
      input.max = overview.dates.last || "";
      input.disabled = Boolean(snapshot);
    });
    if (snapshot) {
      $("mode-note").hidden = false;
      $("mode-note").textContent = "A snapshot written " + snapshot.written_at + ": pick a listed period; any range, and any customer's recommendations, when served (shoplake serve, then /api/dashboard).";
    }
    $("foot").textContent = periods.length ? "Data from " + overview.dates.first + " to " + overview.dates.last
      + ". Tables as of their versions: " + Object.entries(overview.as_of).map(([t, v]) => t + " v" + v).join(", ") + "." : "No data yet: run a refresh.";
    pickPeriod();
    $("period").addEventListener("change", () => { pickPeriod(); render(); });
    ["from", "to"].forEach((id) => $(id).addEventListener("change", () => {
      if (!$("from").value || !$("to").value) return;
      $("period").selectedIndex = periods.length; // Custom
      render();
    }));
    $("category").addEventListener("change", render);
    $("customer-form").addEventListener("submit", (event) => { event.preventDefault(); showRecommendations($("customer").value); });
    ["top-customers", "at-risk"].forEach((id) => {
      $(id).addEventListener("click", (event) => {
        const row = event.target.closest("tr[data-customer]");
        if (row) showRecommendations(row.dataset.customer);
      });
      $(id).addEventListener("keydown", (event) => {
        const row = event.target.closest("tr[data-customer]");
        if (row && (event.key === "Enter" || event.key === " ")) { event.preventDefault(); showRecommendations(row.dataset.customer); }
      });
    });
    window.addEventListener("resize", () => Object.values(charts).forEach((c) => c.resize()));
    await render();
  }

  // For people reading the page's state, and for the browser tests.
  window.shoplake = { charts, answers, render, showRecommendations };
  start();
})();
