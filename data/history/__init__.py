"""History on disk: the day files and their atomic writes, the archive writer
and the archiver's loop, compaction, reading, and the analytics over it."""
