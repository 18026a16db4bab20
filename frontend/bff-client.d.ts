/**
 * Types for bff-client.js: the browser side of a Backend-for-Frontend. The browser never holds
 * a token; this client adds the anti-forgery header, keeps requests on this origin and turns
 * session ends into events.
 */

/** Event names the client dispatches on itself. */
export declare const EVENTS: Readonly<{
  loginRequired: "bff:login-required";
  /** A route requires a recent login (`max_age`); `detail.loginUrl` is the fresh login to go to. */
  reauthenticationRequired: "bff:reauthentication-required";
  sessionExpiring: "bff:session-expiring";
  sessionExpired: "bff:session-expired";
}>;

/** A failed call: an error answer, a refused URL (status 0) or a network failure (status 0). */
export declare class BffError extends Error {
  constructor(status: number, error: string, description: string, body?: unknown);
  readonly name: "BffError";
  /** HTTP status; 0 when no answer came back or the request was refused before sending. */
  status: number;
  /** OAuth-style code: `login_required`, `insufficient_scope`, `invalid_request`, `cross_origin_refused`, `network_error`, ... */
  error: string;
  /** Human-readable `error_description`, safe to show to users. */
  description: string;
  /** The parsed JSON body of the error answer, when there was one. */
  body: unknown;
}

/** One of the user's sessions, as `GET /bff/sessions` lists it. */
export interface SessionInfo {
  /** Opaque id for `endSession`: not the cookie, not usable as one. */
  id: string;
  /** A coarse description such as "Chrome on Linux". */
  device: string;
  created_at: number;
  last_seen_at: number;
  expires_at: number;
  /** Whether it is the session of this browser. */
  current: boolean;
}

export interface BffClientOptions {
  /** On `401 login_required` (or `reauthentication_required`) from `fetch`: dispatch `bff:login-required` (`bff:reauthentication-required`) by default, or navigate to the login. */
  onLoginRequired?: "event" | "redirect";
  /** Where the BFF's management endpoints live. Default `/bff`. */
  bffPath?: string;
  /** Seconds before `session_expires_at` at which `bff:session-expiring` fires. Default 60. */
  sessionExpiringSeconds?: number;
  /** `silentLogin()` is not retried in the same tab within this many seconds. Default 60. */
  silentLoginCooldownSeconds?: number;
  /** Fetch implementation; the global `fetch` by default. */
  fetch?: typeof globalThis.fetch;
  /** Page location; the global `location` by default. */
  location?: Pick<Location, "origin" | "pathname" | "search" | "assign">;
}

/** What `/bff/user` answers: the ID token's claims plus session facts, never a token. */
export interface BffUser {
  sub: string;
  name?: string;
  email?: string;
  /** Space-separated scopes granted to the session, e.g. `"openid profile orders:read"`. */
  scope?: string;
  /** Unix seconds when the session ends. */
  session_expires_at?: number;
  /** A same-origin GET that ends this session. */
  logout_url?: string;
  [claim: string]: unknown;
}

export interface LoginRequiredDetail {
  error: BffError;
  /** The path and query the app was on; pass it to `login()` to come back. */
  returnUrl: string;
}

export interface SessionExpiryDetail {
  /** Unix seconds when the session ends. */
  expiresAt: number;
  secondsLeft: number;
}

export interface BffClientEventMap {
  "bff:login-required": CustomEvent<LoginRequiredDetail>;
  "bff:session-expiring": CustomEvent<SessionExpiryDetail>;
  "bff:session-expired": CustomEvent<SessionExpiryDetail>;
}

export interface LoginOptions {
  /** `none`: no interaction (fails if the provider has no session); `login`: ask again. */
  prompt?: "none" | "login";
}

export declare class BffClient extends EventTarget {
  constructor(options?: BffClientOptions);
  /**
   * The signed-in user, or `null` when there is no session; (re)schedules the expiry events.
   * Before firing one, the client re-reads `/bff/user?slide=false` (which does not extend the
   * session) and moves the events if activity has pushed the end back.
   */
  user(): Promise<BffUser | null>;
  /** Same-origin fetch with `X-CSRF: 1`; rejects with `BffError` unless the status is 2xx/3xx. */
  fetch(path: string | URL, init?: RequestInit): Promise<Response>;
  /** `fetch` with `init.json` sent as a JSON body and the answer parsed (`null` when empty). */
  json<T = unknown>(path: string | URL, init?: RequestInit & { json?: unknown }): Promise<T>;
  /** Navigate to the login; comes back to `returnUrl` (the current path and query by default). */
  login(returnUrl?: string, options?: LoginOptions): void;
  /** The URL `login()` navigates to. */
  loginUrl(returnUrl?: string, options?: LoginOptions): string;
  /** Where the user is signed in, newest first; never a token. */
  sessions(): Promise<SessionInfo[]>;
  /** Sign one session out (its refresh token is revoked at the provider). */
  endSession(id: string): Promise<{ ended: number; not_revoked: number }>;
  /** Sign out everywhere (this session too), then go to `/`. */
  logoutEverywhere(): Promise<void>;
  /** `prompt=none` login by top-level navigation; `false` when tried too recently in this tab. */
  silentLogin(returnUrl?: string): boolean;
  /** End the session at the BFF and navigate where it says next (or `/`). */
  logout(): Promise<void>;
  /** Stop the session-expiry timers. */
  dispose(): void;

  addEventListener<K extends keyof BffClientEventMap>(
    type: K,
    listener: (event: BffClientEventMap[K]) => void,
    options?: boolean | AddEventListenerOptions,
  ): void;
  addEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | AddEventListenerOptions,
  ): void;
  removeEventListener<K extends keyof BffClientEventMap>(
    type: K,
    listener: (event: BffClientEventMap[K]) => void,
    options?: boolean | EventListenerOptions,
  ): void;
  removeEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject | null,
    options?: boolean | EventListenerOptions,
  ): void;
}

/** Create a client; one per page is enough. */
export declare function createBffClient(options?: BffClientOptions): BffClient;

export default createBffClient;
