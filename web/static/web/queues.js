/* Queues (staff): the queue report, reloaded when jobs change (at most every 2 s) or on demand. */
(function () {
  "use strict";
  const reload = Stockhub.throttle(function () { Stockhub.reloadPart("queue_stats"); }, 2000);
  Stockhub.onEvent(function (event) {
    if (event.event === "job.status" || event.channel.indexOf("stockhub:processing:") === 0) reload();
  });
  Stockhub.onResync(function () { Stockhub.reloadPart("queue_stats"); });
  // Pause: nothing new starts from the queue, running tasks finish, queued work waits (docs/pipeline.md).
  document.addEventListener("click", async function (click) {
    const button = click.target.closest("button[data-action$='-queue']");
    if (!button) return;
    const verb = button.dataset.action === "pause-queue" ? "pause" : "resume";
    await Stockhub.api("POST", "/api/queues/" + button.dataset.queue + "/" + verb);
    Stockhub.reloadPart("queue_stats");
  });
  document.getElementById("refresh-queues").addEventListener("click", function () {
    Stockhub.reloadPart("queue_stats");
  });
})();
