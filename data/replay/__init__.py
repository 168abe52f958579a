"""Replay: what the walls were shown, recorded per site and version, and read
back at any moment (:mod:`data.replay.records` the files,
:mod:`data.replay.recorder` the writer, :mod:`data.replay.read` the reader,
:mod:`data.replay.bookmarks` the reviewers' marks)."""
