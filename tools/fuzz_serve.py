#!/usr/bin/env python3
"""Careless and hostile requests against `gasa serve` for a while: random JSON bodies (unknown fields,
wrong types, huge and non-finite numbers, NUL and lone surrogates in the prime), truncated bodies,
wrong Content-Length and Content-Type, random bytes. Every answer must be a 200 stream or a 4xx with a
JSON error, never a 5xx, a hang or a dead server.

Usage: tools/fuzz_serve.py GASA_BINARY [SECONDS=10]   (exit status 0: no problem found)
"""
import json, os, random, re, shutil, socket, subprocess, sys, tempfile, time

GASA = os.path.abspath(sys.argv[1])
SECONDS = float(sys.argv[2]) if len(sys.argv) > 2 else 10
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(ROOT, "data/constitution_ko/constitution_ko.txt")

work = tempfile.mkdtemp(prefix="gasa-fuzz-serve-")
for args in (["prepare", CORPUS, "--out", f"{work}/p", "--batch-size", "8", "--seq-length", "16", "-q"],
             ["train", f"{work}/p", "--out", f"{work}/r", "--rnn-size", "16", "--max-iters", "10", "--threads", "1", "-q"]):
    subprocess.run([GASA] + args, check=True, capture_output=True)
server = subprocess.Popen([GASA, "serve", f"{work}/r", "--port", "0"], stderr=subprocess.PIPE, text=True)
port = int(re.search(r":(\d+)/", server.stderr.readline()).group(1))

rng = random.Random(1)
fields = ["model", "prime", "length", "temperature", "top_k", "top_p", "seed", "unknown", "stop_at", "x"]
values = [0, -1, 1, 2, 10**30, -10**30, 1.5, 1e308, float("nan"), float("inf"), "", "대한", "😀" * 50, None, True, [], {},
          "skip", "unk", "error", "\u0000", "\ud800x", 18446744073709551615, 18446744073709551616, 2000, 2001, 0.0, 1e-45]


def send(raw):
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    s.sendall(raw)
    s.shutdown(socket.SHUT_WR)
    data = b""
    while len(data) < 2_000_000:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    return data


problem, counts, n, t0 = None, {}, 0, time.time()
try:
    while time.time() - t0 < SECONDS and problem is None:
        n += 1
        body = {rng.choice(fields): rng.choice(values) for _ in range(rng.randint(0, 6))}
        if rng.random() < 0.7:
            body["model"] = rng.choice([0, 0, 0, 1, -1, "0"])
        b = json.dumps(body, allow_nan=True).encode("utf-8", "surrogatepass")
        if rng.random() < 0.1:
            b = b[:rng.randint(0, len(b))]
        if rng.random() < 0.05:
            b = bytes(rng.randrange(256) for _ in range(rng.randint(1, 200)))
        ct = rng.choice(["application/json", "application/json; charset=utf-8", "text/plain", ""])
        cl = len(b) if rng.random() < 0.95 else rng.randint(0, 100)
        raw = ("POST /api/generate HTTP/1.1\r\nHost: localhost\r\n" + (f"Content-Type: {ct}\r\n" if ct else "")
               + f"Content-Length: {cl}\r\nConnection: close\r\n\r\n").encode() + b
        try:
            answer = send(raw)
        except socket.timeout:
            problem = f"no answer within 30 s to {raw[:300]!r}"
            break
        m = re.match(rb"HTTP/1.1 (\d+)", answer)
        code = m.group(1).decode() if m else "none"
        counts[code] = counts.get(code, 0) + 1
        if code == "none" or code.startswith("5") or (code != "200" and b'"error"' not in answer):
            problem = f"{code} for {raw[:300]!r}: {answer[:300]!r}"
        elif server.poll() is not None:
            problem = f"the server died after {raw[:300]!r}"
finally:
    server.terminate()
    server.wait(timeout=30)
    shutil.rmtree(work, ignore_errors=True)
summary = ", ".join(f"{k}: {v}" for k, v in sorted(counts.items()))
if problem:
    print(f"serve fuzz: FAILED after {n} requests ({summary}): {problem}")
    sys.exit(1)
print(f"serve fuzz: passed ({n} requests in {SECONDS:.0f} s; statuses {summary}; no 5xx, every error JSON, the server alive)")
