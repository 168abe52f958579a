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
 *
 * Once a report is queued the form says so and is cleared for the next one;
 * pressing again with the same content makes no second report. A photo too
 * big for the phone's storage is kept in this page only, and the user is told
 * (the report itself is kept without it).
 */
(function () {
  "use strict";
  var KEY = "gov.reports.v1";
  var sending = false;
  // Photos local storage could not hold, kept for this page's life only.
  var photos = {};

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
    if (waiting.length) {
      var held = waiting.some(function (r) { return photos[r.body.id]; });
      return {text: text("m.queued", {n: waiting.length}) +
        (held ? "\n" + text("m.photo_not_kept") : ""), kind: "wait"};
    }
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
    var payload = photos[next.body.id]
      ? Object.assign({}, next.body, {photo: photos[next.body.id]}) : next.body;
    fetch("/api/v1/sites/" + encodeURIComponent(next.site) + "/reports", {
      method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json"}, body: JSON.stringify(payload)
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (body) {
        var now = load();
        if (response.ok) {
          save(now.filter(function (r) { return r.body.id !== next.body.id; }));
          delete photos[next.body.id];
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

  // One form fill, one report: its id is made when the content is first
  // submitted and reused for a press with the same content (a second tap
  // because nothing seemed to happen, or a double tap), so the site gets it once.
  var fill = null;  // {sig, id}

  function signature(form) {
    var photo = form.photo || "";
    return JSON.stringify([form.category, form.level || "3", (form.title || "").trim(),
      (form.detail || "").trim(), form.position ? null : form.grid, form.position || null,
      photo.length, photo.slice(-64)]);
  }
  function clearForm() {  // ready for the next report; the grid stays
    var set = window.dash_clientside && window.dash_clientside.set_props;
    if (!set) { return; }
    set("m-category", {value: null});
    set("m-level", {value: "3"});
    set("m-title", {value: ""});
    set("m-detail", {value: ""});
    set("m-photo", {contents: null, filename: null});
    set("m-photo-name", {children: text("m.photo")});
    set("m-position", {data: null});
    set("m-position-text", {children: ""});
  }
  function queueReport(el, body) {
    // -> "" if kept whole, "photo" if kept without its photo, "none" if not kept
    var queue = load();
    var entry = {site: el.dataset.site, user: el.dataset.user, body: body, at: Date.now()};
    try { save(queue.concat([entry])); return ""; }
    catch (err) { if (!body.photo) { return "none"; } }
    var photo = body.photo;
    var bare = Object.assign({}, body);
    delete bare.photo;
    entry.body = bare;
    try { save(queue.concat([entry])); }
    catch (err) { return "none"; }
    photos[body.id] = photo;
    return "photo";
  }
  function waitingText() {
    var s = status();
    return s ? s.text : "";
  }

  window.govMobile = {
    submit: function (n, form) {
      var el = root();
      var missing = [];
      if (!form.category) { missing.push(text("m.category")); }
      if (!form.title || !form.title.trim()) { missing.push(text("m.title_label")); }
      if (!form.grid && !form.position) { missing.push(text("m.grid")); }
      if (missing.length) { return text("m.need", {fields: missing.join("、")}); }
      var sig = signature(form);
      if (fill && fill.sig === sig) {
        var queued = load().some(function (r) { return r.body.id === fill.id; });
        clearForm();
        return text("m.duplicate") + (queued ? "\n" + waitingText() : "");
      }
      var body = {id: uuid(), category: form.category, level: form.level || "3",
                  title: form.title.trim(), detail: (form.detail || "").trim()};
      if (form.position) { body.lat = form.position.lat; body.lon = form.position.lon; }
      else { body.grid = form.grid; }
      if (form.photo) { body.photo = form.photo; }
      var kept = queueReport(el, body);
      if (kept === "none") { return text("m.not_kept"); }  // the form stays filled
      fill = {sig: sig, id: body.id};
      clearForm();
      setTimeout(flush, 0);
      return waitingText();
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
