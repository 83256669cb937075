"""Read what an offline W&B run wrote: the `.wandb` file is a LevelDB-style log of protobuf Records.

Layout: a 7-byte header (":W&B", magic, version), then 32 KiB blocks of chunks, each chunk with a
7-byte header (crc32, little-endian length, type FULL=1 / FIRST=2 / MIDDLE=3 / LAST=4).
"""
from __future__ import annotations

import struct
from pathlib import Path

BLOCK, HEADER = 32768, 7


def read_records(path: Path):
    from wandb.proto import wandb_internal_pb2 as pb

    data = Path(path).read_bytes()
    assert data[:4] == b":W&B", f"{path} is not a W&B run file"
    pos, pending = HEADER, b""
    while pos + HEADER <= len(data):
        left = BLOCK - pos % BLOCK
        if left < HEADER:  # the rest of a block too small for a chunk header is padding
            pos += left
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos : pos + HEADER])
        chunk = data[pos + HEADER : pos + HEADER + length]
        pos += HEADER + length
        if kind == 0 and length == 0:
            continue
        pending = chunk if kind in (1, 2) else pending + chunk
        if kind in (1, 4):
            record = pb.Record()
            record.ParseFromString(pending)
            yield record
            pending = b""


def summarize(path: Path) -> dict[str, set[str]]:
    """{"history": keys logged over time, "config": config keys, "files": media file paths, "group": run group}."""
    out = {"history": set(), "config": set(), "files": set(), "group": set()}
    for r in read_records(path):
        kind = r.WhichOneof("record_type")
        if kind == "history":
            out["history"].update(i.key or "/".join(i.nested_key) for i in r.history.item)
        elif kind == "config":
            out["config"].update(i.key or "/".join(i.nested_key) for i in r.config.update)
        elif kind == "run":
            out["group"].add(r.run.run_group)
        elif kind == "files":
            out["files"].update(f.path for f in r.files.files)
    return out
