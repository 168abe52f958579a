"""Wall latency and server cost per wall (issues 3, 13), in real Chromium.

The parts run in their own processes, as in production: an embedded
redis-server (``data.redis_conn.EmbeddedRedis``), ``python app.py aggregator``
and the web tier as the README runs it for scale, ``gunicorn -k gevent
--worker-connections 10000 -w 2 ... app:server`` (``--worker gthread
--threads 64`` for the old one; GOV_DEMO=0, GOV_SNAPSHOT_MS at its default
200). Site: ``yaozhai`` (24 entrances, 9 grids; ``--site tiny`` for the test
fixture). Measured, for each number of walls open on the site (``--walls
1,50,100,200``): the measured wall is a 1920×1080 ``/wall`` page in its own
Chromium. The other N − 1 walls are, by default, idle event streams on one
``epoll`` loop in a process of their own at nice 0 (``epoll_walls.py`` over
``bench/stream_clients.py``: each opens ``/events/<site>?wall=zh`` with the
kiosk cookie and reads every event; ``--other-walls asyncio`` for
``streams.py``'s walls, which also load the page and play wall.js's
fallback callback, at ten times the client CPU). ``streams.py``' walls load
through the auth gate with the kiosk token as a wall does, then hold
``/events/<site>?wall=zh`` open as ``assets/wall.js`` does, read and count
every event, and ask the update callback when wall.js would (a change that
does not follow, a wall behind). That is all the server sees of a loaded
wall: counted in Chromium, one real wall page made 29 requests while loading
and none in the 75 s after but its event stream (its clock, stale and reload
checks run in the page; its poll asks only while the stream is down; the
spotlight comes in the stream); each run checks it again, giving the
measured page's requests in every CPU window
(``measured_wall_requests_per_min``) next to the simulated walls'
(``other_walls_requests_per_wall_per_min``). So the server gets the load of
N real walls, while their rendering, which a real wall does on a computer of
its own, is not charged to this 2-core machine:

1. XADD → visible: one crowd entry ``in=1 out=0`` at an entrance the
   background feed leaves alone (public contract, ``Keys(prefix, site)
   .stream("crowd")``); a MutationObserver on
   ``[data-testid=kpi-people-present]`` records ``Date.now()`` when the digits
   change (and at the next animation frame); the start is ``time.time()`` just
   before the XADD, on the same clock. With the steady background feed
   (``--feed-rate`` crowd entries/s at the other entrances, in = out, so
   versions flow at the snapshot rate) and with no feed ("idle"). Each sample
   is cut into stages from the measured page's CDP Network events and the
   versions this benchmark sees published. The wall gets each change inside
   its event stream: aggregator (XADD → PUBLISH of the first message
   counting it: a ``live:`` count between snapshots, or the snapshot), push
   (→ the SSE event carrying it reaches the page), render (→ DOM), frame (→
   next animation frame); ``shown_by`` says which event showed each sample.
   Should a sample come by the fallback update callback instead: aggregator,
   to request (of it, push), server (→ response headers), download, render.
2. CPU of the web tier (gunicorn master and workers, psutil) over
   ``--window`` s with the feed on: CPU seconds per minute, with 1 and with N
   walls, and (cpuN − cpu1)/(N − 1) per extra wall, next to the update
   callbacks the walls made (counted in each page) and the CPU of the other
   processes (aggregator, redis, Chromium, the stream walls).
3. Urgent report → spotlight (``spot.py``, ``--spot-samples`` a block, with
   the feed on): a level-1 incident reported on the incident stream, and
   the time until its title shows in the measured wall's spotlight, uncast
   (``GOV_WALL_INTERRUPT_SECONDS`` = ``--interrupt-seconds``, 5, so that each
   sample lets go of the spotlight soon); cut into to_cast (fold, snapshot,
   the web's queueing: the cast number announced), push (→ the ``spot``
   event at the page) and render.
4. Bytes per update on the measured wall: each SSE ``version`` event (it
   carries the change) and the median size of each output in it when sent;
   body and wire size of any update callback's ``_dash-update-component``
   responses (the first, full one left out) and its request.

Every block runs ``--repeats`` times; figures are medians over the repeats
(each repeat's p50/p95), pooled percentiles are given too. gunicorn serves
``app:server`` through :func:`bench.wall.server.web_server`, as production
does; ``--profile`` adds the time and thread CPU of each callback in its
handler and samples the workers with py-spy during the last CPU window.
The summary gives the web tier's CPU-s/s at each count and its
least-squares slope per wall. Printed, and written to
``bench/results/wall-latency-200.json``::

    nice -n 19 .venv/bin/python bench/wall_latency.py [--walls 1,50,100,200]
        [--samples 60] [--spot-samples 30] [--repeats 3] [--window 60]
        [--worker gevent] [--other-walls epoll] [--profile]

The modules: ``server`` (the processes, their CPU), ``feed`` (the background
feed, the published versions), ``page`` (the measured wall, its trace, the
walls), ``epoll_walls`` and ``streams`` (the other walls), ``spot`` (urgent
report → spotlight), ``measure`` (latency blocks, stages,
CPU windows, bytes), ``stats``, ``report`` (summary, printout), ``main``
(the command line).
"""
