"""Everything JavaScript on the SPA's page can reach, gathered from a real browser, and the
search of it for tokens.

A surface is one place a script could read: a cookie it can see, Web Storage, IndexedDB, the
Cache API, globals, the DOM, the page URL, the tab's history, the JS heap, and every request and
response the page made. The search compares against the tokens the BFF holds server-side (so an
empty collection cannot pass by accident) and against any JWT-shaped string.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from playwright.sync_api import Browser, BrowserContext, Page

JWT_SHAPE = re.compile(r"eyJ[\w-]{4,}\.eyJ[\w-]{4,}\.[\w-]*")

_GLOBALS_JS = """(baseline) => {
  const skip = new Set(baseline);
  const seen = new WeakSet();
  const dump = (value, depth) => {
    if (value === null || (typeof value !== "object" && typeof value !== "function")) {
      return typeof value === "bigint" ? String(value) : value;
    }
    if (typeof value === "function") return "[function]";
    if (depth > 5 || seen.has(value)) return "[seen]";
    seen.add(value);
    if (typeof Node !== "undefined" && value instanceof Node) return "[node]";
    const out = {};
    for (const key of Object.getOwnPropertyNames(value).slice(0, 500)) {
      try { out[key] = dump(value[key], depth + 1); } catch { out[key] = "[unreadable]"; }
    }
    return out;
  };
  const found = {};
  for (const name of Object.getOwnPropertyNames(window)) {
    if (skip.has(name)) continue;
    try { found[name] = dump(window[name], 0); } catch { found[name] = "[unreadable]"; }
  }
  return JSON.stringify(found);
}"""

_STORAGE_JS = """async () => {
  const all = (storage) => {
    const out = {};
    for (let i = 0; i < storage.length; i++) out[storage.key(i)] = storage.getItem(storage.key(i));
    return out;
  };
  const request = (r) => new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
  const indexed = {};
  for (const info of await indexedDB.databases()) {
    const db = await request(indexedDB.open(info.name));
    indexed[info.name] = {};
    for (const store of db.objectStoreNames) {
      const objectStore = db.transaction(store).objectStore(store);
      indexed[info.name][store] = {
        keys: await request(objectStore.getAllKeys()),
        values: await request(objectStore.getAll()),
      };
    }
    db.close();
  }
  const cached = {};
  if (globalThis.caches) {
    for (const name of await caches.keys()) {
      const cache = await caches.open(name);
      cached[name] = {};
      for (const req of await cache.keys()) {
        const res = await cache.match(req);
        cached[name][req.url] = {headers: [...res.headers], body: await res.text()};
      }
    }
  }
  return JSON.stringify({
    cookie: document.cookie,
    local: all(localStorage),
    session: all(sessionStorage),
    indexed,
    cached,
    url: location.href,
    referrer: document.referrer,
    name: window.name,
    historyLength: history.length,
    historyState: history.state,
    dom: document.documentElement.outerHTML,
    performance: performance.getEntries().map((e) => e.name),
  });
}"""


@dataclass(frozen=True)
class Leak:
    surface: str
    what: str

    def __str__(self) -> str:
        return f"{self.what} in {self.surface}"


def baseline_globals(browser: Browser) -> list[str]:
    """The names a blank page already has, so only what the SPA added counts as its globals."""
    page = browser.new_page()
    try:
        return page.evaluate("() => Object.getOwnPropertyNames(window)")
    finally:
        page.close()


def heap_strings(context: BrowserContext, page: Page) -> str:
    """A V8 heap snapshot of the page (taken after a GC): every string a script still holds."""
    cdp = context.new_cdp_session(page)
    chunks: list[str] = []
    cdp.on("HeapProfiler.addHeapSnapshotChunk", lambda event: chunks.append(event["chunk"]))
    try:
        cdp.send("HeapProfiler.enable")
        cdp.send("HeapProfiler.takeHeapSnapshot", {"reportProgress": False})
    finally:
        cdp.detach()
    return "".join(chunks)


def navigation_history(context: BrowserContext, page: Page) -> list[str]:
    """Every URL in the tab's history (more than a script sees: it sees only the length)."""
    cdp = context.new_cdp_session(page)
    try:
        entries = cdp.send("Page.getNavigationHistory")["entries"]
    finally:
        cdp.detach()
    return [entry["url"] for entry in entries]


def page_surfaces(context: BrowserContext, page: Page, baseline: list[str]) -> dict[str, str]:
    """What a script on ``page`` can read right now, one text per surface."""
    storage = json.loads(page.evaluate(_STORAGE_JS))
    return {
        "document.cookie": storage["cookie"],
        "localStorage": json.dumps(storage["local"]),
        "sessionStorage": json.dumps(storage["session"]),
        "IndexedDB": json.dumps(storage["indexed"]),
        "Cache API": json.dumps(storage["cached"]),
        "window globals": page.evaluate(_GLOBALS_JS, baseline),
        "DOM": storage["dom"],
        "page URL": f"{page.url} {storage['url']} referrer={storage['referrer']}",
        "window.name and history.state": json.dumps([storage["name"],
                                                    storage["historyState"]]),
        "performance entries": json.dumps(storage["performance"]),
        "tab history": json.dumps(navigation_history(context, page)),
        "JS heap": heap_strings(context, page),
    }


def har_surfaces(har_path: Path, spa_origin: str) -> dict[str, str]:
    """The network as the page saw it, from Playwright's HAR of the context.

    Every request URL (any origin, a URL is what a script or the history can show), and the
    headers and body of every response from the SPA's origin (a script there can fetch any of
    them); navigations to the provider are its own origin, out of the SPA's reach.
    """
    entries = json.loads(har_path.read_text())["log"]["entries"]
    if not entries:
        raise AssertionError(f"the HAR {har_path} recorded nothing")
    surfaces: dict[str, str] = {}
    for index, entry in enumerate(entries):
        request, response = entry["request"], entry["response"]
        label = f"{request['method']} {request['url'][:100]} (#{index})"
        surfaces[f"request URL {label}"] = request["url"]
        if _origin(request["url"]) != spa_origin:
            continue
        surfaces[f"request headers {label}"] = json.dumps(request["headers"])
        surfaces[f"request body {label}"] = json.dumps(request.get("postData", {}))
        surfaces[f"response headers {label}"] = json.dumps(response["headers"])
        surfaces[f"response body {label}"] = response["content"].get("text", "")
    return surfaces


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def fingerprints(token: str) -> set[str]:
    """Fragments that identify a token even when a surface truncates or splits it."""
    parts = token.split(".")
    if len(parts) == 3:
        return {token, parts[1], parts[2]}
    return {token}


def find_leaks(surfaces: Mapping[str, str], tokens: Iterable[str]) -> list[Leak]:
    """Each surface holding one of ``tokens`` (or a fragment of it), or any JWT-shaped string."""
    prints = {token: fingerprints(token) for token in tokens}
    leaks = []
    for surface, text in surfaces.items():
        for token, marks in prints.items():
            if any(mark in text for mark in marks):
                kind = "JWT" if token.count(".") == 2 else "opaque token"
                leaks.append(Leak(surface, f"a server-side {kind} ({token[:12]}...)"))
        for shape in sorted({match[:24] for match in JWT_SHAPE.findall(text)}):
            leaks.append(Leak(surface, f"a JWT-shaped string ({shape}...)"))
    return leaks
