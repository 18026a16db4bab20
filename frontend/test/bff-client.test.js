import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, it, mock } from "node:test";

import createBffClientDefault, { BffError, EVENTS, createBffClient } from "../bff-client.js";

const ORIGIN = "https://app.example";
const NOW_MS = 1_700_000_000_000;

/** The page the tests run on, and every request the client sent. */
let page;
let sent;
let answers;
let savedGlobals;

function json(status, body, statusText = "") {
  return new Response(JSON.stringify(body), {
    status,
    statusText,
    headers: { "Content-Type": "application/json" },
  });
}

/** Queue the answers `fetch` gives, in order. */
function answer(...responses) {
  answers.push(...responses);
}

/** Let pending fetches and their handlers run (setImmediate is not faked by mock.timers here). */
async function settle() {
  for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
}

function fakeStorage() {
  const items = new Map();
  return {
    getItem: (key) => (items.has(key) ? items.get(key) : null),
    setItem: (key, value) => items.set(key, String(value)),
  };
}

beforeEach(() => {
  sent = [];
  answers = [];
  page = {
    origin: ORIGIN,
    pathname: "/orders",
    search: "?page=2",
    assign: mock.fn(),
  };
  savedGlobals = {
    fetch: Object.getOwnPropertyDescriptor(globalThis, "fetch"),
    location: Object.getOwnPropertyDescriptor(globalThis, "location"),
    sessionStorage: Object.getOwnPropertyDescriptor(globalThis, "sessionStorage"),
  };
  const stubs = {
    location: page,
    sessionStorage: fakeStorage(),
    fetch: async (url, init) => {
      sent.push({ url, init, headers: new Headers(init.headers) });
      const next = await answers.shift();
      if (next instanceof Error) throw next;
      return next ?? json(200, {});
    },
  };
  for (const [name, value] of Object.entries(stubs)) {
    Object.defineProperty(globalThis, name, { value, configurable: true, writable: true });
  }
});

afterEach(() => {
  mock.timers.reset();
  for (const [name, descriptor] of Object.entries(savedGlobals)) {
    if (descriptor) Object.defineProperty(globalThis, name, descriptor);
    else delete globalThis[name];
  }
});

describe("anti-forgery header", () => {
  it("is sent on user(), fetch(), json() and logout()", async () => {
    const bff = createBffClient();
    answer(json(200, { sub: "alice" }), json(200, {}), json(200, {}), json(200, {}));
    await bff.user();
    await bff.fetch("/api/orders");
    await bff.json("/api/orders", { method: "POST", json: { item: "tea", quantity: 1 } });
    await bff.logout();
    assert.equal(sent.length, 4);
    for (const request of sent) assert.equal(request.headers.get("X-CSRF"), "1");
  });

  it("is kept alongside the caller's headers, whatever shape they come in", async () => {
    const bff = createBffClient();
    await bff.fetch("/api/a", { headers: { "X-Trace": "a" } });
    await bff.fetch("/api/b", { headers: new Headers({ "X-Trace": "b" }) });
    await bff.fetch("/api/c", { headers: [["X-Trace", "c"]] });
    assert.deepEqual(
      sent.map((r) => [r.headers.get("X-Trace"), r.headers.get("X-CSRF")]),
      [
        ["a", "1"],
        ["b", "1"],
        ["c", "1"],
      ],
    );
  });

  it("cannot be switched off by the caller", async () => {
    const bff = createBffClient();
    await bff.fetch("/api/orders", { headers: { "X-CSRF": "0" } });
    assert.equal(sent[0].headers.get("X-CSRF"), "1");
  });

  it("goes with same-origin credentials only", async () => {
    const bff = createBffClient();
    await bff.fetch("/api/orders", { credentials: "include" });
    assert.equal(sent[0].init.credentials, "same-origin");
    assert.equal(sent[0].url, `${ORIGIN}/api/orders`);
  });
});

describe("requests to another origin", () => {
  const foreign = [
    "https://evil.example/api/orders",
    "//evil.example/api/orders",
    "/\\evil.example/api/orders",
    "http://app.example/api/orders",
    "https://app.example:8443/api/orders",
    "javascript:alert(1)",
    new URL("https://evil.example/steal"),
  ];

  for (const target of foreign) {
    it(`test_cross_origin_url_is_refused: ${String(target)}`, async () => {
      const bff = createBffClient();
      await assert.rejects(bff.fetch(target), (err) => {
        assert.ok(err instanceof BffError);
        assert.equal(err.status, 0);
        assert.equal(err.error, "cross_origin_refused");
        return true;
      });
      assert.equal(sent.length, 0, "nothing may be sent");
    });
  }

  it("test_request_object_is_refused (its URL could be anywhere)", async () => {
    const bff = createBffClient();
    await assert.rejects(bff.fetch(new Request("https://evil.example/x")), {
      name: "BffError",
      error: "invalid_url",
    });
    assert.equal(sent.length, 0);
  });

  it("an absolute URL of this origin is allowed", async () => {
    const bff = createBffClient();
    await bff.fetch(`${ORIGIN}/api/orders?x=1`);
    assert.equal(sent[0].url, `${ORIGIN}/api/orders?x=1`);
  });
});

describe("401 login_required from fetch()", () => {
  const loginRequired = () =>
    json(401, { error: "login_required", error_description: "Please log in" });

  it("in event mode dispatches bff:login-required and rejects", async () => {
    const bff = createBffClient({ onLoginRequired: "event" });
    const seen = [];
    bff.addEventListener(EVENTS.loginRequired, (event) => seen.push(event.detail));
    answer(loginRequired());
    await assert.rejects(bff.fetch("/api/orders"), { status: 401, error: "login_required" });
    assert.equal(seen.length, 1);
    assert.equal(seen[0].returnUrl, "/orders?page=2");
    assert.equal(seen[0].error.error, "login_required");
    assert.equal(page.assign.mock.callCount(), 0, "event mode does not navigate");
  });

  it("event mode is the default", async () => {
    const bff = createBffClient();
    let fired = 0;
    bff.addEventListener("bff:login-required", () => fired++);
    answer(loginRequired());
    await assert.rejects(bff.fetch("/api/orders"));
    assert.equal(fired, 1);
    assert.equal(page.assign.mock.callCount(), 0);
  });

  it("in redirect mode navigates to the login, coming back to the current path and query", async () => {
    const bff = createBffClient({ onLoginRequired: "redirect" });
    let fired = 0;
    bff.addEventListener(EVENTS.loginRequired, () => fired++);
    answer(loginRequired());
    await assert.rejects(bff.fetch("/api/orders"), { status: 401 });
    assert.equal(fired, 0);
    assert.deepEqual(page.assign.mock.calls[0].arguments, [
      "/bff/login?returnUrl=%2Forders%3Fpage%3D2",
    ]);
  });

  it("another 401 code is only an error, not a login", async () => {
    const bff = createBffClient({ onLoginRequired: "redirect" });
    answer(json(401, { error: "invalid_token", error_description: "upstream said no" }));
    await assert.rejects(bff.fetch("/api/orders"), { status: 401, error: "invalid_token" });
    assert.equal(page.assign.mock.callCount(), 0);
  });

  it("an unknown mode is refused at creation", () => {
    assert.throws(() => createBffClient({ onLoginRequired: "popup" }), TypeError);
  });
});

describe("401 reauthentication_required from fetch()", () => {
  const loginUrl = "/bff/login?returnUrl=%2Forders&prompt=login&max_age=300";
  const stale = (url = loginUrl) =>
    json(401, { error: "reauthentication_required", error_description: "log in again",
                login_url: url });

  it("in event mode dispatches bff:reauthentication-required with the fresh login URL", async () => {
    const bff = createBffClient();
    const seen = [];
    bff.addEventListener(EVENTS.reauthenticationRequired, (event) => seen.push(event.detail));
    answer(stale());
    await assert.rejects(bff.fetch("/api/stock"), { status: 401, error: "reauthentication_required" });
    assert.equal(seen.length, 1);
    assert.equal(seen[0].loginUrl, loginUrl);
    assert.equal(page.assign.mock.callCount(), 0);
  });

  it("in redirect mode goes to the fresh login", async () => {
    const bff = createBffClient({ onLoginRequired: "redirect" });
    answer(stale());
    await assert.rejects(bff.fetch("/api/stock"), { status: 401 });
    assert.deepEqual(page.assign.mock.calls[0].arguments, [loginUrl]);
  });

  it("never follows a login_url that is not this BFF's login", async () => {
    const bff = createBffClient({ onLoginRequired: "redirect" });
    const seen = [];
    bff.addEventListener(EVENTS.reauthenticationRequired, (event) => seen.push(event.detail));
    answer(stale("https://evil.example/bff/login?x"));
    await assert.rejects(bff.fetch("/api/stock"));
    assert.equal(page.assign.mock.callCount(), 0);
    assert.equal(seen[0].loginUrl, null);
  });
});

describe("sessions", () => {
  it("lists them with the anti-forgery header", async () => {
    const bff = createBffClient();
    answer(json(200, { sessions: [{ id: "a".repeat(24), device: "Chrome on Linux", current: true }] }));
    const listed = await bff.sessions();
    assert.equal(listed[0].device, "Chrome on Linux");
    assert.equal(sent[0].url, `${ORIGIN}/bff/sessions`);
    assert.equal(sent[0].headers.get("X-CSRF"), "1");
  });

  it("ends one by id and refuses anything that is not an id", async () => {
    const bff = createBffClient();
    answer(json(200, { ended: 1, not_revoked: 0 }));
    assert.deepEqual(await bff.endSession("b".repeat(24)), { ended: 1, not_revoked: 0 });
    assert.equal(sent[0].url, `${ORIGIN}/bff/sessions/${"b".repeat(24)}`);
    assert.equal(sent[0].init.method, "DELETE");
    await assert.rejects(bff.endSession("../logout"), TypeError);
  });

  it("signs out everywhere and leaves the page", async () => {
    const bff = createBffClient();
    answer(json(200, { ended: 2, not_revoked: 0 }));
    await bff.logoutEverywhere();
    assert.equal(sent[0].init.method, "POST");
    assert.deepEqual(page.assign.mock.calls[0].arguments, ["/"]);
  });
});

describe("user()", () => {
  it("returns the user from /bff/user", async () => {
    const bff = createBffClient();
    answer(json(200, { sub: "alice", name: "Alice", scope: "openid orders:read" }));
    const user = await bff.user();
    assert.equal(user.name, "Alice");
    assert.equal(sent[0].url, `${ORIGIN}/bff/user`);
  });

  it("returns null when anonymous, without an event or a redirect", async () => {
    const bff = createBffClient({ onLoginRequired: "redirect" });
    let fired = 0;
    bff.addEventListener(EVENTS.loginRequired, () => fired++);
    answer(json(401, { error: "login_required", error_description: "no session" }));
    assert.equal(await bff.user(), null);
    assert.equal(fired, 0);
    assert.equal(page.assign.mock.callCount(), 0);
  });

  it("rejects on other errors", async () => {
    const bff = createBffClient();
    answer(json(503, { error: "session_store_unavailable", error_description: "Redis is down" }));
    await assert.rejects(bff.user(), { status: 503, error: "session_store_unavailable" });
  });

  it("honours bffPath", async () => {
    const bff = createBffClient({ bffPath: "/auth/" });
    answer(json(200, { sub: "alice" }));
    await bff.user();
    assert.equal(sent[0].url, `${ORIGIN}/auth/user`);
  });
});

describe("errors", () => {
  it("carry status, error, description and the body", async () => {
    const bff = createBffClient();
    const body = { error: "insufficient_scope", error_description: "needs orders:write" };
    answer(json(403, body));
    const err = await bff.fetch("/api/orders", { method: "POST" }).catch((e) => e);
    assert.ok(err instanceof BffError);
    assert.ok(err instanceof Error);
    assert.equal(err.name, "BffError");
    assert.equal(err.status, 403);
    assert.equal(err.error, "insufficient_scope");
    assert.equal(err.description, "needs orders:write");
    assert.equal(err.message, "needs orders:write");
    assert.deepEqual(err.body, body);
  });

  it("fall back to the HTTP status when the body is not JSON", async () => {
    const bff = createBffClient();
    answer(new Response("<h1>Bad gateway</h1>", { status: 502, statusText: "Bad Gateway" }));
    await assert.rejects(bff.fetch("/api/orders"), {
      status: 502,
      error: "http_502",
      description: "Bad Gateway",
    });
  });

  it("report a network failure with status 0", async () => {
    const bff = createBffClient();
    answer(new TypeError("Failed to fetch"));
    await assert.rejects(bff.fetch("/api/orders"), { status: 0, error: "network_error" });
  });

  it("a 2xx answer resolves with the Response", async () => {
    const bff = createBffClient();
    answer(json(201, { id: 7 }));
    const response = await bff.fetch("/api/orders", { method: "POST" });
    assert.equal(response.status, 201);
    assert.deepEqual(await response.json(), { id: 7 });
  });
});

describe("json()", () => {
  it("sends a JSON body and parses the answer", async () => {
    const bff = createBffClient();
    answer(json(201, { id: 1, item: "tea", quantity: 2 }));
    const order = await bff.json("/api/orders", {
      method: "POST",
      json: { item: "tea", quantity: 2 },
    });
    assert.deepEqual(order, { id: 1, item: "tea", quantity: 2 });
    assert.equal(sent[0].init.method, "POST");
    assert.equal(sent[0].init.body, '{"item":"tea","quantity":2}');
    assert.equal(sent[0].headers.get("Content-Type"), "application/json");
    assert.equal(sent[0].headers.get("Accept"), "application/json");
  });

  it("returns null for an empty answer", async () => {
    const bff = createBffClient();
    answer(new Response(null, { status: 204 }));
    assert.equal(await bff.json("/api/orders/1", { method: "DELETE" }), null);
  });

  it("rejects with the API's validation error", async () => {
    const bff = createBffClient();
    answer(json(400, { error: "invalid_request", error_description: "quantity must be >= 1" }));
    await assert.rejects(bff.json("/api/orders", { method: "POST", json: { quantity: 0 } }), {
      status: 400,
      description: "quantity must be >= 1",
    });
  });
});

describe("login()", () => {
  it("comes back to the current path and query by default", () => {
    createBffClient().login();
    assert.deepEqual(page.assign.mock.calls[0].arguments, [
      "/bff/login?returnUrl=%2Forders%3Fpage%3D2",
    ]);
  });

  it("takes a return path and a prompt", () => {
    createBffClient().login("/settings?tab=profile", { prompt: "login" });
    assert.deepEqual(page.assign.mock.calls[0].arguments, [
      "/bff/login?returnUrl=%2Fsettings%3Ftab%3Dprofile&prompt=login",
    ]);
  });

  it("test_foreign_return_url_is_refused", () => {
    const bff = createBffClient();
    for (const target of ["https://evil.example/", "//evil.example/", "/\\evil.example"]) {
      assert.throws(() => bff.login(target), { error: "cross_origin_refused" });
    }
    assert.equal(page.assign.mock.callCount(), 0);
  });

  it("refuses an unknown prompt", () => {
    assert.throws(() => createBffClient().login("/", { prompt: "consent" }), TypeError);
  });
});

describe("silentLogin()", () => {
  it("navigates with prompt=none, and not again within the cooldown", () => {
    mock.timers.enable({ apis: ["Date"], now: NOW_MS });
    const bff = createBffClient({ silentLoginCooldownSeconds: 60 });
    assert.equal(bff.silentLogin(), true);
    assert.deepEqual(page.assign.mock.calls[0].arguments, [
      "/bff/login?returnUrl=%2Forders%3Fpage%3D2&prompt=none",
    ]);
    mock.timers.tick(59_000);
    assert.equal(createBffClient().silentLogin(), false, "the tab remembers the attempt");
    mock.timers.tick(1_000);
    assert.equal(bff.silentLogin(), true);
    assert.equal(page.assign.mock.callCount(), 2);
  });

  it("still guards the page when session storage is unavailable", () => {
    delete globalThis.sessionStorage;
    const bff = createBffClient();
    assert.equal(bff.silentLogin("/"), true);
    assert.equal(bff.silentLogin("/"), false);
  });
});

describe("logout()", () => {
  it("posts to /bff/logout and navigates to the redirect it answers", async () => {
    const bff = createBffClient();
    answer(json(200, { redirect: "https://idp.example/end-session?id_token_hint=x" }));
    await bff.logout();
    assert.equal(sent[0].url, `${ORIGIN}/bff/logout`);
    assert.equal(sent[0].init.method, "POST");
    assert.deepEqual(page.assign.mock.calls[0].arguments, [
      "https://idp.example/end-session?id_token_hint=x",
    ]);
  });

  it("falls back to / when no redirect is given", async () => {
    const bff = createBffClient();
    answer(json(200, {}));
    await bff.logout();
    assert.deepEqual(page.assign.mock.calls[0].arguments, ["/"]);
  });

  it("test_script_url_from_logout_answer_is_not_followed", async () => {
    const bff = createBffClient();
    answer(json(200, { redirect: "javascript:alert(document.cookie)" }));
    await bff.logout();
    assert.deepEqual(page.assign.mock.calls[0].arguments, ["/"]);
  });

  it("treats an already ended session as logged out", async () => {
    const bff = createBffClient({ onLoginRequired: "redirect" });
    answer(json(401, { error: "login_required", error_description: "no session" }));
    await bff.logout();
    assert.deepEqual(page.assign.mock.calls[0].arguments, ["/"]);
  });

  it("rejects and stays on the page when the BFF fails", async () => {
    const bff = createBffClient();
    answer(json(503, { error: "session_store_unavailable", error_description: "try later" }));
    await assert.rejects(bff.logout(), { status: 503 });
    assert.equal(page.assign.mock.callCount(), 0);
  });
});

describe("session expiry events", () => {
  const T0 = NOW_MS / 1000;

  function record(bff) {
    const events = [];
    for (const type of [EVENTS.sessionExpiring, EVENTS.sessionExpired]) {
      bff.addEventListener(type, (event) => events.push([type, event.detail.secondsLeft]));
    }
    return events;
  }

  async function tick(ms) {
    mock.timers.tick(ms);
    await settle();
  }

  async function signIn(bff, expiresAt) {
    answer(json(200, { sub: "alice", session_expires_at: expiresAt }));
    await bff.user();
    sent.length = 0;
  }

  beforeEach(() => {
    mock.timers.enable({ apis: ["setTimeout", "Date"], now: NOW_MS });
  });

  it("fire N seconds before and at session_expires_at", async () => {
    const bff = createBffClient({ sessionExpiringSeconds: 60 });
    const events = record(bff);
    await signIn(bff, T0 + 300);

    await tick(239_999);
    assert.deepEqual(events, []);
    answer(json(200, { sub: "alice", session_expires_at: T0 + 300 }));
    await tick(1);
    assert.deepEqual(events, [[EVENTS.sessionExpiring, 60]]);
    await tick(59_999);
    assert.equal(events.length, 1);
    answer(json(401, { error: "login_required", error_description: "gone" }));
    await tick(1);
    assert.deepEqual(events, [
      [EVENTS.sessionExpiring, 60],
      [EVENTS.sessionExpired, 0],
    ]);
  });

  it("are confirmed with a read that does not extend the session", async () => {
    const bff = createBffClient({ sessionExpiringSeconds: 60 });
    await signIn(bff, T0 + 300);
    answer(json(200, { sub: "alice", session_expires_at: T0 + 300 }));
    await tick(240_000);
    assert.equal(sent.length, 1);
    assert.equal(sent[0].url, `${ORIGIN}/bff/user?slide=false`);
    assert.equal(sent[0].headers.get("X-CSRF"), "1");
  });

  it("move with a session that activity has extended, instead of firing", async () => {
    const bff = createBffClient({ sessionExpiringSeconds: 60 });
    const events = record(bff);
    await signIn(bff, T0 + 300);

    answer(json(200, { sub: "alice", session_expires_at: T0 + 900 }));
    await tick(240_000);
    assert.deepEqual(events, [], "the session was extended: no warning");

    await tick(60_000); // t=300s, the old end: nothing happens
    assert.deepEqual(events, []);
    assert.equal(sent.length, 1, "no second check before the new warning time");

    answer(json(200, { sub: "alice", session_expires_at: T0 + 900 }));
    await tick(540_000); // t=840s
    assert.deepEqual(events, [[EVENTS.sessionExpiring, 60]]);
  });

  it("report the end at once when the session is already gone at the warning", async () => {
    const bff = createBffClient({ sessionExpiringSeconds: 60 });
    const events = record(bff);
    await signIn(bff, T0 + 300);
    answer(json(401, { error: "login_required", error_description: "logged out elsewhere" }));
    await tick(240_000);
    assert.deepEqual(events, [[EVENTS.sessionExpired, 0]]);
    await tick(600_000);
    assert.equal(events.length, 1, "nothing more once it ended");
    assert.equal(sent.length, 1);
  });

  it("still fire when the check cannot reach the BFF", async () => {
    const bff = createBffClient({ sessionExpiringSeconds: 60 });
    const events = record(bff);
    await signIn(bff, T0 + 300);
    answer(new TypeError("Failed to fetch"));
    await tick(240_000);
    assert.deepEqual(events, [[EVENTS.sessionExpiring, 60]]);
  });

  it("ignore a check that a newer user() call overtook", async () => {
    const bff = createBffClient({ sessionExpiringSeconds: 60 });
    const events = record(bff);
    await signIn(bff, T0 + 300);
    let answerCheck;
    answer(new Promise((resolve) => (answerCheck = resolve)));
    await tick(240_000); // the check is now in flight
    answer(json(200, { sub: "alice", session_expires_at: T0 + 3600 }));
    await bff.user();
    answerCheck(json(200, { sub: "alice", session_expires_at: T0 + 300 }));
    await settle();
    assert.deepEqual(events, []);
    await tick(60_000);
    assert.deepEqual(events, [], "the old schedule is gone");
  });

  it("are rescheduled by the next user() call, not doubled", async () => {
    const bff = createBffClient({ sessionExpiringSeconds: 30 });
    const events = record(bff);
    await signIn(bff, T0 + 100);
    await tick(50_000);
    await signIn(bff, T0 + 250);

    await tick(60_000); // t=110s: past the first schedule, before the new one
    assert.deepEqual(events, []);
    assert.equal(sent.length, 0);
    await tick(110_000); // t=220s
    assert.deepEqual(events, [[EVENTS.sessionExpiring, 30]]);
    await tick(30_000); // t=250s
    assert.deepEqual(events, [
      [EVENTS.sessionExpiring, 30],
      [EVENTS.sessionExpired, 0],
    ]);
  });

  it("fire at once when the session is already inside the warning window", async () => {
    const bff = createBffClient({ sessionExpiringSeconds: 60 });
    const events = record(bff);
    await signIn(bff, T0 + 20);
    await tick(0);
    assert.deepEqual(events, [[EVENTS.sessionExpiring, 20]]);
    await tick(20_000);
    assert.equal(events.at(-1)[0], EVENTS.sessionExpired);
  });

  it("work for sessions longer than the browser's timer limit", async () => {
    const bff = createBffClient({ sessionExpiringSeconds: 60 });
    const events = record(bff);
    const days40 = 40 * 24 * 3600;
    await signIn(bff, T0 + days40);
    await tick((days40 - 61) * 1000);
    assert.deepEqual(events, []);
    assert.equal(sent.length, 0);
    await tick(1_000);
    assert.deepEqual(events, [[EVENTS.sessionExpiring, 60]]);
    await tick(60_000);
    assert.equal(events.length, 2);
  });

  it("stop after a login_required answer, dispose() or logout()", async () => {
    for (const end of [
      async (bff) => {
        answer(json(401, { error: "login_required", error_description: "gone" }));
        await bff.fetch("/api/orders").catch(() => {});
      },
      async (bff) => bff.dispose(),
      async (bff) => {
        answer(json(200, { redirect: "/" }));
        await bff.logout();
      },
      async (bff) => {
        answer(json(401, { error: "login_required", error_description: "gone" }));
        await bff.user();
      },
    ]) {
      const bff = createBffClient();
      const events = record(bff);
      await signIn(bff, T0 + 300);
      await end(bff);
      sent.length = 0;
      await tick(400_000);
      assert.deepEqual(events, []);
      assert.equal(sent.length, 0, "no checks either");
    }
  });

  it("are not scheduled without session_expires_at", async () => {
    const bff = createBffClient();
    const events = record(bff);
    answer(json(200, { sub: "alice" }));
    await bff.user();
    mock.timers.runAll();
    await settle();
    assert.deepEqual(events, []);
  });
});

describe("module", () => {
  it("default export is createBffClient", () => {
    assert.equal(createBffClientDefault, createBffClient);
  });
});
