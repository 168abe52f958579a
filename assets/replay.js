/*
 * The replay page (only on pages with #replay-root): the wall as it was.
 *
 * - Asks /replay/frame for the wall at a moment (the change from the version
 *   shown, shaped on the server) and draws it with the wall's own code
 *   (window.govWall.apply, assets/wall.js): the same components and figures.
 *   One request in flight; moments asked meanwhile wait, the newest wins.
 * - Plays at 1x, 10x, 60x or 600x by the clock (a slow answer skips frames,
 *   never slows the moment down); previous / next event from the events API.
 * - The time bar (a day around the moment) marks incidents, alerts, casts,
 *   stale periods and bookmarks; dragging it seeks.
 * - The address always holds the moment (and speed): a link opens the same
 *   picture. Bookmarks with a note are kept on the server (and audited);
 *   the moment exports as a PNG made on the server, the minutes from it as
 *   an animated PNG (downloaded when made; an error shown as the status).
 * Text comes from the message catalog (data-i18n); what people typed is set
 * as text through Dash, never as HTML.
 */
(function () {
  "use strict";

  var STEP_MS = 250;
  var WINDOW_MS = 24 * 3600 * 1000;
  var WEEK_MS = 7 * 24 * 3600 * 1000 - 1000;
  var s = {at: 0, from: 0, to: 0, speed: 1, playing: false, shown: null,
           inflight: false, pending: null, timer: null, last: 0, atIso: "",
           win: [0, 0], events: [], marks: [], i18n: null};

  function root() { return document.getElementById("replay-root"); }
  function setProps(id, props) { window.govLive.setProps(id, props); }
  function text(key, values) {
    if (!s.i18n) { s.i18n = JSON.parse(root().dataset.i18n || "{}"); }
    var out = s.i18n[key] || key;
    Object.keys(values || {}).forEach(function (k) {
      out = out.replace("{" + k + "}", values[k]);
    });
    return out;
  }
  function site() { return root().dataset.site; }
  function utc(ms) { return new Date(ms).toISOString(); }
  function query(params) {
    return Object.keys(params).map(function (k) {
      return encodeURIComponent(k) + "=" + encodeURIComponent(params[k]);
    }).join("&");
  }
  function getJson(url, options) {
    return fetch(url, Object.assign({credentials: "same-origin"}, options || {}))
      .then(function (r) {
        return r.json().then(function (body) { return {ok: r.ok, body: body}; });
      });
  }
  function status(message) { setProps("replay-status", {children: message || ""}); }

  function address() {
    var params = {site: site(), at: s.atIso || utc(s.at), speed: s.speed};
    var lang = new URLSearchParams(window.location.search).get("lang");
    if (lang) { params.lang = lang; }
    window.history.replaceState(null, "", "/replay?" + query(params));
  }

  function show(body) {
    window.govWall.apply(body.props);
    s.shown = body.name;
    s.atIso = body.at;
    setProps("replay-moment", {children: body.at.replace("T", " ").slice(0, 19)});
    setProps("replay-export", {href: "/replay/export.png?" + query(
      {site: site(), at: body.at, lang: root().dataset.lang})});
    root().dataset.shownVersion = String(body.v);
    root().dataset.shownAt = String(body.ms);
    address();
  }

  function load(at) {
    s.at = Math.min(Math.max(at, s.from), s.to);
    slider();
    if (s.inflight) { s.pending = s.at; return; }
    s.inflight = true;
    var lang = root().dataset.lang;
    getJson("/replay/frame?" + query({site: site(), lang: lang, at: utc(s.at),
                                      shown: s.shown || ""}))
      .then(function (res) {
        if (res.ok) { show(res.body); status(""); }
        else { status(res.body.error); }
      })
      .catch(function (err) { status(String(err)); })
      .then(function () {
        s.inflight = false;
        if (s.pending !== null) {
          var next = s.pending;
          s.pending = null;
          load(next);
        }
      });
  }

  // --- the time bar ---------------------------------------------------------
  function slider() {
    if (s.at < s.win[0] || s.at > s.win[1]) { window_(); }
    setProps("replay-range", {value: s.at, min: s.win[0], max: s.win[1]});
  }

  function window_() {
    var start = Math.max(s.from, s.at - WINDOW_MS / 2);
    var end = Math.min(s.to, start + WINDOW_MS);
    start = Math.max(s.from, Math.min(start, end - WINDOW_MS));
    s.win = [start, end];
    getJson("/api/v1/sites/" + encodeURIComponent(site()) + "/replay/events?" +
            query({start: utc(start), end: utc(end)}))
      .then(function (res) {
        s.events = res.ok ? res.body.events : [];
        marks();
      });
  }

  function mark(ms, kind, title) {
    var left = 100 * (ms - s.win[0]) / Math.max(1, s.win[1] - s.win[0]);
    return {namespace: "dash_html_components", type: "Span", props: {
      className: "replay-event ev-" + kind, title: title,
      style: {left: left.toFixed(3) + "%"}}};
  }

  function marks() {
    var items = s.events.map(function (e) {
      var what = e.title || e.grid || e.target || "";
      return mark(e.start_ms || e.ms, e.kind,
                  e.at.slice(11, 19) + " " + text("replay.event." + e.kind) +
                  (what ? " · " + what : ""));
    });
    s.marks.forEach(function (b) {
      if (b.at_ms >= s.win[0] && b.at_ms <= s.win[1]) {
        items.push(mark(b.at_ms, "bookmark", b.at.slice(11, 19) + " " + b.note));
      }
    });
    setProps("replay-marks", {children: items});
    root().dataset.events = String(s.events.length);
  }

  // --- playing --------------------------------------------------------------
  function play(on) {
    s.playing = on;
    setProps("replay-play", {children: on ? text("replay.pause") : text("replay.play")});
    if (s.timer) { clearInterval(s.timer); s.timer = null; }
    if (!on) { return; }
    s.last = Date.now();
    s.timer = setInterval(function () {
      var now = Date.now();
      var next = s.at + (now - s.last) * s.speed;
      s.last = now;
      if (next >= s.to) { next = s.to; play(false); }
      load(next);
    }, STEP_MS);
  }

  function speed(n) {
    s.speed = n;
    document.querySelectorAll("#replay-root .replay-speed").forEach(function (b) {
      b.classList.toggle("on", parseInt(b.dataset.speed, 10) === n);
    });
    address();
  }

  function jump(forward) {
    var start = forward ? s.at + 1 : Math.max(s.from, s.at - WEEK_MS);
    var end = forward ? Math.min(s.to, s.at + WEEK_MS) : s.at - 1;
    if (end < start) { status(text("replay.no_more_events")); return; }
    getJson("/api/v1/sites/" + encodeURIComponent(site()) + "/replay/events?" +
            query({start: utc(start), end: utc(end)}))
      .then(function (res) {
        var found = res.ok ? res.body.events : [];
        var e = forward ? found[0] : found[found.length - 1];
        if (!e) { status(text("replay.no_more_events")); return; }
        play(false);
        load(e.ms);
      });
  }

  // --- bookmarks ------------------------------------------------------------
  function bookmarks() {
    getJson("/replay/bookmarks?" + query({site: site()})).then(function (res) {
      s.marks = res.ok ? res.body.bookmarks : [];
      var items = s.marks.map(function (b) {
        return {namespace: "dash_html_components", type: "Li", props: {children: [
          {namespace: "dash_html_components", type: "A", props: {
            href: b.link, children: b.at.replace("T", " ").slice(0, 19)}},
          " " + b.note + " · " + b.who]}};
      });
      setProps("replay-bookmarks", {children: items.length ? items :
        [{namespace: "dash_html_components", type: "Li",
          props: {children: text("replay.no_bookmarks")}}]});
      marks();
    });
  }

  function addBookmark() {
    var input = document.getElementById("replay-note");
    getJson("/replay/bookmarks?" + query({site: site()}), {
      method: "POST", headers: {"Content-Type": "application/json"},
      body: JSON.stringify({at: s.atIso || utc(s.at), note: input.value})
    }).then(function (res) {
      if (!res.ok) { status(res.body.error); return; }
      setProps("replay-note", {value: ""});
      status(text("replay.bookmark_saved"));
      bookmarks();
    });
  }

  // --- a clip of the minutes from the moment shown --------------------------
  function clip() {
    var minutes = parseInt(document.getElementById("replay-clip-minutes").value, 10);
    var end = Math.min(s.to, s.at + Math.max(1, minutes || 1) * 60000);
    var params = {site: site(), start: s.atIso || utc(s.at), end: utc(end),
                  lang: root().dataset.lang};
    status(text("replay.clip_making"));
    root().dataset.clip = "making";
    fetch("/replay/clip.png?" + query(params), {credentials: "same-origin"})
      .then(function (r) {
        if (!r.ok) {
          return r.json().then(function (body) { throw new Error(body.error); });
        }
        var name = (r.headers.get("Content-Disposition") || "")
          .replace(/^.*filename="([^"]+)".*$/, "$1") || "replay-clip.png";
        var frames = r.headers.get("X-Frames") || "?";
        return r.blob().then(function (blob) {
          var a = document.createElement("a");
          a.href = URL.createObjectURL(blob);
          a.download = name;
          document.body.appendChild(a);
          a.click();
          a.remove();
          window.setTimeout(function () { URL.revokeObjectURL(a.href); }, 60000);
          status(text("replay.clip_done", {frames: frames}));
          root().dataset.clip = "done";
        });
      })
      .catch(function (err) {
        status(err.message || String(err));
        root().dataset.clip = "failed";
      });
  }

  function start() {
    var el = root();
    if (!el || !window.govWall || !document.getElementById("replay-range")) {
      return false;
    }
    s.from = parseInt(el.dataset.from, 10);
    s.to = parseInt(el.dataset.to, 10);
    s.atIso = el.dataset.atIso;
    speed(parseInt(el.dataset.speed, 10) || 1);
    window.govWall.scale();
    window.govWall.watchAlerts();  // the banner turns as on the wall
    window.setInterval(window.govWall.turnAlerts, 1000);
    document.getElementById("replay-play").addEventListener("click", function () {
      play(!s.playing);
    });
    document.querySelectorAll("#replay-root .replay-speed").forEach(function (b) {
      b.addEventListener("click", function () { speed(parseInt(b.dataset.speed, 10)); });
    });
    document.getElementById("replay-prev").addEventListener("click", function () {
      jump(false);
    });
    document.getElementById("replay-next").addEventListener("click", function () {
      jump(true);
    });
    document.getElementById("replay-range").addEventListener("input", function (e) {
      s.atIso = "";
      load(parseInt(e.target.value, 10));
    });
    document.getElementById("replay-mark-add").addEventListener("click", addBookmark);
    document.getElementById("replay-clip").addEventListener("click", clip);
    load(parseInt(el.dataset.at, 10));
    bookmarks();
    return true;
  }

  var tries = 0;
  var timer = setInterval(function () {
    tries += 1;
    if (start() || tries > 600) { clearInterval(timer); }
  }, 100);
})();
