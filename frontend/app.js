/**
 * The demo SPA: plain DOM code over bff-client.js.
 *
 * Everything user- or API-provided is written with textContent, never as HTML, and there is no
 * inline script or style, so the page runs under `Content-Security-Policy: default-src 'self'`.
 */
import { BffError, EVENTS, createBffClient } from "./bff-client.js";

const WRITE_SCOPE = "orders:write";
const EXPIRING_WARNING_SECONDS = 120;

const bff = createBffClient({
  onLoginRequired: "event",
  sessionExpiringSeconds: EXPIRING_WARNING_SECONDS,
});

const $ = (id) => document.getElementById(id);

const el = {
  loadingView: $("loading-view"),
  anonymousView: $("anonymous-view"),
  anonymousMessage: $("anonymous-message"),
  userView: $("user-view"),
  account: $("account"),
  avatar: $("user-avatar"),
  userName: $("user-name"),
  welcomeTitle: $("welcome-title"),
  userEmail: $("user-email"),
  userSub: $("user-sub"),
  userScopes: $("user-scopes"),
  sessionEnds: $("session-ends"),
  loginButton: $("login-button"),
  logoutButton: $("logout-button"),
  refreshButton: $("refresh-button"),
  errorBox: $("error-message"),
  errorTitle: $("error-title"),
  errorText: $("error-text"),
  errorClose: $("error-close"),
  status: $("status-message"),
  notice: $("session-notice"),
  noticeText: $("session-notice-text"),
  noticeAction: $("session-notice-action"),
  ordersTable: $("orders-table"),
  stockHeader: $("stock-header"),
  ordersBody: $("orders-body"),
  ordersLoading: $("orders-loading"),
  emptyOrders: $("empty-orders"),
  emptyOrdersTitle: $("empty-orders-title"),
  emptyOrdersText: $("empty-orders-text"),
  form: $("order-form"),
  fieldset: $("order-fieldset"),
  writeDenied: $("write-denied"),
  itemInput: $("order-item-input"),
  quantityInput: $("order-quantity-input"),
  addButton: $("add-order-button"),
  devicesList: $("devices-list"),
  logoutEverywhereButton: $("logout-everywhere-button"),
};

const fieldErrors = {
  item: { input: el.itemInput, message: $("order-item-error") },
  quantity: { input: el.quantityInput, message: $("order-quantity-error") },
};

const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
const timeFormat = new Intl.DateTimeFormat(undefined, { timeStyle: "short" });

let noticeAction = null;
/**
 * Units in stock by item, from the inventory API (its route needs the stock-viewer role); null
 * when this user may not see stock, so the column stays hidden.
 */
let stock = null;
/** The session end that "Stay signed in" could not push back: no need to warn about it again. */
let unextendableExpiry = null;

/* ---------- views ---------- */

function showView(name) {
  el.loadingView.hidden = name !== "loading";
  el.anonymousView.hidden = name !== "anonymous";
  el.userView.hidden = name !== "user";
  el.account.hidden = name !== "user";
}

function showAnonymous(message = "") {
  showView("anonymous");
  el.ordersBody.replaceChildren();
  clearError();
  el.anonymousMessage.textContent = message;
  el.anonymousMessage.hidden = !message;
  el.loginButton.disabled = false;
  el.loginButton.textContent = "Log in";
}

function showUser(user) {
  const name = user.name || user.preferred_username || user.email || user.sub;
  el.userName.textContent = name;
  el.welcomeTitle.textContent = `Hello, ${String(name).split(/\s+/)[0]}`;
  el.userEmail.textContent = user.email ?? "";
  el.userEmail.hidden = !user.email;
  el.avatar.textContent = initials(name);
  el.userSub.textContent = user.sub;

  const scopes = (user.scope ?? "").split(/\s+/).filter(Boolean);
  el.userScopes.replaceChildren(
    ...scopes.map((scope) => {
      const chip = document.createElement("li");
      chip.className = scope.startsWith("orders:") ? "chip chip-accent" : "chip";
      chip.textContent = scope;
      return chip;
    }),
  );

  el.sessionEnds.textContent =
    typeof user.session_expires_at === "number"
      ? dateFormat.format(new Date(user.session_expires_at * 1000))
      : "When you log out";

  const canWrite = scopes.includes(WRITE_SCOPE);
  el.fieldset.disabled = !canWrite;
  el.writeDenied.hidden = canWrite;
  el.form.classList.toggle("is-disabled", !canWrite);
  if (canWrite) el.form.removeAttribute("aria-describedby");
  else el.form.setAttribute("aria-describedby", "write-denied");

  showView("user");
  loadDevices();
}

/* ---------- where you're signed in ---------- */

async function loadDevices() {
  try {
    const sessions = await bff.sessions();
    el.devicesList.replaceChildren(...sessions.map(deviceRow));
  } catch (err) {
    if (!isLoginRequired(err)) showError(err);
  }
}

function deviceRow(session) {
  const item = document.createElement("li");
  item.className = "device";
  item.dataset.testid = "device";
  const label = document.createElement("span");
  const seen = dateFormat.format(new Date(session.last_seen_at * 1000));
  label.textContent = `${session.device}${session.current ? " (this browser)" : ""} · last active ${seen}`;
  item.append(label);
  if (!session.current) {
    const end = document.createElement("button");
    end.type = "button";
    end.className = "btn btn-ghost btn-small";
    end.dataset.testid = "end-session-button";
    end.textContent = "Sign out";
    end.addEventListener("click", async () => {
      try {
        await bff.endSession(session.id);
        announce(`Signed out ${session.device}.`);
        await loadDevices();
      } catch (err) {
        showError(err);
      }
    });
    item.append(end);
  }
  return item;
}

function initials(name) {
  const parts = String(name).trim().split(/[\s@._-]+/).filter(Boolean);
  return parts
    .slice(0, 2)
    .map((part) => part[0].toUpperCase())
    .join("");
}

/* ---------- messages ---------- */

function sentence(text) {
  const trimmed = String(text).trim();
  if (!trimmed) return "";
  const capitalised = trimmed[0].toUpperCase() + trimmed.slice(1);
  return /[.!?]$/.test(capitalised) ? capitalised : `${capitalised}.`;
}

/** Turn an API failure into words a person can act on. */
function describe(err) {
  if (!(err instanceof BffError)) {
    return { title: "Something went wrong", text: sentence(err?.message ?? err) };
  }
  const detail = sentence(err.description || err.error);
  switch (true) {
    case err.error === "insufficient_scope":
      return {
        title: "Not allowed for your account",
        text: `Your session does not carry the permission this needs. ${detail}`,
      };
    case err.status === 403:
      return { title: "Access denied", text: detail };
    case err.status === 400:
      return { title: "Please check the order", text: detail };
    case err.error === "out_of_stock":
      return { title: "Not enough in stock", text: detail };
    case err.error === "network_error":
      return {
        title: "Cannot reach the server",
        text: "Check your connection and try again.",
      };
    case err.status >= 500:
      return { title: "The service is having trouble", text: `${detail} Please try again shortly.` };
    default:
      return { title: "Something went wrong", text: detail };
  }
}

function showError(err) {
  const { title, text } = describe(err);
  el.errorTitle.textContent = title;
  el.errorText.textContent = text;
  el.errorBox.dataset.error = err instanceof BffError ? err.error : "client_error";
  el.errorBox.hidden = false;
}

function clearError() {
  el.errorBox.hidden = true;
  el.errorTitle.textContent = "";
  el.errorText.textContent = "";
  delete el.errorBox.dataset.error;
}

function announce(text) {
  el.status.textContent = text;
}

function showNotice(text, actionLabel, action) {
  el.noticeText.textContent = text;
  el.noticeAction.textContent = actionLabel;
  noticeAction = action;
  el.notice.hidden = false;
}

function hideNotice() {
  el.notice.hidden = true;
  noticeAction = null;
}

/* ---------- orders ---------- */

async function loadOrders() {
  el.ordersLoading.hidden = false;
  el.refreshButton.disabled = true;
  try {
    const [body] = await Promise.all([bff.json("/api/orders"), loadStock()]);
    renderOrders(body?.orders ?? []);
  } catch (err) {
    if (isLoginRequired(err)) return;
    el.ordersTable.hidden = true;
    el.emptyOrders.hidden = false;
    el.emptyOrdersTitle.textContent = "Orders unavailable";
    el.emptyOrdersText.textContent =
      err instanceof BffError && err.status === 403
        ? "Your account is not allowed to see orders."
        : "Orders could not be loaded. Try Refresh in a moment.";
    showError(err);
  } finally {
    el.ordersLoading.hidden = true;
    el.refreshButton.disabled = false;
  }
}

/**
 * The inventory, when this user may see it (403 insufficient_claims: not a stock viewer) and it
 * answers: stock is extra information, so without it the orders show without the column.
 */
async function loadStock() {
  try {
    const body = await bff.json("/api/inventory");
    stock = new Map((body?.items ?? []).map((entry) => [String(entry.item), entry.available]));
  } catch (err) {
    if (isLoginRequired(err)) throw err;
    stock = null;
  }
  el.stockHeader.hidden = stock === null;
}

function renderOrders(orders) {
  el.ordersBody.replaceChildren(...orders.map(orderRow));
  const empty = orders.length === 0;
  el.ordersTable.hidden = empty;
  el.emptyOrders.hidden = !empty;
  el.emptyOrdersTitle.textContent = "No orders yet";
  el.emptyOrdersText.textContent = "Orders you place will show up here.";
}

function orderRow(order) {
  const row = document.createElement("tr");
  row.dataset.orderId = String(order.id);
  const id = cell(shortId(order.id), "cell-id");
  id.title = String(order.id);
  const item = cell(order.item, "cell-item");
  const quantity = cell(String(order.quantity), "num");
  const placed = document.createElement("td");
  const time = document.createElement("time");
  const date = toDate(order.created_at);
  if (date) {
    time.dateTime = date.toISOString();
    time.textContent = dateFormat.format(date);
  } else {
    time.textContent = String(order.created_at ?? "");
  }
  placed.append(time);
  placed.className = "cell-muted";
  row.append(id, item, quantity, placed);
  if (stock !== null) {
    const available = stock.get(String(order.item));
    row.append(cell(available === undefined ? "—" : String(available), "num cell-stock"));
  }
  return row;
}

/** UUIDs are long; their first block is enough to tell orders apart on screen. */
function shortId(id) {
  const text = String(id);
  return text.length > 12 ? text.slice(0, 8) : `#${text}`;
}

function cell(text, className) {
  const td = document.createElement("td");
  td.textContent = text;
  td.className = className;
  return td;
}

/** `created_at` may be unix seconds or an ISO string; anything else is shown as it is. */
function toDate(value) {
  if (typeof value === "number") return new Date(value * 1000);
  if (typeof value === "string") {
    const date = new Date(value);
    return Number.isNaN(date.getTime()) ? null : date;
  }
  return null;
}

function appendOrder(order) {
  const row = orderRow(order);
  row.classList.add("row-new");
  el.ordersBody.append(row);
  el.ordersTable.hidden = false;
  el.emptyOrders.hidden = true;
}

/* ---------- the new-order form ---------- */

function clearFieldErrors() {
  for (const { input, message } of Object.values(fieldErrors)) {
    input.removeAttribute("aria-invalid");
    message.textContent = "";
    message.hidden = true;
  }
}

function showFieldError(field, text) {
  const target = fieldErrors[field];
  target.input.setAttribute("aria-invalid", "true");
  target.message.textContent = text;
  target.message.hidden = false;
  target.input.focus();
}

/** Which input a 400 answer is about: the API's `field` when it names one, or its wording. */
function fieldOf(err) {
  const named = err.body?.field;
  if (typeof named === "string" && named in fieldErrors) return named;
  const text = `${err.description} ${err.error}`.toLowerCase();
  if (/\bquantity\b/.test(text)) return "quantity";
  if (/\bitem\b/.test(text)) return "item";
  return null;
}

/** Send what was typed and let the API judge it, so its validation messages are what shows. */
function readOrder() {
  const rawQuantity = el.quantityInput.value.trim();
  const quantity = Number(rawQuantity);
  return {
    item: el.itemInput.value.trim(),
    quantity: rawQuantity !== "" && Number.isFinite(quantity) ? quantity : rawQuantity,
  };
}

async function submitOrder(event) {
  event.preventDefault();
  if (el.fieldset.disabled) return;
  clearError();
  clearFieldErrors();
  el.addButton.disabled = true;
  el.addButton.textContent = "Adding…";
  try {
    const order = await bff.json("/api/orders", { method: "POST", json: readOrder() });
    appendOrder(order);
    el.form.reset();
    el.itemInput.focus();
    announce(`Order added: ${order.quantity} × ${order.item}.`);
  } catch (err) {
    if (isLoginRequired(err)) return;
    if (err instanceof BffError && err.status === 400) {
      const field = fieldOf(err);
      if (field) showFieldError(field, sentence(err.description));
    }
    showError(err);
  } finally {
    el.addButton.disabled = false;
    el.addButton.textContent = "Add order";
  }
}

/* ---------- session ---------- */

function isLoginRequired(err) {
  return err instanceof BffError && err.status === 401 && err.error === "login_required";
}

async function refreshSession() {
  try {
    const user = await bff.user();
    if (!user) {
      hideNotice();
      showAnonymous("Your session has ended. Log in again to continue.");
      return null;
    }
    showUser(user);
    return user;
  } catch (err) {
    showError(err);
    return null;
  }
}

function onSessionExpiring(event) {
  if (event.detail.expiresAt === unextendableExpiry) return;
  const minutes = Math.floor(event.detail.secondsLeft / 60);
  const left =
    minutes < 1 ? "less than a minute" : `about ${minutes} minute${minutes === 1 ? "" : "s"}`;
  showNotice(
    `Your session ends in ${left}.`,
    "Stay signed in",
    async () => {
      const user = await refreshSession();
      if (!user) return;
      if (!expiresWithin(user, EXPIRING_WARNING_SECONDS)) {
        hideNotice();
        announce("You are still signed in.");
        return;
      }
      unextendableExpiry = user.session_expires_at;
      const end = timeFormat.format(new Date(user.session_expires_at * 1000));
      showNotice(
        `Your session reaches its maximum length at ${end} and cannot be extended.`,
        "Log in again",
        () => bff.login(),
      );
    },
  );
}

function expiresWithin(user, seconds) {
  const expiresAt = user.session_expires_at;
  return typeof expiresAt === "number" && expiresAt - Date.now() / 1000 <= seconds;
}

function onSessionExpired() {
  hideNotice();
  showAnonymous("Your session has ended. Log in again to continue.");
}

function onLoginRequired() {
  hideNotice();
  showAnonymous("Your session has ended. Log in again to continue.");
}

/* ---------- start ---------- */

function wire() {
  el.loginButton.addEventListener("click", () => {
    el.loginButton.disabled = true;
    el.loginButton.textContent = "Redirecting…";
    bff.login();
  });

  el.logoutButton.addEventListener("click", async () => {
    el.logoutButton.disabled = true;
    el.logoutButton.textContent = "Logging out…";
    try {
      await bff.logout();
    } catch (err) {
      showError(err);
      el.logoutButton.disabled = false;
      el.logoutButton.textContent = "Log out";
    }
  });

  el.refreshButton.addEventListener("click", () => {
    clearError();
    loadOrders();
  });
  el.errorClose.addEventListener("click", clearError);
  el.logoutEverywhereButton.addEventListener("click", async () => {
    try {
      await bff.logoutEverywhere();
    } catch (err) {
      showError(err);
    }
  });
  el.form.addEventListener("submit", submitOrder);
  for (const [field, { input }] of Object.entries(fieldErrors)) {
    input.addEventListener("input", () => {
      if (input.getAttribute("aria-invalid") !== "true") return;
      input.removeAttribute("aria-invalid");
      fieldErrors[field].message.hidden = true;
    });
  }
  el.noticeAction.addEventListener("click", () => noticeAction?.());

  bff.addEventListener(EVENTS.loginRequired, onLoginRequired);
  bff.addEventListener(EVENTS.sessionExpiring, onSessionExpiring);
  bff.addEventListener(EVENTS.sessionExpired, onSessionExpired);
}

async function start() {
  wire();
  showView("loading");
  let user;
  try {
    user = await bff.user();
  } catch (err) {
    const { title, text } = describe(err);
    showAnonymous(`${title}: ${text}`);
    return;
  }
  if (!user) {
    showAnonymous();
    return;
  }
  showUser(user);
  await loadOrders();
}

start();
