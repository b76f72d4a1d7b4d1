/* Pipeline (staff): the current run's progress live from its events, trigger, schedule, history, retry. */
(function () {
  "use strict";

  const reloadRun = Stockhub.throttle(function () { Stockhub.reloadPart("current_run"); }, 250);
  const reloadHistory = Stockhub.throttle(function () { Stockhub.reloadPart("history"); }, 250);

  function field(name, text) {
    const element = document.querySelector('#current_run [data-field="' + name + '"]');
    if (element) element.textContent = text;
  }

  function showProgress(run) {
    const shown = document.querySelector("#current_run .run");
    if (!shown || Number(shown.dataset.runId) !== run.run_id) { reloadRun(); return; }
    document.getElementById("run-progress").value = run.percent;
    field("percent", run.percent.toFixed(1) + "%");
    field("phase", (run.phase || "—") + " (" + run.phase_number + " of " + run.phases.length + ")");
    field("done", run.done);
    field("failed", run.failed);
    field("total", run.total);
    field("symbols_per_minute", run.symbols_per_minute === null ? "—" : run.symbols_per_minute);
    field("eta_seconds", run.status === "paused" ? "paused" : run.eta_seconds === null ? "—" : Math.round(run.eta_seconds) + " s");
    field("current_symbol", run.current_symbol || "—");
    field("status", run.status);
    shown.dataset.status = run.status;
  }

  Stockhub.onEvent(function (event) {
    if (event.channel.indexOf("stockhub:processing:") === 0) {
      showProgress(event.payload);
      if (event.event.indexOf("run.") === 0) { reloadRun(); reloadHistory(); }
    } else if (event.event === "symbol.failed") {
      reloadRun(); // the failures table
    }
  });
  Stockhub.onResync(function () {
    ["market", "current_run", "history"].forEach(Stockhub.reloadPart);
  });

  function say(id, result, ok) {
    const element = document.getElementById(id);
    element.className = result.ok ? "message" : "message error";
    element.textContent = result.ok ? ok : Stockhub.errorText(result);
  }

  document.getElementById("trigger").addEventListener("submit", async function (submit) {
    submit.preventDefault();
    const form = new FormData(submit.target);
    const result = await Stockhub.api("POST", "/api/processing/trigger-manual", {
      universe: form.get("universe"),
      phases: form.getAll("phases"),
      timeframe: form.get("timeframe"),
    });
    say("trigger-message", result, result.ok ? "Run " + result.data.run_id + " started over " + result.data.symbols + " symbols." : "");
    if (result.ok) { reloadRun(); reloadHistory(); }
  });

  document.getElementById("schedule").addEventListener("submit", async function (submit) {
    submit.preventDefault();
    const form = new FormData(submit.target);
    const result = await Stockhub.api("POST", "/api/processing/schedule", {
      enabled: form.get("enabled") === "on",
      time: form.get("time"),
      days: form.getAll("days"),
    });
    say("schedule-message", result, "Schedule saved.");
  });

  document.addEventListener("click", async function (click) {
    const button = click.target.closest("button[data-action]");
    if (!button) return;
    const runId = button.dataset.runId;
    let result;
    if (button.dataset.action === "retry-run") {
      result = await Stockhub.api("POST", "/api/processing/retry/" + runId);
      say("trigger-message", result, result.ok ? "Run " + result.data.run_id + " retries " + result.data.symbols + " failed symbols." : "");
    } else if (button.dataset.action === "pause-run" || button.dataset.action === "resume-run") {
      const verb = button.dataset.action === "pause-run" ? "pause" : "resume";
      result = await Stockhub.api("POST", "/api/processing/" + verb + "/" + runId);
      say("trigger-message", result, "Run " + runId + (verb === "pause" ? " paused." : " resumed."));
    } else if (button.dataset.action === "cancel-run") {
      result = await Stockhub.api("DELETE", "/api/processing/cancel/" + runId);
      say("trigger-message", result, "Run " + runId + " cancelled.");
    } else {
      return;
    }
    reloadRun();
    reloadHistory();
  });
})();
