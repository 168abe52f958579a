/*
 * Live updates for the console and the phone, from the site's server-sent
 * events (web/push.py, through assets/live.js). An element with
 * data-push-site gets:
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
 * One update in flight per store (govLive.Channel), the page's first
 * callback included: the page's callback writes an ack store, whose
 * clientside callback calls govPush.ack(storeId); the newest wins.
 * (The wall has its own loop in wall.js, with the stale banner.)
 */
(function () {
  "use strict";
  var live = window.govLive;
  var INFLIGHT_TIMEOUT_MS = 8000;
  var links = {};     // by data-push-store id
  var channels = {};  // by store id (both kinds), for ack
  var early = {};     // acks that came before their channel was made

  // In flight from the start (the page's first callback), unless it acked.
  function channel(storeId, minMs, body) {
    var made = new live.Channel(storeId, {
      minMs: minMs, timeoutMs: INFLIGHT_TIMEOUT_MS, body: body,
      inflight: !early[storeId]});
    delete early[storeId];
    channels[storeId] = made;
    return made;
  }

  function Link(el) {
    var self = this, data = el.dataset;
    this.el = el; this.v = 0; this.cast = 0; this.inc = 0; this.tick = 0;
    this.incidents = channel(data.pushStore, 0, function (n) {
      return {v: self.v, cast: self.cast, inc: self.inc, n: n};
    });
    this.live = data.pushLive ? channel(data.pushLive,
      Number(data.pushLiveMs || 1000), function (n) { return {v: self.v, n: n}; })
      : null;
    this.clock = setInterval(function () {
      self.tick += 1; self.update(false);
    }, Number(data.pushEvery || 30000));
    var handlers = {};
    ["hello", "version", "ping"].forEach(function (kind) {
      handlers[kind] = function (d) {
        if (typeof d.v === "number") { self.v = Math.max(self.v, d.v); }
        if (typeof d.cast === "number") { self.cast = d.cast; }
        if (typeof d.inc === "number") { self.inc = Math.max(self.inc, d.inc); }
        self.update(kind === "hello");
      };
    });
    this.es = live.open("/events/" + encodeURIComponent(data.pushSite),
                        data.build, handlers);
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
      var made = channels[storeId];
      if (made) { made.ack(); } else { early[storeId] = true; }
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
