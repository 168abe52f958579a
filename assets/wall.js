/*
 * The wall's live link (only on pages with #wall-root).
 *
 * - Scales the fixed 1920x1080 canvas to the window (no reflow, no scrollbars).
 * - Listens to /events/<site>?wall=<lang> (server-sent events, through
 *   assets/live.js, which reloads after a deploy or a sign-out). Each event
 *   carries the wall's change itself (component props, figure patches: the
 *   whole wall in "hello"), made and serialized once on the server for every
 *   wall of the site; it is applied here with set_props, with no request.
 *   Numbers, lists and banners change at once; the two charts at most once a
 *   second (their patches are merged meanwhile), since redrawing them costs
 *   far more than anything else on the page.
 * - "live" events carry people present as soon as the aggregator has counted
 *   them, between two snapshots (at most a few a second).
 * - The spotlight comes the same way: in "hello", then in a "spot" event when
 *   the server turns the rotation (every data-spot-ms, by the clock, the same
 *   moment for every wall of the site) or a supervisor casts or clears.
 * - The server callback (request store) is the fallback: while the event
 *   stream is down (slow poll), or if a change does not follow on what the
 *   page shows. Never more than one in flight; changes pushed meanwhile wait
 *   and are applied after it, when they follow on what it brought. While the
 *   stream is down the spotlight too is asked by callback, once a period.
 * - Says out loud when data is stale (server, Redis, aggregator or feeds), and
 *   recovers by itself; reloads after a deploy and once a day at a quiet hour.
 * All text comes from the message catalog, passed in data-i18n.
 * The replay page draws its moments with the same apply() and scale().
 */
(function () {
  "use strict";

  var live = window.govLive;
  var INFLIGHT_TIMEOUT_MS = 10000;
  var FIGURE_MS = 1000;        // the charts redraw at most once a second
  var FIGURES = {"wall-map": true, "wall-flow": true};
  var ALERT_MS = 6000;         // each alert of the banner stays this long

  var s = {
    es: null, connected: false, lastEvent: 0, redis: true, offset: 0,
    latest: null, cast: 0, request: null,
    applied: null, force: false, full: false, started: Date.now(),
    i18n: null, shown: null, queue: [], figs: {}, figTimer: null, figAt: 0,
    spotPeriod: null, spotN: 0
  };

  function root() { return document.getElementById("wall-root"); }
  var setProps = live.setProps;
  // The server's timings (web/push.py, data/snapshot.py), on the root.
  function ms(name, fallback) {
    var el = root();
    var value = el ? parseInt(el.dataset[name], 10) : NaN;
    return isNaN(value) ? fallback : value;
  }
  function pingMs() { return ms("pingMs", 3000); }            // server pings
  function heartbeatMs() { return ms("heartbeatMs", 5000); }  // aggregator
  function feedSilentMs() { return ms("feedSilentMs", 30000); }
  function text(key, values) {
    var el = root();
    if (!s.i18n && el) { s.i18n = JSON.parse(el.dataset.i18n || "{}"); }
    var out = (s.i18n && s.i18n[key]) || key;
    Object.keys(values || {}).forEach(function (k) {
      out = out.replace("{" + k + "}", values[k]);
    });
    return out;
  }

  // Fitted to the canvas's box: the window on the wall, the stage above
  // the time bar on the replay page.
  function scale() {
    var canvas = document.getElementById("wall-canvas");
    if (!canvas) { return; }
    var box = canvas.parentElement;
    var w = box.clientWidth || window.innerWidth;
    var h = box.clientHeight || window.innerHeight;
    var k = Math.min(w / 1920, h / 1080);
    var dx = (w - 1920 * k) / 2;
    var dy = (h - 1080 * k) / 2;
    canvas.style.transform = "translate(" + dx + "px," + dy + "px) scale(" + k + ")";
  }

  function isPatch(value) { return !!value && !!value.__dash_patch_update; }

  function flushFigures() {
    if (s.figTimer) { clearTimeout(s.figTimer); s.figTimer = null; }
    s.figAt = Date.now();
    var figs = s.figs;
    s.figs = {};
    Object.keys(figs).forEach(function (id) { setProps(id, {figure: figs[id]}); });
  }

  // Two of Dash's patches as one (its private format, pinned by
  // tests/test_dash_patch.py): the operations of both, in order.
  function merge(waiting, patch) {
    if (waiting) {
      waiting.operations = waiting.operations.concat(patch.operations);
      return waiting;
    }
    return {__dash_patch_update: "__dash_patch_update",
            operations: patch.operations.slice()};
  }

  function figure(id, value) {
    if (!isPatch(value)) {  // a whole figure: now, and what was waiting is moot
      delete s.figs[id];
      setProps(id, {figure: value});
      return;
    }
    s.figs[id] = merge(s.figs[id], value);
    if (!s.figTimer) {
      s.figTimer = setTimeout(flushFigures,
                              Math.max(0, s.figAt + FIGURE_MS - Date.now()));
    }
  }

  function apply(items) {  // [[id, {prop: value}], ...]
    items.forEach(function (item) {
      var id = item[0], props = item[1];
      if (FIGURES[id] && props.figure !== undefined) {
        figure(id, props.figure);
      } else {
        setProps(id, props);
      }
    });
  }

  // A pushed change {v, base, props}: base null is the whole wall; else it
  // holds what changed after version base, and fits on anything shown from
  // base up to (not including) v.
  function change(w) {
    if (s.request.inflight) { s.queue.push(w); return; }
    if (w.base !== null && s.shown !== null && w.v <= s.shown) { return; }
    if (w.base !== null && (s.shown === null || w.base > s.shown)) {
      s.full = true;  // it does not follow on what is shown: ask for all of it
      s.force = true;
      return;
    }
    apply(w.props);
    s.shown = w.v;
    s.applied = {v: w.v, cast: s.cast, n: s.request.n};
  }

  // The server callback's request store: one request in flight at a time.
  s.request = new live.Channel("wall-request", {
    timeoutMs: INFLIGHT_TIMEOUT_MS,
    body: function (n) {
      flushFigures();  // the server diffs against what is shown: all of it
      var data = {v: s.latest, cast: s.cast, n: n,
                  shown: s.full ? null : s.shown};
      s.force = false;
      s.full = false;
      return data;
    }
  });

  function request() {
    var behind = s.latest !== null && (!s.applied || s.applied.v < s.latest);
    if (!behind && !s.force) { return; }
    s.request.request(s.latest, true);
  }

  // The spotlight {period, cast, props}, pushed: what to show until the next.
  function spotlight(sp) {
    apply(sp.props);
    setTimeout(countDown, 0);  // once React has drawn it
    s.spotPeriod = sp.period;
  }

  // Without the event stream: ask the server for the spotlight once a period.
  function askSpotlight() {
    var el = root();
    var period = Math.floor((Date.now() + s.offset) /
                            (parseInt(el && el.dataset.spotMs, 10) || 15000));
    if (period === s.spotPeriod) { return; }
    s.spotPeriod = period;
    s.spotN += 1;
    setProps("wall-spot-request", {data: {period: period, n: s.spotN}});
  }

  // The alert banner shows one alert at a time, whole, turning by the clock
  // (every wall of the site shows the same one), with "k/n" beside the count.
  function turnAlerts() {
    var banner = document.getElementById("wall-alert");
    if (!banner) { return; }
    var items = banner.querySelectorAll(".alert-item");
    var n = items.length;
    if (!n) { return; }
    var k = Math.floor((Date.now() + s.offset) / ALERT_MS) % n;
    for (var i = 0; i < n; i += 1) {
      if ((i === k) !== items[i].classList.contains("shown")) {
        items[i].classList.toggle("shown", i === k);
      }
    }
    var pager = banner.querySelector(".alert-pager");
    var label = n > 1 ? (k + 1) + "/" + n : "";
    if (pager && pager.textContent !== label) { pager.textContent = label; }
  }

  function watchAlerts() {
    var banner = document.getElementById("wall-alert");
    if (!banner || s.alertWatch) { return; }
    // new alerts shown at once (before the next paint), not at the next turn
    s.alertWatch = new MutationObserver(turnAlerts);
    s.alertWatch.observe(banner, {childList: true, subtree: true});
    turnAlerts();
  }

  // An urgent event's hold on the spotlight, counted down to the second.
  function countDown() {
    var el = document.querySelector(".spot-countdown[data-until]");
    if (!el) { return; }
    var left = Math.max(0, Math.ceil(
      (parseInt(el.dataset.until, 10) - Date.now() - s.offset) / 1000));
    var label = text("wall.interrupt_left", {n: left});
    if (el.textContent !== label) { el.textContent = label; }
  }

  function onEvent(d) {
    s.lastEvent = Date.now();
    s.connected = true;
    s.redis = d.redis !== false;
    if (typeof d.t === "number") { s.offset = d.t - Date.now(); }
    if (typeof d.v === "number" && (s.latest === null || d.v > s.latest)) {
      s.latest = d.v;
    }
    if (typeof d.cast === "number") { s.cast = d.cast; }
    request();
  }

  function pushed(d) {
    if (d.wall) { change(d.wall); }
    if (d.spot) { spotlight(d.spot); }
    onEvent(d);
  }

  function connect() {
    var el = root();
    if (!el || s.es) { return; }
    s.es = live.open(
      "/events/" + encodeURIComponent(el.dataset.site) +
        "?wall=" + encodeURIComponent(el.dataset.lang || "zh"),
      el.dataset.build, {
        hello: function (d) {
          if (!d.wall) { s.force = true; }
          pushed(d);
        },
        version: pushed, ping: pushed,
        // the spotlight, sent ahead of the version that caused it (an urgent
        // event): not a sign that the wall is behind, the version follows
        spot: function (d) {
          if (d.spot) { spotlight(d.spot); }
          s.lastEvent = Date.now();
          s.connected = true;
          if (typeof d.cast === "number") { s.cast = d.cast; }
        },
        // people present after a fold, ahead of the next snapshot: shown if
        // they were counted after the snapshot on the page (never over a
        // newer one)
        live: function (d) {
          if (d.live && !s.request.inflight && s.shown !== null &&
              d.live.b >= s.shown) {
            d.live.props.forEach(function (item) { setProps(item[0], item[1]); });
          }
          onEvent(d);
        },
        error: function () { s.connected = false; }  // the browser reconnects
      });
  }

  // "数据时效 · 人流 2秒前 · …": how old each feed's newest entry is
  function freshLine(status, serverNow) {
    var fresh = [];
    if (status) {
      Object.keys(status.feeds).forEach(function (name) {
        var ts = status.feeds[name];
        fresh.push(text("feed." + name) + " " + age(ts === null ? null : serverNow - ts));
      });
    }
    return text("wall.fresh") + " · " + fresh.join(" · ");
  }

  function age(ms) {
    if (ms === null || ms === undefined || isNaN(ms)) { return text("age.never"); }
    var sec = Math.max(0, Math.floor(ms / 1000));
    if (sec < 120) { return text("age.seconds", {n: sec}); }
    if (sec < 7200) { return text("age.minutes", {n: Math.floor(sec / 60)}); }
    return text("age.hours", {n: Math.floor(sec / 3600)});
  }

  function clock(el) {
    try {
      return new Intl.DateTimeFormat(el.dataset.lang === "en" ? "en-GB" : "zh-CN", {
        timeZone: el.dataset.tz, year: "numeric", month: "2-digit", day: "2-digit",
        weekday: "short", hour: "2-digit", minute: "2-digit", second: "2-digit",
        hour12: false
      }).format(new Date());
    } catch (err) { return new Date().toLocaleString(); }
  }

  function maybeReload(el) {
    var hour = parseInt(el.dataset.reloadHour, 10);
    if (isNaN(hour) || hour < 0) { return; }
    var now = new Date(Date.now());
    var here = parseInt(new Intl.DateTimeFormat("en-GB", {
      timeZone: el.dataset.tz, hour: "2-digit", hour12: false}).format(now), 10);
    if (here === hour && Date.now() - s.started > 2 * 3600 * 1000) {
      window.location.reload();
    }
  }

  window.govWall = {
    merge: merge,
    // for the replay page (assets/replay.js): the same drawing of a change
    apply: apply, scale: scale,
    // the alert banner's one-at-a-time turning, which the wall's tick drives
    watchAlerts: watchAlerts, turnAlerts: turnAlerts,
    applied: function (applied) {
      s.applied = applied;
      s.request.done();
      if (applied && applied.v) { s.shown = applied.v; }
      var queue = s.queue;
      s.queue = [];
      queue.forEach(change);
      request();
      return window.dash_clientside.no_update;
    },
    poll: function () {
      if (!s.connected || Date.now() - s.lastEvent > 2 * pingMs() + 1000) {
        s.force = true;
        request();
        askSpotlight();
      }
    },
    // the data times line at once when a pushed version brings new times
    // (a report: "事件 0秒前" with the ticker, not a tick later)
    fresh: function (status) {
      if (!root() || !status) { return window.dash_clientside.no_update; }
      return freshLine(status, Date.now() + s.offset);
    },
    tick: function (status) {
      var el = root();
      var nu = window.dash_clientside.no_update;
      if (!el) { return [nu, nu, nu, nu]; }
      maybeReload(el);
      turnAlerts();
      countDown();
      var now = Date.now();
      var serverNow = now + s.offset;
      var reasons = [];
      if (!status && now - s.started < 2 * pingMs() + 1000) {
        return [clock(el), "", "", "wall-stale"];  // still connecting: no alarm yet
      }
      var serverDown = !s.connected || now - s.lastEvent > 2 * pingMs() + 1000;
      if (serverDown) { reasons.push(text("wall.stale.server")); }
      else if (!s.redis) { reasons.push(text("wall.stale.redis")); }
      var newest = null;
      if (status) {
        Object.keys(status.feeds).forEach(function (name) {
          var ts = status.feeds[name];
          if (ts !== null && (newest === null || ts > newest)) { newest = ts; }
        });
        if (!serverDown && s.redis && serverNow - status.generated_ms > 2 * heartbeatMs()) {
          reasons.push(text("wall.stale.aggregator"));
        }
        if (!reasons.length && (newest === null || serverNow - newest > feedSilentMs())) {
          reasons.push(text("wall.stale.feeds"));
        }
      } else if (s.started < now - 2 * heartbeatMs() && !reasons.length) {
        reasons.push(text("wall.stale.aggregator"));
      }
      var freshness = freshLine(status, serverNow);
      if (!reasons.length) { return [clock(el), freshness, "", "wall-stale"]; }
      var dataAge = newest === null ? null : serverNow - newest;
      var banner = text("wall.stale") + " · " +
        text("wall.stale_age", {age: age(dataAge)}) + " · " + reasons.join(" · ");
      return [clock(el), freshness, banner, "wall-stale on"];
    }
  };

  function start() {
    if (!root()) { return false; }
    scale();
    connect();
    watchAlerts();
    return true;
  }
  window.addEventListener("resize", scale);
  // Dash renders the page after this script runs: wait for the root to appear.
  var tries = 0;
  var timer = setInterval(function () {
    tries += 1;
    if (start() || tries > 600) { clearInterval(timer); }
  }, 100);
})();
