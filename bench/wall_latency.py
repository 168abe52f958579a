"""Wall latency and server cost per wall (issues 3, 13): runs :mod:`bench.wall`.

    nice -n 19 .venv/bin/python bench/wall_latency.py [--walls 1,50,100,200]
        [--samples 60] [--spot-samples 30] [--repeats 3] [--window 60]
        [--feed-rate 20] [--site yaozhai] [--worker gevent] [--workers 2]
        [--other-walls epoll] [--profile]

``--help`` lists every option; ``bench/README.md`` the quick smoke run.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.wall.main import main

if __name__ == "__main__":
    sys.exit(main())
