/*
 * What the wall (wall.js) and the console and phone (push.js) share of their
 * live link to the site's server-sent events (web/push.py). Dash loads the
 * files of assets/ in alphabetical order, so this one runs before both.
 *
 * window.govLive:
 * - setProps(id, props): Dash's set_props, once Dash is there.
 * - Channel(storeId, opts): one store that asks the server for something,
 *   never with more than one request in flight (see below).
 * - open(url, build, handlers): the event stream; reloads the page when the
 *   server runs another build ("hello") or ends the stream's sign-in ("bye").
 */
(function () {
  "use strict";

  function setProps(id, props) {
    if (window.dash_clientside && window.dash_clientside.set_props) {
      window.dash_clientside.set_props(id, props);
    }
  }

  /* A store the page's callback answers: at most one update in flight (an
   * answer not acked within opts.timeoutMs is taken for lost), and no sooner
   * than opts.minMs after the last one; the newest key wins. opts.body(n)
   * makes the store's data when it is sent. opts.inflight: the page's own
   * first callback counts as in flight until it acks (setting the store
   * while Dash runs that callback can lose both: its result is dropped as
   * stale and the new call is never made). */
  function Channel(storeId, opts) {
    this.storeId = storeId;
    this.minMs = opts.minMs || 0;
    this.timeoutMs = opts.timeoutMs || 8000;
    this.body = opts.body;
    this.sent = null; this.n = 0; this.timer = null;  // this.want: none yet
    this.inflight = !!opts.inflight; this.at = Date.now();
  }
  /* Ask for `key`; `force` asks even for the key already sent, at once. */
  Channel.prototype.request = function (key, force) {
    var now = Date.now();
    this.want = key;
    if (this.inflight && now - this.at < this.timeoutMs) { return; }
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
  /* The answer came: nothing in flight any more. */
  Channel.prototype.done = function () { this.inflight = false; };
  /* The answer came: ask for what was wanted meanwhile, if it was not sent. */
  Channel.prototype.ack = function () {
    this.done();
    if (this.want !== this.sent) { this.request(this.want, false); }
  };

  /* The event stream at `url`. handlers: {kind: function (data)}, data the
   * event's parsed JSON; "error" (optional) gets the browser's error event
   * (the browser reconnects by itself). Returns the EventSource. */
  function open(url, build, handlers) {
    var es = new EventSource(url);
    Object.keys(handlers).forEach(function (kind) {
      if (kind === "error" || kind === "bye") { return; }
      es.addEventListener(kind, function (e) {
        var d = JSON.parse(e.data);
        // a deploy: the page of the new build, with its scripts
        if (kind === "hello" && d.build && build && d.build !== build) {
          window.location.reload();
          return;
        }
        handlers[kind](d);
      });
    });
    // the sign-in (or kiosk token) behind the stream ended: reload, to the
    // sign-in page (a screen must not go on showing what it may not see)
    es.addEventListener("bye", function () { es.close(); window.location.reload(); });
    if (handlers.error) { es.onerror = handlers.error; }
    return es;
  }

  window.govLive = {setProps: setProps, Channel: Channel, open: open};
})();
