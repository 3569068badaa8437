#!/usr/bin/env python3
"""Plain Python reference for `gasa prepare --granularity char`, as a speed baseline.

Reads the input, decodes UTF-8 strictly, drops a leading BOM, turns CRLF and CR into LF, applies NFC
with unicodedata, builds a character vocabulary ordered by frequency then code point (as gasa does),
maps the text to ids and writes them to disk as a numpy uint16 array (uint32 past 65,536 tokens),
with the vocabulary as JSON. It does no splitting, sharding or checksums, so it does less than gasa.

Usage: ref_prepare.py INPUT OUTDIR [--vectorized]
  --vectorized  map characters to ids with numpy (np.unique over UTF-32 code points) instead of a
                Python dict lookup per character
Prints one JSON line: bytes, characters, vocab size, seconds (inside Python, from reading to writing).
"""
import collections
import json
import os
import sys
import time
import unicodedata

import numpy as np


def main() -> int:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    vectorized = "--vectorized" in sys.argv[1:]
    if len(args) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    src, out = args
    t0 = time.perf_counter()
    with open(src, "rb") as f:
        raw = f.read()
    text = raw.decode("utf-8")          # strict: raises on invalid UTF-8
    if text.startswith("\ufeff"):
        text = text[1:]
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = unicodedata.normalize("NFC", text)
    os.makedirs(out, exist_ok=True)
    if vectorized:
        codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
        uniq, inverse, counts = np.unique(codes, return_inverse=True, return_counts=True)
        order = np.lexsort((uniq, -counts))          # frequency descending, then code point
        rank = np.empty_like(order)
        rank[order] = np.arange(len(order))
        vocab = [chr(c) for c in uniq[order]]
        dtype = np.uint16 if len(vocab) <= 65536 else np.uint32
        ids = rank[inverse].astype(dtype)
    else:
        counts = collections.Counter(text)
        vocab = sorted(counts, key=lambda c: (-counts[c], ord(c)))
        index = {c: i for i, c in enumerate(vocab)}
        dtype = np.uint16 if len(vocab) <= 65536 else np.uint32
        ids = np.fromiter((index[c] for c in text), dtype=dtype, count=len(text))
    ids.tofile(os.path.join(out, "ids.bin"))
    with open(os.path.join(out, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump(vocab, f, ensure_ascii=False)
    seconds = time.perf_counter() - t0
    print(json.dumps({"bytes": len(raw), "characters": len(text), "vocab": len(vocab), "seconds": seconds}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
