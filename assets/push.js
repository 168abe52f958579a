/*
 * Live updates for the console and the phone, from the site's server-sent
 * events (web/push.py). An element with data-push-site gets:
 *
 * - data-push-store: a Dash store set to {v, cast, inc, n} when an incident
 *   or the cast changed (each version event says which version last changed
 *   an incident, "inc"), on (re)connecting, and every data-push-every ms
 *   (default 30 s) for what moves with the clock (SLA lights). Crowd-only
 *   versions, several a second on a busy site, do not touch it: a dispatch
 *   never queues behind a refresh that could not have shown it.
 * - data-push-live (optional): a store set to {v, n} on new versions, at most
 *   once per data-push-live-ms (default 1 s), for crowd figures.
 *
 * One update in flight per store, the page's first callback included: the
 * page's callback writes an ack store, whose clientside callback calls
 * govPush.ack(storeId); the newest wins.
 * (The wall has its own loop in wall.js, with the stale banner.)
 */
(function () {
  "use strict";
  var INFLIGHT_TIMEOUT_MS = 8000;
  var links = {};     // by data-push-store id
  var channels = {};  // by store id (both kinds), for ack
  var early = {};     // acks that came before their channel was made

  function setProps(id, props) {
    if (window.dash_clientside && window.dash_clientside.set_props) {
      window.dash_clientside.set_props(id, props);
    }
  }

  /* One store fed by the stream: at most one update in flight, and no
   * sooner than minMs after the last one; the newest key wins. The page's
   * own first callback counts as in flight until it acks: setting the store
   * while Dash runs that callback can lose both (its result is dropped as
   * stale and the new call is never made). */
  function Channel(storeId, minMs, body) {
    this.storeId = storeId; this.minMs = minMs; this.body = body;
    this.sent = null; this.n = 0; this.timer = null;
    this.inflight = !early[storeId]; this.at = Date.now();
    delete early[storeId];
    channels[storeId] = this;
  }
  Channel.prototype.request = function (key, force) {
    var now = Date.now();
    this.want = key;
    if (this.inflight && now - this.at < INFLIGHT_TIMEOUT_MS) { return; }
    if (!force && key === this.sent) { return; }
    var wait = this.at + this.minMs - now;
    if (!force && wait > 0) {
      var self = this;
      if (!this.timer) {
        this.timer = setTimeout(function () {
          self.timer = null; self.request(self.want, false);
        }, wait);
      }
      return;
    }
    this.sent = key; this.inflight = true; this.at = now; this.n += 1;
    setProps(this.storeId, {data: this.body(this.n)});
  };
  Channel.prototype.ack = function () {
    this.inflight = false;
    if (this.want !== this.sent) { this.request(this.want, false); }
  };

  function Link(el) {
    var self = this, data = el.dataset;
    this.el = el; this.v = 0; this.cast = 0; this.inc = 0; this.tick = 0;
    this.incidents = new Channel(data.pushStore, 0, function (n) {
      return {v: self.v, cast: self.cast, inc: self.inc, n: n};
    });
    this.live = data.pushLive ? new Channel(data.pushLive,
      Number(data.pushLiveMs || 1000), function (n) { return {v: self.v, n: n}; })
      : null;
    this.clock = setInterval(function () {
      self.tick += 1; self.update(false);
    }, Number(data.pushEvery || 30000));
    this.es = new EventSource("/events/" + encodeURIComponent(data.pushSite));
    // the sign-in behind the stream ended: the page asks for a new one
    this.es.addEventListener("bye", function () {
      self.es.close(); window.location.reload();
    });
    ["hello", "version", "ping"].forEach(function (kind) {
      self.es.addEventListener(kind, function (e) {
        var d = JSON.parse(e.data);
        if (kind === "hello" && d.build && data.build && d.build !== data.build) {
          window.location.reload();
          return;
        }
        if (typeof d.v === "number") { self.v = Math.max(self.v, d.v); }
        if (typeof d.cast === "number") { self.cast = d.cast; }
        if (typeof d.inc === "number") { self.inc = Math.max(self.inc, d.inc); }
        self.update(kind === "hello");
      });
    });
  }
  Link.prototype.update = function (force) {
    this.incidents.request(this.inc + ":" + this.cast + ":" + this.tick, force);
    if (this.live) {  // open counts are on it too: an incident goes at once
      var moved = this.inc !== this.liveInc;
      this.liveInc = this.inc;
      this.live.request(String(this.v), force || moved);
    }
  };
  Link.prototype.close = function () {
    this.es.close(); clearInterval(this.clock);
  };

  window.govPush = {
    ack: function (storeId) {
      var channel = channels[storeId];
      if (channel) { channel.ack(); } else { early[storeId] = true; }
      return window.dash_clientside.no_update;
    }
  };

  setInterval(function () {
    document.querySelectorAll("[data-push-site][data-push-store]").forEach(function (el) {
      var id = el.dataset.pushStore;
      if (!links[id] || links[id].el !== el) {
        if (links[id]) { links[id].close(); }
        links[id] = new Link(el);
      }
    });
  }, 200);
})();
