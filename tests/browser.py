"""Load a local HTML file in headless Chromium; read back what a person would see.

    with Browser() as browser:
        page = browser.load("page.html")
        page.console       # [{'level': 'error', 'text': ..., 'source': ...}, ...]
        page.requests      # every URL the page asked for, its own file:// first
        page.dom           # document.documentElement.outerHTML after load
        page.png           # a PNG screenshot of the whole page (bytes)
        page.evaluate("document.title")   # any expression, by value

The mechanism is the Chrome DevTools protocol over a pipe
(--remote-debugging-pipe: JSON messages separated by NUL bytes on the child's
file descriptors 3 and 4, dup2'd there before exec), driven from the standard library alone: no
websocket, no port, no npm package, nothing to pin or download.  Chromium
itself is Debian's package (`apt-get install chromium`; .ci/run installs
it); `chromium_path()` finds it, and `skip_reason()` says why a test cannot
run without it.  Why not Playwright: it would add Node, an npm lockfile and a
second process layer for the four things used here (console, network,
DOM, screenshot), which the protocol gives directly.

decode_png() reads Chromium's screenshots (8-bit RGB or RGBA, not
interlaced) with zlib only, so tests can look at pixels; it is pure Python
(about a second per million pixels), so tests look at clips of the page
(page.screenshot(x, y, width, height)) rather than the whole of it.
"""

import base64
import json
import os
import select
import shutil
import struct
import subprocess
import tempfile
import time
import zlib

# The flags the machine notes prescribe for a closed network: no background
# traffic, no first-run UI, no sandbox (we run as root), no GPU.
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--mute-audio",
    "--force-device-scale-factor=1",
    "--disable-features=Translate,MediaRouter,OptimizationHints",
    "--remote-debugging-pipe",
)

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def chromium_path():
    """$REFBACKPROP_CHROMIUM, else the first Chromium on PATH, else None."""
    env = os.environ.get("REFBACKPROP_CHROMIUM")
    if env:
        return env if os.path.exists(env) else None
    for name in CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    return None


def skip_reason():
    """None if a browser test can run here, else why not."""
    if os.name != "posix":
        return "the harness drives Chromium over inherited pipes, which needs POSIX"
    if chromium_path() is None:
        return (
            "no Chromium on this machine (apt-get install chromium, or set "
            "REFBACKPROP_CHROMIUM); .ci/run installs it"
        )
    return None


class BrowserError(RuntimeError):
    """Chromium failed to start, answered with an error, or timed out."""


class Page:
    """What one load produced; evaluate() runs more JavaScript in the page."""

    def __init__(self, browser, session, url):
        self._browser, self._session, self.url = browser, session, url
        self.console, self.requests = [], []
        self.dom, self.png = None, None

    def evaluate(self, expression):
        """The value of a JavaScript expression in the page (JSON-able)."""
        res = self._browser.call(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
            self._session,
        )
        if "exceptionDetails" in res:
            raise BrowserError("%s: %s" % (expression, res["exceptionDetails"]))
        return res["result"].get("value")

    def screenshot(self, x=0, y=0, width=None, height=None, scale=1):
        """A PNG of a region of the page (CSS pixels; default the viewport)."""
        if width is None or height is None:
            size = self.evaluate("[innerWidth, innerHeight]")
            width, height = width or size[0], height or size[1]
        shot = self._browser.call(
            "Page.captureScreenshot",
            {
                "format": "png",
                "captureBeyondViewport": True,
                "clip": {"x": x, "y": y, "width": width, "height": height, "scale": scale},
            },
            self._session,
        )
        return base64.b64decode(shot["data"])


class Browser:
    """One headless Chromium with a fresh profile, for the life of a `with`."""

    def __init__(self, path=None, timeout=30.0):
        self.path = path or chromium_path()
        if self.path is None:
            raise BrowserError(skip_reason())
        self.timeout = timeout
        self._next_id = 0
        self._buf = b""
        self._events = []  # (sessionId, method, params) not yet consumed
        self._proc = None

    def __enter__(self):
        import fcntl  # POSIX only; skip_reason() says so elsewhere

        self._profile = tempfile.mkdtemp(prefix="refbackprop-chromium-")
        to_child_r, to_child_w = os.pipe()
        from_child_r, from_child_w = os.pipe()
        # The child's ends go above 9 first, so that moving them to 3 and 4
        # in the child cannot overwrite one with the other.
        a = fcntl.fcntl(to_child_r, fcntl.F_DUPFD_CLOEXEC, 10)
        b = fcntl.fcntl(from_child_w, fcntl.F_DUPFD_CLOEXEC, 10)
        os.close(to_child_r)
        os.close(from_child_w)

        def pipes_to_3_and_4():  # runs in the child, before exec
            os.dup2(a, 3)  # dup2 clears close-on-exec on 3 and 4
            os.dup2(b, 4)

        args = [self.path] + list(FLAGS) + ["--user-data-dir=" + self._profile, "about:blank"]
        self._log = tempfile.TemporaryFile()
        self._proc = subprocess.Popen(
            args,
            close_fds=False,
            preexec_fn=pipes_to_3_and_4,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=self._log,
        )
        os.close(a)
        os.close(b)
        self._w, self._r = to_child_w, from_child_r
        try:
            self.call("Browser.getVersion")
        except Exception:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc):
        if self._proc is not None and self._proc.poll() is None:
            try:
                self._send("Browser.close", {}, None)
            except OSError:
                pass
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        for fd in (getattr(self, "_w", None), getattr(self, "_r", None)):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self._w = self._r = None
        shutil.rmtree(self._profile, ignore_errors=True)
        self._log.close()
        return False

    def stderr(self):
        """What Chromium printed (for error messages)."""
        self._log.seek(0)
        return self._log.read().decode("utf-8", "replace")[-4000:]

    # -- the protocol --------------------------------------------------------

    def _send(self, method, params, session):
        self._next_id += 1
        msg = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        data = json.dumps(msg).encode("utf-8") + b"\0"
        while data:
            data = data[os.write(self._w, data) :]
        return self._next_id

    def _read_message(self, deadline):
        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise BrowserError(
                    "Chromium did not answer within %.0f s\n%s" % (self.timeout, self.stderr())
                )
            ready, _, _ = select.select([self._r], [], [], left)
            if ready:
                chunk = os.read(self._r, 1 << 20)
                if not chunk:
                    raise BrowserError(
                        "Chromium closed the pipe (exit %s)\n%s"
                        % (self._proc.poll(), self.stderr())
                    )
                self._buf += chunk
        raw, self._buf = self._buf.split(b"\0", 1)
        return json.loads(raw.decode("utf-8"))

    def call(self, method, params=None, session=None):
        """Send a command and return its result; events that arrive meanwhile
        are kept for wait_for()."""
        ident = self._send(method, params, session)
        deadline = time.monotonic() + self.timeout
        while True:
            msg = self._read_message(deadline)
            if msg.get("id") == ident:
                if "error" in msg:
                    raise BrowserError("%s: %s" % (method, msg["error"]))
                return msg.get("result", {})
            if "method" in msg:
                self._events.append((msg.get("sessionId"), msg["method"], msg.get("params", {})))

    def wait_for(self, method, session):
        """Block until the event arrives (or was already kept)."""
        deadline = time.monotonic() + self.timeout
        k = 0
        while True:
            while k < len(self._events):
                if self._events[k][0] == session and self._events[k][1] == method:
                    return self._events[k][2]
                k += 1
            msg = self._read_message(deadline)
            if "method" in msg:
                self._events.append((msg.get("sessionId"), msg["method"], msg.get("params", {})))

    # -- a page --------------------------------------------------------------

    def load(self, path, width=1100, height=800, screenshot=True):
        """Open a local file in a new tab, wait for its load event and fonts,
        and collect console messages, requests, the DOM and a full-page PNG."""
        url = "file://" + os.path.abspath(str(path))
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})[
            "sessionId"
        ]
        page = Page(self, session, url)
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.call(domain + ".enable", {}, session)
        self.call(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
            session,
        )
        self._events = [e for e in self._events if e[0] != session]
        nav = self.call("Page.navigate", {"url": url}, session)
        if nav.get("errorText"):
            raise BrowserError("could not open %s: %s" % (url, nav["errorText"]))
        self.wait_for("Page.loadEventFired", session)
        page.evaluate("document.fonts.ready.then(() => true)")
        page.dom = page.evaluate("document.documentElement.outerHTML")
        if screenshot:
            size = self.call("Page.getLayoutMetrics", {}, session)["cssContentSize"]
            page.png = page.screenshot(0, 0, max(width, size["width"]), size["height"])
        for sid, method, params in self._events:
            if sid != session:
                continue
            if method == "Network.requestWillBeSent":
                page.requests.append(params["request"]["url"])
            elif method == "Runtime.consoleAPICalled":
                text = " ".join(
                    str(a.get("value", a.get("description", ""))) for a in params.get("args", [])
                )
                level = {"warning": "warning", "error": "error", "assert": "error"}.get(
                    params["type"], "info"
                )
                page.console.append({"level": level, "text": text, "source": "console"})
            elif method == "Runtime.exceptionThrown":
                d = params["exceptionDetails"]
                text = d.get("exception", {}).get("description") or d.get("text", "")
                page.console.append({"level": "error", "text": text, "source": "exception"})
            elif method == "Log.entryAdded":
                e = params["entry"]
                page.console.append(
                    {"level": e["level"], "text": e["text"], "source": e.get("source", "")}
                )
        self._events = [e for e in self._events if e[0] != session]
        return page


def decode_png(data):
    """(width, height, rows) of an 8-bit RGB/RGBA PNG; rows are lists of
    (r, g, b) tuples."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    pos, idat, header = 8, [], None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        pos += 12 + length
    width, height, depth, color, _, _, interlace = header
    if depth != 8 or color not in (2, 6) or interlace:
        raise ValueError(
            "PNG depth %d color type %d interlace %d: not read here" % (depth, color, interlace)
        )
    bpp = 3 if color == 2 else 4
    raw = zlib.decompress(b"".join(idat))
    stride = width * bpp
    rows, prev = [], bytearray(stride)
    for y in range(height):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        if f == 2:  # Up, the commonest: no carry chain
            line = bytearray([(v + u) & 255 for v, u in zip(line, prev)])
        elif f:
            for i in range(stride):
                a = line[i - bpp] if i >= bpp else 0
                b = prev[i]
                c = prev[i - bpp] if i >= bpp else 0
                if f == 1:
                    line[i] = (line[i] + a) & 255
                elif f == 3:
                    line[i] = (line[i] + (a + b) // 2) & 255
                else:
                    p = a + b - c
                    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                    pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                    line[i] = (line[i] + pred) & 255
        rows.append([tuple(line[x * bpp : x * bpp + 3]) for x in range(width)])
        prev = line
    return width, height, rows


def ink(png, box=None, background=(255, 255, 255)):
    """The fraction of pixels in box (x, y, width, height; default the whole
    image) that differ from the background colour: 0.0 for a blank region."""
    width, height, rows = decode_png(png) if isinstance(png, bytes) else png
    x0, y0, w, h = box or (0, 0, width, height)
    x0, y0 = max(0, int(x0)), max(0, int(y0))
    x1, y1 = min(width, int(x0 + w + 0.999)), min(height, int(y0 + h + 0.999))
    total = (x1 - x0) * (y1 - y0)
    if total <= 0:
        return 0.0
    inked = 0
    for y in range(y0, y1):
        row = rows[y]
        for x in range(x0, x1):
            if row[x] != background:
                inked += 1
    return inked / total
