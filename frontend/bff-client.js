/**
 * bff-client: the browser side of a Backend-for-Frontend.
 *
 * The BFF on the SPA's own origin does OAuth/OIDC server-side and gives the browser a single
 * HttpOnly session cookie, so this module never sees, stores or sends a token. What it does:
 *
 * - adds the `X-CSRF: 1` anti-forgery header the BFF requires on `/bff/*` and `/api/*` calls;
 * - refuses to send a request to any other origin (the session cookie must never leak);
 * - turns `401 login_required` into a `bff:login-required` event or a login redirect;
 * - turns every other error answer into a rejected promise carrying a {@link BffError};
 * - announces the end of the session with `bff:session-expiring` and `bff:session-expired`.
 *
 * No dependencies, no build step: `import { createBffClient } from "./bff-client.js"`.
 *
 * @module bff-client
 */

const MAX_TIMER_DELAY_MS = 2 ** 31 - 1;
const SILENT_LOGIN_KEY = "bff:silent-login-at";

/** Event names the client dispatches on itself (it is an `EventTarget`). */
export const EVENTS = Object.freeze({
  loginRequired: "bff:login-required",
  reauthenticationRequired: "bff:reauthentication-required",
  sessionExpiring: "bff:session-expiring",
  sessionExpired: "bff:session-expired",
});

/**
 * A failed call: an error answer from the BFF or an API, a refused URL, or a network failure.
 *
 * `status` is the HTTP status (0 when no answer came back); `error` is the OAuth-style code
 * from the JSON body (`login_required`, `insufficient_scope`, `invalid_request`, ...);
 * `description` is the human-readable `error_description`, safe to show to users.
 */
export class BffError extends Error {
  /**
   * @param {number} status
   * @param {string} error
   * @param {string} description
   * @param {unknown} [body] the parsed JSON body of the answer, when there was one
   */
  constructor(status, error, description, body = undefined) {
    super(description || error);
    this.name = "BffError";
    this.status = status;
    this.error = error;
    this.description = description;
    this.body = body;
  }
}

/**
 * @typedef {object} BffClientOptions
 * @property {"event" | "redirect"} [onLoginRequired="event"] what `fetch` does on
 *   `401 login_required`: dispatch `bff:login-required` (the app decides) or navigate to the
 *   login at once, coming back to the current page.
 * @property {string} [bffPath="/bff"] where the BFF's management endpoints live.
 * @property {number} [sessionExpiringSeconds=60] how long before `session_expires_at`
 *   `bff:session-expiring` fires.
 * @property {number} [silentLoginCooldownSeconds=60] `silentLogin()` does nothing if it was
 *   tried less than this long ago in this tab, so a failing silent login cannot loop.
 * @property {typeof globalThis.fetch} [fetch] the fetch implementation (default: the global one).
 * @property {Location} [location] the page location (default: the global one).
 */

/**
 * What `/bff/user` tells about the signed-in user: the ID token's claims plus session facts.
 *
 * @typedef {object} BffUser
 * @property {string} sub
 * @property {string} [name]
 * @property {string} [email]
 * @property {string} [scope] space-separated scopes granted to the session.
 * @property {number} [session_expires_at] unix seconds when the session ends.
 * @property {string} [logout_url] a same-origin GET that ends this session.
 */

/**
 * The client: an `EventTarget` with the calls an SPA needs.
 * Create it with {@link createBffClient}.
 */
export class BffClient extends EventTarget {
  #fetchOption;
  #locationOption;
  #bffPath;
  #onLoginRequired;
  #expiringMs;
  #silentCooldownMs;
  #lastSilentLoginAt = null;
  #timers = new Set();
  #expiryGeneration = 0;

  /** @param {BffClientOptions} [options] */
  constructor(options = {}) {
    super();
    const mode = options.onLoginRequired ?? "event";
    if (mode !== "event" && mode !== "redirect") {
      throw new TypeError(`onLoginRequired must be "event" or "redirect", not ${String(mode)}`);
    }
    this.#onLoginRequired = mode;
    this.#fetchOption = options.fetch;
    this.#locationOption = options.location;
    this.#bffPath = (options.bffPath ?? "/bff").replace(/\/+$/, "");
    this.#expiringMs = (options.sessionExpiringSeconds ?? 60) * 1000;
    this.#silentCooldownMs = (options.silentLoginCooldownSeconds ?? 60) * 1000;
  }

  /**
   * The signed-in user, or `null` when there is no session.
   *
   * Each call also (re)schedules the session-expiry events from `session_expires_at`. Before
   * firing one, the client re-reads `/bff/user?slide=false` (which does not extend the
   * session): if activity has pushed the end back, the events move with it instead of firing.
   *
   * @returns {Promise<BffUser | null>}
   */
  async user() {
    let response;
    try {
      response = await this.#send(`${this.#bffPath}/user`, {});
    } catch (err) {
      if (err instanceof BffError && err.status === 401) {
        this.#clearTimers();
        return null;
      }
      throw err;
    }
    const user = await response.json();
    this.#scheduleExpiry(user.session_expires_at);
    return user;
  }

  /**
   * `fetch` for same-origin paths, with the anti-forgery header and the session cookie.
   *
   * Resolves with the `Response` when its status is 2xx or 3xx; otherwise rejects with a
   * {@link BffError}. On `401 login_required` it first dispatches `bff:login-required` or
   * redirects to the login, as `onLoginRequired` says.
   *
   * @param {string | URL} path a path such as `/api/orders`, or an absolute URL of this origin.
   * @param {RequestInit} [init]
   * @returns {Promise<Response>}
   */
  async fetch(path, init = {}) {
    try {
      return await this.#send(path, init);
    } catch (err) {
      if (err instanceof BffError && err.status === 401 && err.error === "login_required") {
        this.#loginRequired(err);
      } else if (err instanceof BffError && err.status === 401 &&
                 err.error === "reauthentication_required") {
        this.#reauthenticationRequired(err);
      }
      throw err;
    }
  }

  /**
   * `fetch` plus JSON on both sides: `init.json` is sent as a JSON body, and the answer's JSON
   * is returned (`null` for an empty answer).
   *
   * @param {string | URL} path
   * @param {RequestInit & { json?: unknown }} [init]
   * @returns {Promise<any>}
   */
  async json(path, init = {}) {
    const { json, ...rest } = init;
    const request = { ...rest, headers: new Headers(rest.headers) };
    if (json !== undefined) {
      request.body = JSON.stringify(json);
      request.headers.set("Content-Type", "application/json");
    }
    if (!request.headers.has("Accept")) request.headers.set("Accept", "application/json");
    const response = await this.fetch(path, request);
    const text = await response.text();
    return text ? JSON.parse(text) : null;
  }

  /**
   * Navigate to the BFF's login, which comes back to `returnUrl`.
   *
   * @param {string} [returnUrl] a same-origin path; the current path and query by default.
   * @param {{ prompt?: "none" | "login" }} [options] `login` forces the provider to ask again.
   */
  login(returnUrl = undefined, options = {}) {
    this.#location().assign(this.loginUrl(returnUrl, options));
  }

  /**
   * The URL `login()` navigates to, for apps that prefer a plain link.
   *
   * @param {string} [returnUrl]
   * @param {{ prompt?: "none" | "login" }} [options]
   * @returns {string}
   */
  loginUrl(returnUrl = undefined, options = {}) {
    const target = this.#toReturnPath(returnUrl ?? this.#currentPath());
    const params = new URLSearchParams({ returnUrl: target });
    if (options.prompt !== undefined) {
      if (options.prompt !== "none" && options.prompt !== "login") {
        throw new TypeError(`prompt must be "none" or "login", not ${String(options.prompt)}`);
      }
      params.set("prompt", options.prompt);
    }
    return `${this.#bffPath}/login?${params}`;
  }

  /**
   * Try to sign in without any user interaction (`prompt=none`) by a top-level navigation.
   *
   * Meant for page load when `user()` is `null` but the provider may still have a session.
   * It never uses an iframe: third-party cookies are gone from browsers. Returns `false`
   * without navigating when it was already tried in this tab within the cooldown, so an app
   * that calls it on every load cannot loop when the provider answers `login_required`.
   *
   * @param {string} [returnUrl]
   * @returns {boolean} whether a navigation was started.
   */
  silentLogin(returnUrl = undefined) {
    const now = Date.now();
    const last = this.#readSilentLoginAt();
    if (last !== null && now - last < this.#silentCooldownMs) return false;
    this.#writeSilentLoginAt(now);
    this.login(returnUrl, { prompt: "none" });
    return true;
  }

  /**
   * End the session at the BFF (which revokes the tokens) and navigate where it says next:
   * the provider's end-session page, or `/`.
   *
   * @returns {Promise<void>}
   */
  async logout() {
    this.#clearTimers();
    let next = "/";
    try {
      const response = await this.#send(`${this.#bffPath}/logout`, {
        method: "POST",
        redirect: "manual",
        headers: { Accept: "application/json" },
      });
      const body = await readJson(response);
      const target = body?.redirect ?? body?.logout_url;
      if (typeof target === "string" && isNavigable(target, this.#location())) next = target;
    } catch (err) {
      if (!(err instanceof BffError && err.status === 401)) throw err;
    }
    this.#location().assign(next);
  }

  /**
   * Where the user is signed in: `{ id, device, created_at, last_seen_at, expires_at, current }`
   * per session, newest first (times in seconds since the epoch). Never a token.
   *
   * @returns {Promise<Array<object>>}
   */
  async sessions() {
    const body = await this.json(`${this.#bffPath}/sessions`);
    return body?.sessions ?? [];
  }

  /**
   * Sign one session out (another device, or this one); its refresh token is revoked.
   *
   * @param {string} id a session id from {@link BffClient#sessions}.
   * @returns {Promise<{ ended: number, not_revoked: number }>}
   */
  async endSession(id) {
    if (typeof id !== "string" || !/^[0-9a-f]{24}$/.test(id)) {
      throw new TypeError("a session id is 24 hexadecimal characters");
    }
    return this.json(`${this.#bffPath}/sessions/${id}`, { method: "DELETE" });
  }

  /**
   * Sign out everywhere: every session of this user ends (this one too) and the page goes to
   * `/`.
   */
  async logoutEverywhere() {
    this.#clearTimers();
    await this.json(`${this.#bffPath}/sessions/logout-all`, { method: "POST" });
    this.#location().assign("/");
  }

  /** Stop the session-expiry timers (for tests and single-page teardown). */
  dispose() {
    this.#clearTimers();
  }

  #location() {
    const location = this.#locationOption ?? globalThis.location;
    if (!location) throw new TypeError("bff-client needs a page location (window.location)");
    return location;
  }

  #currentPath() {
    const { pathname, search } = this.#location();
    return `${pathname}${search}`;
  }

  /** Resolve `path` against the page and refuse anything outside this origin. */
  #sameOriginUrl(path) {
    const origin = this.#location().origin;
    if (typeof path !== "string" && !(path instanceof URL)) {
      throw new BffError(0, "invalid_url", "Pass a path string or a URL, not a Request");
    }
    let url;
    try {
      url = new URL(path, origin);
    } catch {
      throw new BffError(0, "invalid_url", `Not a valid URL: ${String(path)}`);
    }
    if (url.origin !== origin) {
      throw new BffError(
        0,
        "cross_origin_refused",
        `Refused to send the session to another origin: ${url.origin}`,
      );
    }
    return url;
  }

  #toReturnPath(returnUrl) {
    const url = this.#sameOriginUrl(returnUrl);
    return `${url.pathname}${url.search}${url.hash}`;
  }

  async #send(path, init) {
    const url = this.#sameOriginUrl(path);
    const headers = new Headers(init.headers);
    headers.set("X-CSRF", "1");
    const doFetch = this.#fetchOption ?? globalThis.fetch;
    let response;
    try {
      response = await doFetch(url.href, { ...init, headers, credentials: "same-origin" });
    } catch (err) {
      throw new BffError(0, "network_error", `The request could not be sent: ${err?.message}`);
    }
    if (response.ok || response.type === "opaqueredirect") return response;
    throw await errorFrom(response);
  }

  #loginRequired(err) {
    this.#clearTimers();
    const returnUrl = this.#currentPath();
    if (this.#onLoginRequired === "redirect") {
      this.login(returnUrl);
      return;
    }
    this.dispatchEvent(
      new CustomEvent(EVENTS.loginRequired, { detail: { error: err, returnUrl } }),
    );
  }

  /**
   * A route asked for a recent login (`max_age`): the BFF's answer carries the URL of a fresh
   * login that returns to this page. Only a same-origin `/bff/login` URL is followed.
   */
  #reauthenticationRequired(err) {
    const loginUrl = typeof err.body?.login_url === "string" ? err.body.login_url : null;
    const safe = loginUrl !== null && loginUrl.startsWith(`${this.#bffPath}/login?`);
    if (this.#onLoginRequired === "redirect" && safe) {
      this.#clearTimers();
      this.#location().assign(loginUrl);
      return;
    }
    this.dispatchEvent(new CustomEvent(EVENTS.reauthenticationRequired, {
      detail: { error: err, loginUrl: safe ? loginUrl : null },
    }));
  }

  #scheduleExpiry(expiresAt) {
    this.#clearTimers();
    if (typeof expiresAt !== "number" || !Number.isFinite(expiresAt)) return;
    const expiresAtMs = expiresAt * 1000;
    this.#at(expiresAtMs - this.#expiringMs, () =>
      this.#confirmExpiry(EVENTS.sessionExpiring, expiresAt),
    );
    this.#at(expiresAtMs, () => this.#confirmExpiry(EVENTS.sessionExpired, expiresAt));
  }

  /**
   * Re-read the session without extending it before announcing its end: API calls slide the
   * BFF's idle timeout, so an active user's session usually outlives what `user()` last said.
   */
  async #confirmExpiry(type, expiresAt) {
    const generation = this.#expiryGeneration;
    let current = expiresAt;
    let ended = false;
    try {
      const response = await this.#send(`${this.#bffPath}/user?slide=false`, {});
      const user = await response.json();
      if (typeof user?.session_expires_at === "number") current = user.session_expires_at;
    } catch (err) {
      ended = err instanceof BffError && err.status === 401;
    }
    if (generation !== this.#expiryGeneration) return;
    if (ended) {
      this.#clearTimers();
      type = EVENTS.sessionExpired;
    } else if (current > expiresAt) {
      this.#scheduleExpiry(current);
      return;
    }
    const secondsLeft = ended ? 0 : Math.max(0, Math.round(current - Date.now() / 1000));
    this.dispatchEvent(new CustomEvent(type, { detail: { expiresAt: current, secondsLeft } }));
  }

  /** Run `callback` at wall-clock time `whenMs`, in steps below the timer limit (~24.8 days). */
  #at(whenMs, callback) {
    const delay = Math.max(0, whenMs - Date.now());
    const step = Math.min(delay, MAX_TIMER_DELAY_MS);
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      if (step < delay) this.#at(whenMs, callback);
      else callback();
    }, step);
    this.#timers.add(timer);
  }

  #clearTimers() {
    this.#expiryGeneration += 1;
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
  }

  #readSilentLoginAt() {
    try {
      const stored = globalThis.sessionStorage?.getItem(SILENT_LOGIN_KEY);
      if (stored) return Number(stored);
    } catch {
      // Storage can be disabled by the browser; the in-memory value still guards this page.
    }
    return this.#lastSilentLoginAt;
  }

  #writeSilentLoginAt(now) {
    this.#lastSilentLoginAt = now;
    try {
      globalThis.sessionStorage?.setItem(SILENT_LOGIN_KEY, String(now));
    } catch {
      // See #readSilentLoginAt.
    }
  }
}

/**
 * Create a client. One per page is enough.
 *
 * @param {BffClientOptions} [options]
 * @returns {BffClient}
 */
export function createBffClient(options = {}) {
  return new BffClient(options);
}

async function readJson(response) {
  try {
    const text = await response.text();
    return text ? JSON.parse(text) : null;
  } catch {
    return null;
  }
}

async function errorFrom(response) {
  const body = await readJson(response);
  const code = typeof body?.error === "string" ? body.error : `http_${response.status}`;
  const description =
    typeof body?.error_description === "string"
      ? body.error_description
      : response.statusText || `HTTP ${response.status}`;
  return new BffError(response.status, code, description, body ?? undefined);
}

/** Where logout may send the page: this origin, or an http(s) page such as the provider's. */
function isNavigable(target, location) {
  try {
    const url = new URL(target, location.origin);
    return url.protocol === "https:" || url.protocol === "http:";
  } catch {
    return false;
  }
}

export default createBffClient;
