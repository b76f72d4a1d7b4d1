/* Ticker page: candles, volume and the chosen indicators (lightweight-charts, vendored), pattern markers and
 * table; reloaded when a fetch of this ticker ends or a pattern is detected on it. */
(function () {
  "use strict";
  const page = document.getElementById("ticker-page");
  const symbol = page.dataset.symbol;
  const BAR_LIMIT = 1000;
  const COLORS = ["#2962ff", "#ff6d00", "#9c27b0", "#00897b", "#c2185b", "#6d4c41", "#546e7a", "#fbc02d"];

  const chartOptions = {
    layout: { background: { color: "#ffffff" }, textColor: "#333" },
    grid: { vertLines: { color: "#f0f0f0" }, horzLines: { color: "#f0f0f0" } },
    timeScale: { timeVisible: true, secondsVisible: false },
    autoSize: true,
  };
  const priceChart = LightweightCharts.createChart(document.getElementById("price-chart"), chartOptions);
  const oscillatorChart = LightweightCharts.createChart(document.getElementById("oscillator-chart"), chartOptions);
  const candles = priceChart.addCandlestickSeries();
  const volume = priceChart.addHistogramSeries({ priceFormat: { type: "volume" }, priceScaleId: "volume" });
  priceChart.priceScale("volume").applyOptions({ scaleMargins: { top: 0.8, bottom: 0 } });
  let lines = [];

  // Both panes scroll and zoom together.
  let syncing = false;
  function follow(from, to) {
    from.timeScale().subscribeVisibleLogicalRangeChange(function (range) {
      if (syncing || range === null) return;
      syncing = true;
      to.timeScale().setVisibleLogicalRange(range);
      syncing = false;
    });
  }
  follow(priceChart, oscillatorChart);
  follow(oscillatorChart, priceChart);

  function seconds(ts) { return Math.floor(Date.parse(ts) / 1000); }

  function chosenIndicators() {
    return Array.from(document.querySelectorAll('input[name="indicator"]:checked')).map(function (box) {
      return { name: box.value, outputs: box.dataset.outputs.split(","), overlay: box.dataset.overlay === "1" };
    });
  }

  async function load() {
    const timeframe = document.getElementById("timeframe").value;
    const message = document.getElementById("chart-message");
    const chosen = chosenIndicators();
    const base = encodeURIComponent(symbol) + "?timeframe=" + timeframe;
    const requests = [
      Stockhub.api("GET", "/api/bars/" + base + "&limit=" + BAR_LIMIT),
      Stockhub.api("GET", "/api/patterns/" + base + "&limit=500"),
    ];
    if (chosen.length) {
      const names = chosen.map(function (indicator) { return indicator.name; }).join(",");
      requests.push(Stockhub.api("GET", "/api/indicators/" + base + "&limit=" + BAR_LIMIT + "&names=" + names));
    }
    const [bars, patterns, values] = await Promise.all(requests);
    if (!bars.ok) { message.className = "message error"; message.textContent = Stockhub.errorText(bars); return; }
    message.className = "message";
    message.textContent = bars.data.count ? bars.data.count + " " + timeframe + " bars" : "No " + timeframe + " bars stored yet.";
    candles.setData(bars.data.bars.map(function (bar) {
      return { time: seconds(bar.ts), open: bar.open, high: bar.high, low: bar.low, close: bar.close };
    }));
    volume.setData(bars.data.bars.map(function (bar) {
      return { time: seconds(bar.ts), value: bar.volume, color: bar.close >= bar.open ? "#26a69a80" : "#ef535080" };
    }));
    drawIndicators(chosen, values && values.ok ? values.data.rows : [], timeframe);
    showPatterns(patterns.ok ? patterns.data.events : []);
    priceChart.timeScale().fitContent();
  }

  function drawIndicators(chosen, rows, timeframe) {
    lines.forEach(function (line) { line.chart.removeSeries(line.series); });
    lines = [];
    let color = 0;
    chosen.forEach(function (indicator) {
      if (indicator.name === "vwap" && timeframe !== "hourly") return; // intraday only
      indicator.outputs.forEach(function (column) {
        if (column === "bb_percent_b") return; // a ratio, not a price: the bands say the same
        const chart = indicator.overlay ? priceChart : oscillatorChart;
        const style = column === "macd_hist"
          ? chart.addHistogramSeries({ color: "#90a4ae", title: column })
          : chart.addLineSeries({ color: COLORS[color++ % COLORS.length], lineWidth: 1, title: column,
                                  priceLineVisible: false, lastValueVisible: false });
        style.setData(rows.filter(function (row) { return row[column] !== null && row[column] !== undefined; })
          .map(function (row) { return { time: seconds(row.ts), value: row[column] }; }));
        lines.push({ chart: chart, series: style });
      });
    });
    document.getElementById("oscillator-chart").hidden = !lines.some(function (line) { return line.chart === oscillatorChart; });
  }

  function showPatterns(events) {
    const markers = events.slice().sort(function (a, b) { return seconds(a.ts) - seconds(b.ts); }).map(function (event) {
      const bullish = event.direction === "bullish";
      const bearish = event.direction === "bearish";
      return {
        time: seconds(event.ts),
        position: bearish ? "aboveBar" : "belowBar",
        color: bullish ? "#2e7d32" : bearish ? "#c62828" : "#757575",
        shape: bullish ? "arrowUp" : bearish ? "arrowDown" : "circle",
        // no text: twenty kinds' names would cover the candles; the table below names each marker
      };
    });
    candles.setMarkers(markers);
    const body = document.querySelector("#patterns tbody");
    body.innerHTML = "";
    if (!events.length) {
      body.innerHTML = '<tr><td colspan="4" class="muted">No pattern detected in this timeframe.</td></tr>';
      return;
    }
    events.forEach(function (event) {
      const row = document.createElement("tr");
      row.className = event.direction;
      [event.ts.slice(0, 16).replace("T", " "), event.kind.replace(/_/g, " "), event.direction, event.strength.toFixed(2)]
        .forEach(function (text, index) {
          const cell = document.createElement("td");
          cell.textContent = text;
          if (index === 3) cell.className = "num";
          row.appendChild(cell);
        });
      body.appendChild(row);
    });
  }

  const reload = Stockhub.throttle(load, 1000);
  document.getElementById("chart-options").addEventListener("change", load);
  Stockhub.onEvent(function (event) {
    const payload = event.payload || {};
    if (payload.symbol !== symbol) return;
    if (event.event === "pattern.detected" || event.event === "ticker.completed" ||
        (event.event === "job.status" && payload.status === "succeeded")) reload();
  });
  Stockhub.onResync(load);
  load();
})();
