"""The garbage collector's full pass in a web process, with and without
``gc.freeze()`` after start-up (what ``app.build`` does).

A full collection stops every thread of the process (the GIL) while it walks
every tracked object; the web app keeps ~190k of them alive for its whole
life (modules, layouts, plotly's templates), so each full pass is a stall that
every wall served by the process would see. Builds the app as ``python
app.py`` does for the sample sites (embedded Redis, ``web.factory.create_app``,
then ``gc.freeze()`` as ``app.build``), times ``gc.collect()`` before and after
the freeze (median of ``--runs``), prints the figures and writes
``bench/results/gc_pause.json``::

    .venv/bin/python bench/gc_pause.py [--runs 7]
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from data.config import load_config  # noqa: E402
from data.redis_conn import EmbeddedRedis  # noqa: E402
from web.factory import create_app  # noqa: E402


def full_pass_ms(runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        gc.collect()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        redis = EmbeddedRedis(Path(tmp) / "redis").start()
        try:
            config = load_config({"REDIS_URL": redis.url, "GOV_DEMO": "0",
                                  "GOV_DATA_DIR": tmp})
            app = create_app(config)
            gc.collect()
            before = full_pass_ms(args.runs)
            tracked = len(gc.get_objects())
            gc.freeze()
            after = full_pass_ms(args.runs)
            frozen = gc.get_freeze_count()
        finally:
            redis.stop()
    out = {"date": time.strftime("%Y-%m-%d %H:%M"), "machine": platform.platform(),
           "sites": list(config.sites), "callbacks": len(app.callback_map),
           "runs": args.runs, "tracked_objects": tracked, "frozen_objects": frozen,
           "full_pass_ms": {"without_freeze": round(before, 2),
                            "after_freeze": round(after, 2)}}
    print(f"full collection: {before:.1f} ms over {tracked} objects; "
          f"after gc.freeze(): {after:.2f} ms ({frozen} frozen)")
    target = ROOT / "bench" / "results" / "gc_pause.json"
    target.write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
