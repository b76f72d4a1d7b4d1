/* Dashboard: holdings and their freshness, the user's jobs, and the add-ticker box, all kept live. */
(function () {
  "use strict";
  const SYMBOL = /^[A-Za-z0-9.^-]{1,10}$/;

  const reloadHoldingsAndJobs = Stockhub.throttle(function () {
    Stockhub.reloadPart("holdings");
    Stockhub.reloadPart("jobs");
  }, 250);
  const reloadEntries = Stockhub.throttle(function () { Stockhub.reloadPart("ticker_entries"); }, 250);

  function markRefreshing(symbol) {
    document.querySelectorAll('#holdings tr[data-symbol="' + CSS.escape(symbol) + '"] .freshness').forEach(
      function (badge) {
        badge.className = "badge freshness refreshing";
        badge.dataset.freshness = "refreshing";
        badge.textContent = "refreshing";
      });
  }

  function showPhase(payload) {
    const row = document.querySelector('#ticker_entries tr[data-job-id="' + payload.job_id + '"]');
    if (!row) { reloadEntries(); return; }
    row.querySelector(".phase").textContent =
      "phase " + payload.phase_number + " of " + payload.phases + ": " + payload.phase;
    row.querySelector("progress").value = payload.percent;
    row.querySelector(".percent .value").textContent = payload.percent + "%";
    row.querySelector(".elapsed").textContent = payload.elapsed_seconds + " s";
    const badge = row.querySelector(".badge.status");
    badge.className = "badge status running";
    badge.textContent = "running";
  }

  Stockhub.onEvent(function (event) {
    const payload = event.payload || {};
    if (event.event === "job.status") {
      if (payload.status === "queued" || payload.status === "running") markRefreshing(payload.symbol);
      reloadHoldingsAndJobs();
      if (payload.kind === "add_ticker") reloadEntries();
    } else if (event.event === "ticker.progress") {
      showPhase(payload);
    } else if (event.event === "ticker.completed" || event.event === "ticker.failed") {
      showPhase(payload);
      reloadEntries();
      reloadHoldingsAndJobs();
    }
  });
  Stockhub.onResync(function () {
    ["holdings", "jobs", "ticker_entries"].forEach(Stockhub.reloadPart);
  });

  document.getElementById("add-ticker").addEventListener("submit", async function (submit) {
    submit.preventDefault();
    const input = document.getElementById("add-symbol");
    const message = document.getElementById("add-message");
    const symbol = input.value.trim();
    message.className = "message";
    if (!SYMBOL.test(symbol)) {
      message.className = "message error";
      message.textContent = "Use 1-10 characters of A-Z, 0-9, '.', '-' or '^' (e.g. AAPL, BRK.B, ^GSPC).";
      return;
    }
    const result = await Stockhub.api("POST", "/api/ticker-queue/add", { symbol: symbol });
    if (!result.ok) {
      message.className = "message error";
      message.textContent = Stockhub.errorText(result);
      return;
    }
    message.textContent = result.data.symbol + " queued (job " + result.data.id + ").";
    input.value = "";
    Stockhub.reloadPart("ticker_entries");
  });

  document.getElementById("ticker_entries").addEventListener("click", async function (click) {
    const button = click.target.closest("button[data-action]");
    if (!button) return;
    const action = button.dataset.action; // retry or cancel
    const result = await Stockhub.api("POST", "/api/ticker-queue/" + action + "/" + encodeURIComponent(button.dataset.symbol));
    const message = document.getElementById("add-message");
    message.className = result.ok ? "message" : "message error";
    message.textContent = result.ok ? button.dataset.symbol + ": " + action + " done." : Stockhub.errorText(result);
    Stockhub.reloadPart("ticker_entries");
  });
})();
