/*
 * Live updates for the console and the phone: any element with
 * data-push-site and data-push-store gets the site's server-sent events, and
 * each new snapshot version or cast sets that Dash store to {v, cast, n}.
 * One update in flight at a time: the page's callback writes its
 * data-push-ack store when done; the newest version wins. (The wall has its
 * own loop in wall.js, with the stale banner.)
 */
(function () {
  "use strict";
  var INFLIGHT_TIMEOUT_MS = 8000;
  var links = {};

  function setProps(id, props) {
    if (window.dash_clientside && window.dash_clientside.set_props) {
      window.dash_clientside.set_props(id, props);
    }
  }

  function Link(el) {
    this.el = el; this.latest = null; this.cast = 0; this.sent = null;
    this.inflight = false; this.at = 0; this.n = 0; this.connected = false;
    var self = this;
    this.es = new EventSource("/events/" + encodeURIComponent(el.dataset.pushSite));
    ["hello", "version", "ping"].forEach(function (kind) {
      self.es.addEventListener(kind, function (e) {
        var d = JSON.parse(e.data);
        self.connected = true;
        if (kind === "hello" && d.build && el.dataset.build && d.build !== el.dataset.build) {
          window.location.reload();
          return;
        }
        if (typeof d.v === "number") { self.latest = Math.max(self.latest || 0, d.v); }
        if (typeof d.cast === "number") { self.cast = d.cast; }
        self.request(kind === "hello");
      });
    });
    this.es.onerror = function () { self.connected = false; };
  }
  Link.prototype.request = function (force) {
    var now = Date.now();
    if (this.inflight && now - this.at < INFLIGHT_TIMEOUT_MS) { return; }
    var key = this.latest + ":" + this.cast;
    if (!force && key === this.sent) { return; }
    this.sent = key; this.inflight = true; this.at = now; this.n += 1;
    setProps(this.el.dataset.pushStore, {data: {v: this.latest, cast: this.cast, n: this.n}});
  };
  Link.prototype.ack = function () { this.inflight = false; this.request(false); };

  window.govPush = {
    ack: function (storeId) {
      var link = links[storeId];
      if (link) { link.ack(); }
      return window.dash_clientside.no_update;
    }
  };

  setInterval(function () {
    document.querySelectorAll("[data-push-site][data-push-store]").forEach(function (el) {
      var id = el.dataset.pushStore;
      if (!links[id] || links[id].el !== el) {
        if (links[id]) { links[id].es.close(); }
        links[id] = new Link(el);
      }
    });
  }, 200);
})();
