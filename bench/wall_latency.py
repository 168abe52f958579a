"""Wall latency and server cost per wall (issue 3): runs :mod:`bench.wall`.

    .venv/bin/python bench/wall_latency.py [--walls 1,50] [--samples 60]
        [--repeats 3] [--window 60] [--feed-rate 20] [--site yaozhai]
        [--workers 2] [--threads 64] [--profile]

``--help`` lists every option; ``bench/README.md`` the quick smoke run.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.wall.main import main

if __name__ == "__main__":
    sys.exit(main())
