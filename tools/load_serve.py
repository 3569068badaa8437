#!/usr/bin/env python3
"""A bounded load test of `gasa serve` on loopback, from a second process: N concurrent streaming
generations (POST /api/generate, Server-Sent Events), each of LENGTH characters. Prints the latency to
the first syllable (median, p99), the characters per second of all streams together, the errors, and
the server's peak resident memory (VmHWM).

Usage: [PRIME=...] tools/load_serve.py GASA_BINARY RUN [N=50] [LENGTH=200] [-- extra gasa serve options]
"""
import asyncio, json, os, re, signal, statistics, subprocess, sys, time

args = sys.argv[1:]
extra = args[args.index("--") + 1:] if "--" in args else []
args = args[:args.index("--")] if "--" in args else args
GASA, RUN = args[0], args[1]
N = int(args[2]) if len(args) > 2 else 50
LENGTH = int(args[3]) if len(args) > 3 else 200
PRIME = os.environ.get("PRIME", "대한민국은 ")


async def one(port, seed):
    t0 = time.monotonic()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    body = json.dumps({"model": 0, "prime": PRIME, "length": LENGTH, "seed": seed, "temperature": 0.9}).encode()
    writer.write(b"POST /api/generate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                 b"Content-Length: %d\r\n\r\n" % len(body) + body)
    await writer.drain()
    status = (await reader.readline()).decode()
    first, chars, done, buffer = None, 0, False, b""
    if " 200 " not in status:
        writer.close()
        return {"error": status.strip()}
    while not done:
        chunk = await reader.read(65536)
        if not chunk:
            break
        buffer += chunk
        for m in re.finditer(rb"event: (\w+)\ndata: (.*)\n\n", buffer):
            event, data = m.group(1), json.loads(m.group(2))
            if event == b"text":
                if first is None:
                    first = time.monotonic() - t0
            elif event == b"done":
                chars, done = data["characters"], True
            elif event == b"error":
                writer.close()
                return {"error": data["error"]}
        buffer = buffer[buffer.rfind(b"\n\n") + 2:] if b"\n\n" in buffer else buffer
    writer.close()
    if not done:
        return {"error": "the stream ended before its done event"}
    return {"first": first, "chars": chars, "end": time.monotonic() - t0}


async def main():
    server = subprocess.Popen([GASA, "serve", RUN, "--port", "0"] + extra, stderr=subprocess.PIPE, text=True)
    line = server.stderr.readline()
    port = int(re.search(r"http://127\.0\.0\.1:(\d+)/", line).group(1))
    t0 = time.monotonic()
    results = await asyncio.gather(*(one(port, seed) for seed in range(1, N + 1)))
    wall = time.monotonic() - t0
    with open(f"/proc/{server.pid}/status") as f:
        hwm = int(re.search(r"VmHWM:\s+(\d+) kB", f.read()).group(1)) / 1024
    server.send_signal(signal.SIGINT)
    server.wait(timeout=30)
    ok = [r for r in results if "error" not in r]
    errors = [r["error"] for r in results if "error" in r]
    if not ok:
        print(f"all {N} generations failed: " + "; ".join(sorted(set(errors))))
        sys.exit(1)
    firsts = sorted(r["first"] for r in ok if r["first"] is not None)
    p99 = firsts[min(len(firsts) - 1, int(round(0.99 * (len(firsts) - 1))))] if firsts else float("nan")
    total = sum(r["chars"] for r in ok)
    print(f"{N} concurrent generations of {LENGTH} characters ({' '.join(extra) or 'default limits'}): "
          f"first syllable after {statistics.median(firsts) * 1000:.0f} ms median, {p99 * 1000:.0f} ms p99; "
          f"{total} characters in {wall:.2f} s = {total / wall:.0f} characters/s in total; "
          f"{len(errors)} errors{': ' + '; '.join(sorted(set(errors))) if errors else ''}; server peak RSS {hwm:.1f} MiB")


asyncio.run(main())
