#!/usr/bin/env python3
"""Writes covip-data's Parquet fixture the way Hugging Face `datasets` lays out images.

`covip-data/tests/fixtures/hf_lar.parquet`: an LAR set with large strings, image structs
`{bytes, path}` with and without bytes, and one malformed row (one dialogue for two images).
Needs pyarrow (`pip install pyarrow`). Run from the repository root.
"""
import io
import json
import struct
import zlib

import pyarrow as pa
import pyarrow.parquet as pq


def tiny_png(rgb):
    """A 2x2 PNG of one colour, built by hand so the script needs nothing but pyarrow."""
    raw = b"".join(b"\x00" + bytes(rgb) * 2 for _ in range(2))

    def chunk(kind, data):
        c = kind + data
        return struct.pack(">I", len(data)) + c + struct.pack(">I", zlib.crc32(c) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


image = pa.struct([("bytes", pa.binary()), ("path", pa.large_string())])
schema = pa.schema(
    [
        ("images_context", pa.large_list(image)),
        ("dialogues_context", pa.list_(pa.large_string())),
        ("query_image", image),
        ("answer", pa.large_string()),
        ("last_action", pa.large_string()),
    ],
    metadata={"huggingface": json.dumps({"info": {"features": {}}})},
)
red, blue = tiny_png((200, 30, 30)), tiny_png((30, 30, 200))
rows = {
    "images_context": [
        [{"bytes": red, "path": "a.png"}, {"bytes": None, "path": "b.png"}],
        [{"bytes": blue, "path": None}],
        [{"bytes": red, "path": "a.png"}, {"bytes": blue, "path": "c.png"}],
    ],
    "dialogues_context": [["User: hi Mina", "User: hi Oli"], ["User: hello"], ["User: only one"]],
    "query_image": [{"bytes": blue, "path": "q.png"}, {"bytes": red, "path": "q2.png"}, {"bytes": red, "path": None}],
    "answer": ["I was baking bread.", "I was reading.", "x"],
    "last_action": ["I was baking bread.", "I was reading.", "x"],
}
table = pa.table(rows, schema=schema)
buf = io.BytesIO()
pq.write_table(table, buf, compression="snappy")
with open("covip-data/tests/fixtures/hf_lar.parquet", "wb") as f:
    f.write(buf.getvalue())
print("wrote covip-data/tests/fixtures/hf_lar.parquet", len(buf.getvalue()), "bytes")
