/*
 * The phone's report queue (only on pages with #m-root).
 *
 * A report is given its incident UUID here, saved in localStorage, and sent
 * to /api/v1/sites/<site>/reports; it leaves the queue only when the server
 * has answered. Offline, it waits and is sent when the connection returns.
 * A retry after a lost answer carries the same UUID, so the server side
 * keeps exactly one incident. A report the server refuses (a bad field) stays
 * visible with the reason, never silently dropped.
 *
 * A queued report belongs to the person who made it (the page's data-user):
 * on a shared phone, after a sign-out and someone else's sign-in, it is kept
 * for its owner and sent only when they are signed in again, never under the
 * next person's name. A report queued by an older build (no owner) is never
 * sent.
 */
(function () {
  "use strict";
  var KEY = "gov.reports.v1";
  var sending = false;

  function root() { return document.getElementById("m-root"); }
  function text(key, values) {
    var el = root();
    var table = el ? JSON.parse(el.dataset.i18n || "{}") : {};
    var out = table[key] || key;
    Object.keys(values || {}).forEach(function (k) {
      out = out.replace("{" + k + "}", values[k]);
    });
    return out;
  }
  function load() {
    try { return JSON.parse(window.localStorage.getItem(KEY) || "[]"); }
    catch (err) { return []; }
  }
  function save(queue) { window.localStorage.setItem(KEY, JSON.stringify(queue)); }
  function uuid() {
    if (window.crypto && window.crypto.randomUUID) { return window.crypto.randomUUID(); }
    var b = new Uint8Array(16);
    window.crypto.getRandomValues(b);
    b[6] = (b[6] & 0x0f) | 0x40; b[8] = (b[8] & 0x3f) | 0x80;
    var h = Array.prototype.map.call(b, function (x) { return (x + 256).toString(16).slice(1); }).join("");
    return h.slice(0, 8) + "-" + h.slice(8, 12) + "-" + h.slice(12, 16) + "-" + h.slice(16, 20) + "-" + h.slice(20);
  }
  function mine(r) {
    var el = root();
    return !!el && !!el.dataset.user && r.user === el.dataset.user;
  }
  function show(message, kind) {
    if (window.dash_clientside && window.dash_clientside.set_props) {
      window.dash_clientside.set_props("m-queue", {children: message,
        className: "m-queue " + (kind || "")});
    }
  }
  function status() {
    var queue = load().filter(mine);
    var waiting = queue.filter(function (r) { return !r.error; });
    var failed = queue.filter(function (r) { return r.error; });
    if (failed.length) {
      return {text: failed.map(function (r) {
        return text("m.failed", {reason: r.error}) + " (" + r.body.title + ")";
      }).join("\n"), kind: "err"};
    }
    if (waiting.length) { return {text: text("m.queued", {n: waiting.length}), kind: "wait"}; }
    return null;
  }

  function flush() {
    var el = root();
    if (!el || sending) { return; }
    var queue = load();
    var next = queue.filter(function (r) {
      return !r.error && r.site === el.dataset.site && mine(r);
    })[0];
    if (!next) { return; }
    sending = true;
    fetch("/api/v1/sites/" + encodeURIComponent(next.site) + "/reports", {
      method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json"}, body: JSON.stringify(next.body)
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (body) {
        var now = load();
        if (response.ok) {
          save(now.filter(function (r) { return r.body.id !== next.body.id; }));
          var left = status();
          show(left ? left.text : text("m.sent") + "：" + next.body.title, left ? left.kind : "ok");
        } else if (response.status >= 400 && response.status < 500 && response.status !== 408 && response.status !== 429) {
          now.forEach(function (r) { if (r.body.id === next.body.id) { r.error = body.error || String(response.status); } });
          save(now);
          var s = status();
          show(s.text, s.kind);
        }
        sending = false;
        if (response.ok) { flush(); }
      });
    }).catch(function () {
      sending = false;  // offline or server down: keep it, try again later
      var s = status();
      if (s) { show(s.text, s.kind); }
    });
  }

  window.govMobile = {
    submit: function (n, form) {
      var el = root();
      var missing = [];
      if (!form.category) { missing.push(text("m.category")); }
      if (!form.title || !form.title.trim()) { missing.push(text("m.title_label")); }
      if (!form.grid && !form.position) { missing.push(text("m.grid")); }
      if (missing.length) { return text("m.need", {fields: missing.join("、")}); }
      var body = {id: uuid(), category: form.category, level: form.level || "3",
                  title: form.title.trim(), detail: (form.detail || "").trim()};
      if (form.position) { body.lat = form.position.lat; body.lon = form.position.lon; }
      else { body.grid = form.grid; }
      if (form.photo) { body.photo = form.photo; }
      var queue = load();
      queue.push({site: el.dataset.site, user: el.dataset.user, body: body,
                  at: Date.now()});
      try { save(queue); }
      catch (err) {  // a photo too big for local storage: keep the report
        delete body.photo; queue[queue.length - 1].body = body; save(queue);
      }
      setTimeout(flush, 0);
      return text("m.queued", {n: queue.filter(function (r) {
        return !r.error && mine(r);
      }).length});
    },
    locate: function () {
      var set = function (props) { window.dash_clientside.set_props("m-position", props); };
      if (!navigator.geolocation) { return text("m.locate_failed"); }
      navigator.geolocation.getCurrentPosition(function (p) {
        var pos = {lat: p.coords.latitude.toFixed(6), lon: p.coords.longitude.toFixed(6)};
        set({data: pos});
        window.dash_clientside.set_props("m-position-text",
          {children: text("m.located", pos)});
      }, function () {
        set({data: null});
        window.dash_clientside.set_props("m-position-text",
          {children: text("m.locate_failed")});
      }, {enableHighAccuracy: true, timeout: 10000, maximumAge: 60000});
      return text("m.locating");
    },
    photoName: function (contents, name) {
      return contents ? "📷 " + (name || "") : window.dash_clientside.no_update;
    },
    pending: function () { return load(); }
  };

  window.addEventListener("online", flush);
  setInterval(function () {
    var el = root();
    if (!el) { return; }
    var badge = status();
    if (!el.dataset.shown && badge) { show(badge.text, badge.kind); el.dataset.shown = "1"; }
    flush();
  }, 3000);
})();
