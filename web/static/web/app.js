/* StockHub pages: the live event stream, JSON calls with the CSRF token, and reloading a page's parts.
 *
 * One EventSource per page. The browser reconnects by itself after the server's `retry:` hint; when the
 * stream comes back (or was closed for good and we open a new one) the page reloads its parts from the
 * database, because Redis pub/sub keeps nothing for a page that was not listening.
 */
(function () {
  "use strict";

  const listeners = [];
  const resyncers = [];
  let source = null;
  let hadStream = false; // a stream was open before: the next hello is a reconnect
  let retryTimer = null;

  function setStatus(state, text) {
    const element = document.getElementById("live-status");
    if (element) {
      element.dataset.state = state;
      element.textContent = text;
    }
  }

  function connect() {
    const url = document.body.dataset.eventsUrl;
    source = new EventSource(url);
    source.addEventListener("hello", function (message) {
      const hello = JSON.parse(message.data);
      const reconnect = hadStream || hello.resumed;
      hadStream = true;
      setStatus("live", "live");
      if (reconnect) {
        Stockhub.reconnects += 1;
        resyncers.forEach(function (resync) { resync(); });
      }
    });
    source.addEventListener("unavailable", function () {
      setStatus("reconnecting", "events unavailable, retrying…");
    });
    source.onmessage = function (message) {
      const event = JSON.parse(message.data);
      Stockhub.events.push(event);
      if (Stockhub.events.length > 500) Stockhub.events.shift();
      listeners.forEach(function (listener) { listener(event); });
    };
    source.onerror = function () {
      setStatus("reconnecting", "reconnecting…");
      if (source.readyState === EventSource.CLOSED) {
        // The browser gave up (an HTTP error, not a dropped stream): open a new one ourselves.
        clearTimeout(retryTimer);
        retryTimer = setTimeout(connect, 3000);
      }
    };
  }

  function cookie(name) {
    const match = document.cookie.match(new RegExp("(?:^|; )" + name + "=([^;]*)"));
    return match ? decodeURIComponent(match[1]) : "";
  }

  async function api(method, url, body) {
    const response = await fetch(url, {
      method: method,
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": cookie("csrftoken") },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    let data = null;
    try { data = await response.json(); } catch (error) { data = null; }
    return { ok: response.ok, status: response.status, data: data };
  }

  /* The message of an API error: {"code","message"}, a DRF field error, or the status. */
  function errorText(result) {
    const data = result.data;
    if (data && typeof data === "object") {
      if (data.message) return data.message;
      const first = Object.values(data)[0];
      if (Array.isArray(first)) return String(first[0]);
      if (first) return String(first);
    }
    return "request failed (HTTP " + result.status + ")";
  }

  async function reloadPart(name) {
    const element = document.getElementById(name);
    if (!element) return;
    const url = new URL(window.location.href);
    url.searchParams.set("part", name);
    const response = await fetch(url, { credentials: "same-origin" });
    if (response.ok) element.innerHTML = await response.text();
  }

  /* Call `fn` at once, then at most once per `wait` ms while calls keep coming, and once after the last:
   * a run's events come in bursts, and one reload covers a burst. */
  function throttle(fn, wait) {
    let timer = null;
    let pending = false;
    function later() {
      timer = null;
      if (pending) {
        pending = false;
        fn();
        timer = setTimeout(later, wait);
      }
    }
    return function () {
      if (timer) { pending = true; return; }
      fn();
      timer = setTimeout(later, wait);
    };
  }

  window.Stockhub = {
    events: [], // every event received, newest last (also handy in the browser console)
    reconnects: 0,
    onEvent: function (listener) { listeners.push(listener); },
    onResync: function (resync) { resyncers.push(resync); },
    api: api,
    errorText: errorText,
    reloadPart: reloadPart,
    throttle: throttle,
  };
  document.addEventListener("DOMContentLoaded", connect);
})();
