/*
 * The wall's live link (only on pages with #wall-root).
 *
 * - Scales the fixed 1920x1080 canvas to the window (no reflow, no scrollbars).
 * - Listens to /events/<site> (server-sent events): each new snapshot version
 *   or cast sets the request store, which runs the server callback; never more
 *   than one update in flight, the newest version wins.
 * - Falls back to the slow poll while the event stream is down.
 * - Says out loud when data is stale (server, Redis, aggregator or feeds), and
 *   recovers by itself; reloads after a deploy and once a day at a quiet hour.
 * All text comes from the message catalog, passed in data-i18n.
 */
(function () {
  "use strict";

  var PING_MS = 3000;          // the server pings every 3 s (web/push.py)
  var HEARTBEAT_MS = 5000;     // the aggregator publishes at least every 5 s
  var FEED_SILENT_MS = 30000;  // a feed quiet this long is called silent
  var INFLIGHT_TIMEOUT_MS = 10000;

  var s = {
    es: null, connected: false, lastEvent: 0, redis: true, offset: 0,
    latest: null, cast: 0, castShown: null, inflight: false, inflightAt: 0,
    applied: null, force: false, n: 0, started: Date.now(), i18n: null
  };

  function root() { return document.getElementById("wall-root"); }
  function setProps(id, props) {
    if (window.dash_clientside && window.dash_clientside.set_props) {
      window.dash_clientside.set_props(id, props);
    }
  }
  function text(key, values) {
    var el = root();
    if (!s.i18n && el) { s.i18n = JSON.parse(el.dataset.i18n || "{}"); }
    var out = (s.i18n && s.i18n[key]) || key;
    Object.keys(values || {}).forEach(function (k) {
      out = out.replace("{" + k + "}", values[k]);
    });
    return out;
  }

  function scale() {
    var canvas = document.getElementById("wall-canvas");
    if (!canvas) { return; }
    var k = Math.min(window.innerWidth / 1920, window.innerHeight / 1080);
    var dx = (window.innerWidth - 1920 * k) / 2;
    var dy = (window.innerHeight - 1080 * k) / 2;
    canvas.style.transform = "translate(" + dx + "px," + dy + "px) scale(" + k + ")";
  }

  function request() {
    var now = Date.now();
    if (s.inflight && now - s.inflightAt < INFLIGHT_TIMEOUT_MS) { return; }
    var behind = s.latest !== null && (!s.applied || s.applied.v < s.latest);
    if (!behind && !s.force && s.castShown === s.cast) { return; }
    s.inflight = true;
    s.inflightAt = now;
    s.force = false;
    s.n += 1;
    setProps("wall-request", {data: {v: s.latest, cast: s.cast, n: s.n}});
    if (s.castShown !== s.cast) {
      s.castShown = s.cast;
      setProps("wall-cast", {data: s.cast});
    }
  }

  function onEvent(d) {
    s.lastEvent = Date.now();
    s.connected = true;
    s.redis = d.redis !== false;
    if (typeof d.t === "number") { s.offset = d.t - Date.now(); }
    if (typeof d.v === "number" && (s.latest === null || d.v > s.latest)) {
      s.latest = d.v;
    }
    if (typeof d.cast === "number" && d.cast !== s.cast) {
      s.cast = d.cast;
      s.castShown = d.cast;  // the spotlight has its own callback: no need to wait
      setProps("wall-cast", {data: d.cast});
    }
    request();
  }

  function connect() {
    var el = root();
    if (!el || s.es) { return; }
    var es = new EventSource("/events/" + encodeURIComponent(el.dataset.site));
    s.es = es;
    es.addEventListener("hello", function (e) {
      var d = JSON.parse(e.data);
      if (d.build && d.build !== el.dataset.build) { window.location.reload(); return; }
      s.force = true;
      onEvent(d);
    });
    es.addEventListener("version", function (e) { onEvent(JSON.parse(e.data)); });
    es.addEventListener("ping", function (e) { onEvent(JSON.parse(e.data)); });
    es.onerror = function () { s.connected = false; };  // the browser reconnects
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
    applied: function (applied) {
      s.applied = applied;
      s.inflight = false;
      request();
      return window.dash_clientside.no_update;
    },
    poll: function () {
      if (!s.connected || Date.now() - s.lastEvent > 2 * PING_MS + 1000) {
        s.force = true;
        request();
      }
    },
    tick: function (status) {
      var el = root();
      var nu = window.dash_clientside.no_update;
      if (!el) { return [nu, nu, nu, nu]; }
      maybeReload(el);
      var now = Date.now();
      var serverNow = now + s.offset;
      var reasons = [];
      if (!status && now - s.started < 2 * PING_MS + 1000) {
        return [clock(el), "", "", "wall-stale"];  // still connecting: no alarm yet
      }
      var serverDown = !s.connected || now - s.lastEvent > 2 * PING_MS + 1000;
      if (serverDown) { reasons.push(text("wall.stale.server")); }
      else if (!s.redis) { reasons.push(text("wall.stale.redis")); }
      var newest = null;
      var fresh = [];
      if (status) {
        Object.keys(status.feeds).forEach(function (name) {
          var ts = status.feeds[name];
          if (ts !== null && (newest === null || ts > newest)) { newest = ts; }
          fresh.push(text("feed." + name) + " " + age(ts === null ? null : serverNow - ts));
        });
        if (!serverDown && s.redis && serverNow - status.generated_ms > 2 * HEARTBEAT_MS) {
          reasons.push(text("wall.stale.aggregator"));
        }
        if (!reasons.length && (newest === null || serverNow - newest > FEED_SILENT_MS)) {
          reasons.push(text("wall.stale.feeds"));
        }
      } else if (s.started < now - 2 * HEARTBEAT_MS && !reasons.length) {
        reasons.push(text("wall.stale.aggregator"));
      }
      var freshness = text("wall.fresh") + " · " + fresh.join(" · ");
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
