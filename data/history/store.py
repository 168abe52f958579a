"""Where the history lives: a local folder (the default) or an object store.

The archiver and the web processes of a city run on different machines, so
the history must be somewhere all of them reach: ``GOV_HISTORY_URL`` names it,
as any URL that :meth:`pyarrow.fs.FileSystem.from_uri` opens
(``s3://bucket/prefix?endpoint_override=http://minio:9000`` for MinIO, with
the keys in ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY``), or a folder.
:class:`Store` is the few things the history modules do with files, each done
the way its kind of storage makes safe:

- **A folder** behaves exactly as before: a new file is written to a hidden
  temp file, fsynced and renamed over the old one (the folder fsynced), and a
  file's identity is (inode, size, mtime ns).
- **An object store** has no rename (a copy then a delete is neither atomic
  nor cheap), but a PUT is: the object appears whole when the upload
  completes, or not at all, and a GET returns one version whole. So a file is
  serialized in memory first and uploaded in one stream that is closed only
  when every byte is in it; a writer that dies before leaves the old object
  (the parts of an unfinished multipart upload are invisible; a bucket
  lifecycle rule aborts them). There are no temp files to clean. An object's
  identity is (0, size, upload time in whole seconds, what a HEAD says); a
  rewrite that lands in the same second with the same size is uploaded again
  in the next one, so a rewrite always changes the identity.
"""

from __future__ import annotations

import functools
import os
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path, PurePath, PurePosixPath

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.parquet as pq

Identity = tuple[int, int, int]  # inode (0 on an object store), size, mtime_ns
STALE_TMP_S = 600
SAME_SECOND_TRIES = 4


class StoreError(ValueError):
    """``GOV_HISTORY_URL`` cannot be opened; the message says why."""


@dataclass(frozen=True)
class Store:
    """The history under ``base`` on ``fs`` (a :class:`Path` on a local disk)."""

    url: str
    base: PurePath
    fs: pafs.FileSystem = field(compare=False, hash=False, repr=False)

    @property
    def local(self) -> bool:
        return isinstance(self.fs, pafs.LocalFileSystem)

    # --- what is there ------------------------------------------------------

    def identity(self, path: PurePath) -> Identity | None:
        """The identity of the file at ``path``, None if there is none."""
        if self.local:
            try:
                stat = Path(path).stat()
            except FileNotFoundError:
                return None
            return (stat.st_ino, stat.st_size, stat.st_mtime_ns)
        info = self.fs.get_file_info(str(path))
        return _identity(info) if info.type == pafs.FileType.File else None

    def identities(self, folder: PurePath, paths: list[PurePath]
                   ) -> dict[PurePath, Identity]:
        """The identities of those ``paths`` (all under ``folder``) that exist:
        a stat each on a disk, one listing of ``folder`` on an object store
        (a request per file would cost a round trip each)."""
        if self.local:
            found = {p: self.identity(p) for p in paths}
            return {p: ident for p, ident in found.items() if ident is not None}
        wanted = {str(p): p for p in paths}
        listing = self.fs.get_file_info(pafs.FileSelector(
            str(folder), recursive=True, allow_not_found=True))
        return {wanted[i.path]: _identity(i) for i in listing
                if i.path in wanted and i.type == pafs.FileType.File}

    def exists(self, path: PurePath) -> bool:
        return self.identity(path) is not None

    def folders(self, folder: PurePath, prefix: str) -> list[str]:
        """Names of the sub-folders of ``folder`` that start with ``prefix``."""
        if self.local:
            return [p.name for p in Path(folder).glob(f"{prefix}*") if p.is_dir()]
        listing = self.fs.get_file_info(pafs.FileSelector(
            str(folder), allow_not_found=True))
        return [PurePosixPath(i.path).name for i in listing
                if i.type == pafs.FileType.Directory
                and PurePosixPath(i.path).name.startswith(prefix)]

    # --- reading --------------------------------------------------------------

    def read_schema(self, path: PurePath | str) -> pa.Schema:
        return pq.read_schema(str(path), filesystem=self.fs)

    def read_table(self, path: PurePath) -> pa.Table | None:
        """The whole table at ``path`` (None if there is none)."""
        try:
            if self.local:
                return pq.read_table(path)
            return pq.read_table(pa.BufferReader(self._get(path)))
        except FileNotFoundError:
            return None

    def read_exactly(self, path: PurePath
                     ) -> tuple[pq.ParquetFile, Identity] | None:
        """The file at ``path`` and the identity of exactly the bytes read (a
        month file records it): on a disk the open file's own stat (a rename
        cannot change an open file); on an object store one GET between two
        looks at the object, which must agree, or the object was replaced
        while read and None is returned (the next pass copies it)."""
        if self.local:
            try:
                with open(path, "rb") as handle:
                    stat = os.fstat(handle.fileno())
                    data = pa.py_buffer(handle.read())
            except FileNotFoundError:
                return None
            ident = (stat.st_ino, stat.st_size, stat.st_mtime_ns)
            return pq.ParquetFile(pa.BufferReader(data)), ident
        before = self.identity(path)
        if before is None:
            return None
        try:
            data = self._get(path)
        except FileNotFoundError:
            return None
        if self.identity(path) != before:
            return None
        return pq.ParquetFile(pa.BufferReader(data)), before

    def dataset(self, paths: list[str], schema: pa.Schema) -> ds.Dataset:
        return ds.dataset(paths, schema=schema, format="parquet",
                          filesystem=self.fs)

    def _get(self, path: PurePath) -> pa.Buffer:
        """One GET: one version of the object, whole."""
        with self.fs.open_input_stream(str(path)) as stream:
            return stream.read_buffer()

    # --- writing --------------------------------------------------------------

    def write_parquet(self, table: pa.Table, path: PurePath) -> None:
        """Write ``table`` to ``path`` so that no reader ever sees half of it."""
        if self.local:
            _write_local(table, Path(path))
            return
        sink = pa.BufferOutputStream()
        pq.write_table(table, sink, compression="zstd")
        body = sink.getvalue()  # all of it, before the upload starts
        before = self.identity(path)
        for _ in range(SAME_SECOND_TRIES):
            self._put(path, body)
            if before is None or self.identity(path) != before:
                return
            # same size in the same second: a reader could not tell the new
            # object from the old one, so upload it again once the second is over
            time.sleep(1.05 - time.time() % 1)
        raise OSError(f"{path}: the store keeps the same size and time on rewrite")

    def _put(self, path: PurePath, body: pa.Buffer) -> None:
        """One upload: the object is replaced when the stream closes whole."""
        with self.fs.open_output_stream(str(path)) as out:
            out.write(body)

    def remove_stale_temps(self, older_than_s: float = STALE_TMP_S) -> int:
        """Delete temp files a crashed writer left behind; returns how many
        (an object store has none: nothing is visible before its PUT)."""
        if not self.local:
            return 0
        cutoff = time.time() - older_than_s
        removed = 0
        root = Path(self.base)
        for tmp in [*root.glob("site=*/day=*/.*.tmp"),
                    *root.glob("site=*/month=*/.*.tmp")]:
            try:
                if tmp.stat().st_mtime < cutoff:
                    tmp.unlink()
                    removed += 1
            except FileNotFoundError:
                continue
        return removed


def _identity(info: pafs.FileInfo) -> Identity:
    # whole seconds: a HEAD says seconds, a listing may say milliseconds (MinIO)
    return (0, info.size, (info.mtime_ns or 0) // 10**9 * 10**9)


def _write_local(table: pa.Table, path: Path) -> None:
    """Hidden temp file, fsync, rename over ``path``, fsync the folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "wb") as handle:
            pq.write_table(table, handle, compression="zstd")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


Root = Store | Path | str  # what the history functions accept as its place


def as_store(root: Root) -> Store:
    """The :class:`Store` of ``root``: a store, a folder, or a URL."""
    if isinstance(root, Store):
        return root
    if isinstance(root, Path):
        return _local(str(root))
    return _open(root)


@functools.lru_cache(maxsize=8)
def _local(folder: str) -> Store:
    return Store(folder, Path(folder), pafs.LocalFileSystem())


@functools.lru_cache(maxsize=8)
def _open(url: str) -> Store:
    """One filesystem per URL and process (an S3 client is costly to make)."""
    if "://" not in url:
        return _local(str(Path(url).expanduser().resolve()))
    try:
        fs, base = pafs.FileSystem.from_uri(url)
    except (pa.ArrowException, ValueError, OSError) as exc:
        query = url.partition("?")[2]
        said = str(exc).replace(query, "…") if query else str(exc)
        raise StoreError(f"GOV_HISTORY_URL={_redacted(url)!r}: {said}") from None
    if isinstance(fs, pafs.LocalFileSystem):
        return _local(base)
    if not base.strip("/"):
        raise StoreError(f"GOV_HISTORY_URL={_redacted(url)!r}: no bucket named")
    return Store(url, PurePosixPath(base.rstrip("/")), fs)


def _redacted(url: str) -> str:
    """``url`` without its query (it may carry ``secret_key``)."""
    return url.split("?", 1)[0]
