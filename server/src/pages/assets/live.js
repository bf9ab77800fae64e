// atuin-bootstrap's pages, kept live: the status page refreshes its sections every few
// seconds; a running job's page follows its log as a stream and its progress, and shows
// the ending when it comes. Without this script every page is complete as served. Text
// from the server is only ever inserted as text, or as the server's own escaped HTML.
"use strict";
(function () {
  var main = document.querySelector("main");
  var live = document.getElementById("live");
  if (!main) return;

  function mark(text) { if (live) live.textContent = text; }

  function fetchText(url) {
    return fetch(url, { cache: "no-store" }).then(function (r) {
      if (!r.ok) throw new Error(url + ": " + r.status);
      return r.text();
    });
  }

  // Puts the sections of a freshly served page in place of the old ones, one by one, so
  // what did not change (a selection in the cache snippet, the log) is left alone.
  function swap(html, keep) {
    var next = new DOMParser().parseFromString(html, "text/html").querySelector("main");
    if (!next) return;
    for (var name in next.dataset) main.dataset[name] = next.dataset[name];
    var fresh = next.querySelectorAll(":scope > section[id]");
    var old = main.querySelectorAll(":scope > section[id]");
    var same = fresh.length === old.length;
    for (var i = 0; same && i < fresh.length; i++) same = fresh[i].id === old[i].id;
    if (!same) {
      var kept = keep ? document.getElementById(keep) : null;
      main.innerHTML = next.innerHTML;
      var spot = kept ? document.getElementById(keep) : null;
      if (spot) spot.replaceWith(kept);
      return;
    }
    for (var j = 0; j < fresh.length; j++) {
      if (fresh[j].id !== keep && fresh[j].innerHTML !== old[j].innerHTML) {
        old[j].innerHTML = fresh[j].innerHTML;
        old[j].className = fresh[j].className;
      }
    }
  }

  // Copy buttons: shown only when this script runs.
  document.addEventListener("click", function (event) {
    var button = event.target.closest("button[data-copy]");
    if (!button) return;
    var source = document.getElementById(button.dataset.copy);
    if (!source) return;
    var range = document.createRange();
    range.selectNodeContents(source);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    var done = function () {
      button.textContent = "Copied";
      setTimeout(function () { button.textContent = "Copy"; }, 1500);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(source.textContent).then(done, function () {});
    } else {
      try { if (document.execCommand("copy")) done(); } catch (e) { /* selected, at least */ }
    }
  });
  function showCopyButtons() {
    document.querySelectorAll("button[data-copy]").forEach(function (b) { b.hidden = false; });
  }
  showCopyButtons();

  var PERIOD = 2000;

  function statusPage() {
    function refresh() {
      if (document.hidden) return setTimeout(refresh, PERIOD);
      fetchText(location.pathname).then(function (html) {
        swap(html);
        showCopyButtons();
        mark("live");
      }, function () { mark("offline: retrying"); }).then(function () {
        setTimeout(refresh, PERIOD);
      });
    }
    mark("live");
    setTimeout(refresh, PERIOD);
  }

  function jobPage() {
    var id = main.dataset.job;
    var ended = function (s) { return s === "succeeded" || s === "failed" || s === "cancelled"; };
    if (ended(main.dataset.state)) return;
    var log = document.getElementById("log");
    var have = Number(main.dataset.logBytes || 0);
    var timer = null;
    mark("following");

    function append(text) {
      if (!text || !log) return;
      if (log.dataset.empty) { log.textContent = ""; delete log.dataset.empty; }
      var bottom = log.scrollTop + log.clientHeight >= log.scrollHeight - 8;
      log.appendChild(document.createTextNode(text));
      if (bottom) log.scrollTop = log.scrollHeight;
    }

    // The log from the byte the server rendered up to, as it is written.
    function follow() {
      var skip = have, seen = 0, decoder = new TextDecoder();
      return fetch("/api/v1/jobs/" + id + "/log?follow=true", { cache: "no-store" }).then(function (r) {
        if (!r.ok || !r.body) throw new Error("no log stream");
        var reader = r.body.getReader();
        function pump() {
          return reader.read().then(function (chunk) {
            if (chunk.done) { append(decoder.decode()); return; }
            var bytes = chunk.value;
            var from = Math.max(0, Math.min(bytes.length, skip - seen));
            seen += bytes.length;
            if (from < bytes.length) {
              have += bytes.length - from;
              append(decoder.decode(bytes.subarray(from), { stream: true }));
            }
            return pump();
          });
        }
        return pump();
      });
    }

    function progress() {
      fetch("/api/v1/jobs/" + id, { cache: "no-store" }).then(function (r) { return r.json(); }).then(function (job) {
        if (job.state !== main.dataset.state) return redraw();
        var p = job.progress, bar = document.getElementById("job-bar"), text = document.getElementById("job-progress-text");
        if (p && bar) { bar.max = Math.max(p.total, 1); bar.value = p.done; }
        if (p && text) text.textContent = p.done + " of " + p.total + " derivations" + (p.current ? " · building " + p.current : "");
      }, function () {});
    }

    function redraw() {
      return fetchText(location.pathname).then(function (html) { swap(html, "log-section"); });
    }

    // When the stream ends the job has ended (or the connection broke): wait for the
    // ending, draw it, or follow again from where the log got to.
    function settle() {
      return fetchText("/api/v1/jobs/" + id + "?wait=30").then(function (text) {
        var job = JSON.parse(text);
        if (ended(job.state)) {
          clearInterval(timer);
          return fetchText(location.pathname).then(function (html) {
            swap(html);
            mark("ended");
          });
        }
        return follow().then(settle, retry);
      }, retry);
    }
    function retry() { mark("offline: retrying"); setTimeout(settle, PERIOD); }

    timer = setInterval(progress, PERIOD);
    follow().then(settle, retry);
  }

  if (main.id === "status") statusPage();
  else if (main.id === "job") jobPage();
})();
