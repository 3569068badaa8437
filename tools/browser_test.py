#!/usr/bin/env python3
"""The page of `gasa serve` driven in a real browser (headless Chromium over the DevTools protocol):
open it, see the model cards, type a Korean prime through an input-method composition (nothing may be
sent while a syllable is being composed), press 쓰기 with two models side by side, wait for the
streamed text, check that it is well-formed NFC Hangul that starts with the prime and equals what
`gasa sample` writes for the same seed, and take a screenshot.

Usage: tools/browser_test.py GASA_BINARY [SCREENSHOT.png]   (exit status 0: passed)
"""
import base64, json, os, re, shutil, signal, socket, subprocess, sys, tempfile, time, unicodedata, urllib.request

GASA = os.path.abspath(sys.argv[1])
SHOT = os.path.abspath(sys.argv[2]) if len(sys.argv) > 2 else None
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(ROOT, "data/constitution_ko/constitution_ko.txt")
PRIME = "대한민국은 "
SEED = 7


def fail(message):
    print("browser test: FAILED: " + message, flush=True)
    sys.exit(1)


class WebSocket:
    """Just enough of RFC 6455 for the DevTools protocol: text frames, masked out, any length in."""

    def __init__(self, url):
        m = re.match(r"ws://([^:/]+):(\d+)(/.*)", url)
        self.sock = socket.create_connection((m.group(1), int(m.group(2))), timeout=30)
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall((f"GET {m.group(3)} HTTP/1.1\r\nHost: {m.group(1)}:{m.group(2)}\r\nUpgrade: websocket\r\n"
                           f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
        head = b""
        while b"\r\n\r\n" not in head:
            head += self.sock.recv(1)
        if b" 101 " not in head.split(b"\r\n")[0]:
            fail("DevTools refused the WebSocket: " + head.decode(errors="replace"))
        self.next_id = 0

    def _recv_exact(self, n):
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                fail("DevTools closed the connection")
            data += chunk
        return data

    def send(self, text):
        payload = text.encode()
        header = bytearray([0x81])
        n = len(payload)
        if n < 126:
            header.append(0x80 | n)
        elif n < 65536:
            header.append(0x80 | 126); header += n.to_bytes(2, "big")
        else:
            header.append(0x80 | 127); header += n.to_bytes(8, "big")
        mask = os.urandom(4)
        self.sock.sendall(bytes(header) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))

    def recv(self):
        message = b""
        while True:
            b0, b1 = self._recv_exact(2)
            n = b1 & 0x7F
            if n == 126:
                n = int.from_bytes(self._recv_exact(2), "big")
            elif n == 127:
                n = int.from_bytes(self._recv_exact(8), "big")
            data = self._recv_exact(n)
            if b0 & 0x0F == 0x9:   # ping
                continue
            message += data
            if b0 & 0x80:
                return message.decode()

    def call(self, method, **params):
        self.next_id += 1
        self.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            reply = json.loads(self.recv())
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    fail(f"{method}: {reply['error']}")
                return reply.get("result", {})

    def js(self, expression):
        r = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in r:
            fail(f"{expression}: {r['exceptionDetails']}")
        return r["result"].get("value")


def wait(what, predicate, seconds=60):
    end = time.time() + seconds
    while time.time() < end:
        v = predicate()
        if v:
            return v
        time.sleep(0.1)
    fail("timed out waiting for " + what)


def run(*args, **kw):
    r = subprocess.run(args, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        fail(" ".join(args) + ":\n" + r.stderr)
    return r.stdout


def main():
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        fail("chromium is not installed (apt-get install -y chromium)")
    work = tempfile.mkdtemp(prefix="gasa-browser-")
    procs = []
    try:
        os.chdir(work)
        for g in ("char", "jamo"):
            run(GASA, "prepare", CORPUS, "--out", "p-" + g, "--granularity", g, "--batch-size", "8", "--seq-length", "32", "-q")
            run(GASA, "train", "p-" + g, "--out", "run-" + g, "--rnn-size", "48", "--max-iters", "150", "--eval-every", "50",
                "--threads", "2", "-q")
        server = subprocess.Popen([GASA, "serve", "run-char", "run-jamo", "--port", "0"], stderr=subprocess.PIPE, text=True)
        procs.append(server)
        line = server.stderr.readline()
        m = re.search(r"(http://127\.0\.0\.1:\d+/)", line)
        if not m:
            fail("gasa serve did not say its address: " + line)
        address = m.group(1)
        profile = os.path.join(work, "profile")
        browser = subprocess.Popen([chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
                                    "--remote-debugging-port=0", "--user-data-dir=" + profile, "--window-size=1280,1100",
                                    "--lang=ko-KR", "about:blank"], stderr=subprocess.PIPE, text=True)
        procs.append(browser)
        devtools = None
        for _ in range(200):
            line = browser.stderr.readline()
            m = re.search(r"DevTools listening on (ws://\S+)", line)
            if m:
                devtools = m.group(1)
                break
        if not devtools:
            fail("chromium did not start its DevTools endpoint")
        port = re.match(r"ws://[^:]+:(\d+)/", devtools).group(1)
        req = urllib.request.Request(f"http://127.0.0.1:{port}/json/new?{address}", method="PUT")
        target = json.loads(urllib.request.urlopen(req, timeout=30).read())
        ws = WebSocket(target["webSocketDebuggerUrl"])
        ws.call("Page.enable")
        ws.call("Runtime.enable")
        wait("the model cards", lambda: ws.js("document.querySelectorAll('.card').length") == 2)
        cards = ws.js("[...document.querySelectorAll('.card h3')].map(h => h.textContent)")
        if cards != ["run-char", "run-jamo"]:
            fail(f"cards: {cards}")
        ws.js("document.querySelector('#modelB').value = '1'; document.querySelector('#seed').value = '%d';"
              "document.querySelector('#length').value = '120'; document.querySelector('#temperature').value = '0.8'" % SEED)
        # Type the prime as an input method would: the last syllable is composed (ㅇ, 으, 은) before it is
        # committed; while it is composing, 쓰기 must not start anything.
        ws.js("document.querySelector('#prime').focus()")
        ws.call("Input.insertText", text=PRIME[:-2])
        for partial in ("ㅇ", "으", "은"):
            ws.call("Input.imeSetComposition", text=partial, selectionStart=1, selectionEnd=1)
        shown = ws.js("!document.querySelector('#composing').classList.contains('hidden')")
        ws.js("document.querySelector('#write').click()")   # a click while the syllable is still being composed
        time.sleep(0.3)
        sent_while_composing = ws.js("document.querySelectorAll('.pane').length")
        if not shown or sent_while_composing:
            fail(f"the page would send while a syllable is composed (composing shown: {shown}, panes: {sent_while_composing})")
        ws.call("Input.insertText", text="은")   # commits the composition: the held click is carried out now
        wait("the held request to go", lambda: ws.js("document.querySelectorAll('.pane').length") > 0, 10)
        wait("the first generation to end", lambda: ws.js("document.querySelector('#write').disabled === false"), 60)
        held_prime = ws.js("document.querySelector('.pane .prime').textContent")
        if held_prime != PRIME[:-1]:
            fail(f"the request held during composition went with the prime {held_prime!r}, not {PRIME[:-1]!r}")
        ws.call("Input.insertText", text=" ")
        typed = ws.js("document.querySelector('#prime').value")
        if typed != PRIME:
            fail(f"the prime box holds {typed!r}, not {PRIME!r}")
        ws.js("document.querySelector('#write').click()")
        wait("both panes to finish", lambda: ws.js("[...document.querySelectorAll('.pane')].every(p => p.dataset.done === '1')"
                                                   " && document.querySelectorAll('.pane').length === 2"), 90)
        texts = ws.js("[...document.querySelectorAll('.pane .text')].map(t => t.textContent)")
        for name, text in zip(("run-char", "run-jamo"), texts):
            if not text.startswith(PRIME):
                fail(f"{name}: the text does not start with the prime: {text[:40]!r}")
            if unicodedata.normalize("NFC", text) != text:
                fail(f"{name}: the text is not NFC")
            loose = [c for c in text if 0x1100 <= ord(c) <= 0x11FF]
            if loose:
                fail(f"{name}: conjoining jamo left unassembled: {loose[:5]}")
            hangul = sum(1 for c in text if 0xAC00 <= ord(c) <= 0xD7A3)
            if hangul < 20:
                fail(f"{name}: only {hangul} Hangul syllables in {text!r}")
            sample = run(GASA, "sample", name, "--prime", PRIME, "--length", "120", "--seed", str(SEED), "--temperature", "0.8")
            if (sample[:-1] if sample.endswith("\n") else sample) != text:
                fail(f"{name}: the page wrote {text!r} but gasa sample writes {sample!r} for seed {SEED}")
        if SHOT:
            png = base64.b64decode(ws.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)["data"])
            with open(SHOT, "wb") as f:
                f.write(png)
        print(f"browser test: passed (headless Chromium drove {address}: a click during an input-method composition was "
              f"held until the syllable was committed, two panes streamed {len(texts[0])} and {len(texts[1])} characters, "
              f"equal to gasa sample)"
              + (f"; screenshot {SHOT}" if SHOT else ""), flush=True)
    finally:
        for p in procs:
            p.send_signal(signal.SIGINT)
        for p in procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
        shutil.rmtree(work, ignore_errors=True)


main()
