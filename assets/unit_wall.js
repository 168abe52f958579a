/*
 * A unit's wall (street, district, city; only on pages with #uw-root).
 *
 * - Scales the 1920x1080 canvas as the site wall does (govWall.scale).
 * - Listens to /events/unit/<unit>?wall=<lang>&by=<figure> (web/push.py):
 *   "hello" carries the whole wall, each "version" what changed since the
 *   version before (props, the map as a figure patch), made once on the
 *   server for every wall of the unit; "spot" the spotlight when its
 *   rotation turns. A change that does not follow on what is shown (a
 *   missed event) reconnects, and the new "hello" brings all of it.
 * - The view buttons switch the lower centre panel between each unit
 *   against its own past (the default) and the ranking of the units.
 * - Clock, freshness, and a stale banner when no event came for twice the
 *   ping interval; reloads once a day at the quiet hour, like the site wall.
 */
(function () {
  "use strict";
  var live = window.govLive;
  var s = {es: null, shown: null, lastEvent: 0, generated: null, offset: 0,
           started: Date.now(), i18n: null, clockTimer: null};

  function root() { return document.getElementById("uw-root"); }
  function text(key, values) {
    var el = root();
    if (!s.i18n && el) { s.i18n = JSON.parse(el.dataset.i18n || "{}"); }
    var out = (s.i18n && s.i18n[key]) || key;
    Object.keys(values || {}).forEach(function (k) {
      out = out.replace("{" + k + "}", values[k]);
    });
    return out;
  }
  function apply(items) {
    items.forEach(function (item) { live.setProps(item[0], item[1]); });
  }

  function change(w) {
    if (w.base !== null && w.base !== s.shown) {  // not on what is shown
      if (s.shown === null || w.v > s.shown) { reconnect(); }
      return;
    }
    apply(w.props);
    s.shown = w.v;
    if (typeof w.g === "number") { s.generated = w.g; }
  }

  function onEvent(d) {
    s.lastEvent = Date.now();
    if (typeof d.t === "number") { s.offset = d.t - Date.now(); }
    if (d.wall) { change(d.wall); }
    if (d.spot) { apply(d.spot.props); }
  }

  function connect() {
    var el = root();
    s.shown = null;
    s.es = live.open(
      "/events/unit/" + encodeURIComponent(el.dataset.unit) +
        "?wall=" + encodeURIComponent(el.dataset.lang || "zh") +
        "&by=" + encodeURIComponent(el.dataset.by || "overdue"),
      el.dataset.build, {hello: onEvent, version: onEvent, ping: onEvent,
                         spot: onEvent});
  }
  function reconnect() {
    if (s.es) { s.es.close(); }
    connect();
  }

  function age(ms) {
    if (ms === null || isNaN(ms)) { return text("age.never"); }
    var sec = Math.max(0, Math.floor(ms / 1000));
    if (sec < 120) { return text("age.seconds", {n: sec}); }
    if (sec < 7200) { return text("age.minutes", {n: Math.floor(sec / 60)}); }
    return text("age.hours", {n: Math.floor(sec / 3600)});
  }

  function tick() {
    var el = root();
    if (!el) { return; }
    var clock;
    try {
      clock = new Intl.DateTimeFormat(el.dataset.lang === "en" ? "en-GB" : "zh-CN", {
        timeZone: el.dataset.tz, year: "numeric", month: "2-digit", day: "2-digit",
        weekday: "short", hour: "2-digit", minute: "2-digit", second: "2-digit",
        hour12: false}).format(new Date());
    } catch (err) { clock = new Date().toLocaleString(); }
    live.setProps("uw-clock", {children: clock});
    var serverNow = Date.now() + s.offset;
    live.setProps("uw-fresh", {children: text("uwall.fresh") + " " +
      age(s.generated === null ? null : serverNow - s.generated)});
    var ping = parseInt(el.dataset.pingMs, 10) || 3000;
    var down = Date.now() - s.started > 2 * ping + 1000 &&
      Date.now() - s.lastEvent > 2 * ping + 1000;
    live.setProps("uw-stale", {children: down ? text("uwall.stale") : "",
                               className: down ? "wall-stale on" : "wall-stale"});
    var hour = parseInt(el.dataset.reloadHour, 10);
    if (!isNaN(hour) && hour >= 0 && Date.now() - s.started > 2 * 3600 * 1000 &&
        new Date().getHours() === hour) { window.location.reload(); }
  }

  function views(el) {
    el.addEventListener("click", function (e) {
      var button = e.target.closest && e.target.closest("[data-view]");
      if (!button) { return; }
      var panel = button.closest(".p-uw-compare");
      panel.classList.toggle("ranked", button.dataset.view === "ranking");
      panel.querySelectorAll("[data-view]").forEach(function (b) {
        b.classList.toggle("on", b === button);
      });
      var title = panel.querySelector(".uw-view-title");
      if (title) { title.style.visibility = button.dataset.view === "ranking" ?
                   "hidden" : "visible"; }
    });
  }

  function start() {
    var el = root();
    if (!el || !window.govWall) { return false; }
    window.govWall.scale();
    window.addEventListener("resize", window.govWall.scale);
    views(el);
    connect();
    s.clockTimer = setInterval(tick, 1000);
    return true;
  }
  var tries = 0;
  var timer = setInterval(function () {
    tries += 1;
    if (start() || tries > 600) { clearInterval(timer); }
  }, 100);
})();
