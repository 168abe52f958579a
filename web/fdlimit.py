"""The open-files limit of a web process, raised to what the system allows.

Every open event stream is a socket, and a web process holds thousands of
them under gunicorn's gevent worker (a wall, console or phone each). Many
systems start a process with a soft limit of 1,024 open files under a hard
limit far higher; a process may raise its own soft limit up to the hard one
without privileges, so the web process does it at start rather than refuse
streams past the thousandth with ``Too many open files``.
"""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


def raise_open_files_limit() -> tuple[int, int]:
    """Soft RLIMIT_NOFILE up to the hard limit; (soft before, soft now)."""
    try:
        import resource
    except ImportError:  # not a POSIX system: nothing to raise
        return (-1, -1)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == hard or soft == resource.RLIM_INFINITY:
        return soft, soft
    wanted = hard
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    except (ValueError, OSError) as exc:  # an unlimited hard limit the kernel caps
        log.warning("open files: could not raise the soft limit %d to %d (%s)",
                    soft, wanted, exc)
        return soft, soft
    log.info("open files: soft limit raised from %d to %d (event streams)",
             soft, wanted)
    return soft, wanted
