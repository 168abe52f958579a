"""Crash harness for crash-safety tests: a child process that writes half a
Parquet file and is killed (SIGKILL) in the middle, as a power cut would."""

# Prepended to a child's script after its imports (os, signal, pyarrow.parquet
# as pq): every pq.write_table writes half its bytes, then the process dies.
HALF_WRITE_THEN_DIE = """
real = pq.write_table
def half_then_die(table, where, **kw):
    real(table, where, **kw)
    where.flush()
    where.truncate(where.tell() // 2)
    os.kill(os.getpid(), signal.SIGKILL)

pq.write_table = half_then_die
"""
