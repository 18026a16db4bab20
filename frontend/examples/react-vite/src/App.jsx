import { useCallback, useEffect, useState } from "react";
import { bff, BffError } from "./bff.js";
import { usePath, useSession } from "./session.js";

export function App() {
  const session = useSession();
  const [path, navigate] = usePath();

  if (session.status === "loading") {
    return <p className="muted" data-testid="loading">Checking your session…</p>;
  }
  return (
    <>
      <header className="bar">
        <a href="/" className="brand" onClick={link(navigate, "/")}>Orders</a>
        <nav>
          <a href="/" onClick={link(navigate, "/")} aria-current={path === "/" ? "page" : undefined}>
            Home
          </a>
          <a href="/orders" onClick={link(navigate, "/orders")}
             aria-current={path === "/orders" ? "page" : undefined} data-testid="orders-link">
            My orders
          </a>
        </nav>
        {session.user && (
          <span className="account">
            <span data-testid="user-name">{session.user.name ?? session.user.sub}</span>
            <button type="button" onClick={() => bff.logout()} data-testid="logout-button">
              Log out
            </button>
          </span>
        )}
      </header>
      <main>
        {session.notice && <p className="notice" role="status" data-testid="notice">{session.notice}</p>}
        {!session.user ? (
          <Welcome />
        ) : path === "/orders" ? (
          <Orders canWrite={scopes(session.user).includes("orders:write")} />
        ) : (
          <Home user={session.user} navigate={navigate} />
        )}
      </main>
    </>
  );
}

function Welcome() {
  return (
    <section className="card" data-testid="anonymous-view">
      <h1>React + Vite behind a BFF</h1>
      <p>
        This app holds no OAuth token: the BFF on this origin signs you in and keeps the tokens
        server-side. The browser only has an <code>HttpOnly</code> session cookie.
      </p>
      <button type="button" className="primary" onClick={() => bff.login()} data-testid="login-button">
        Log in
      </button>
    </section>
  );
}

function Home({ user, navigate }) {
  return (
    <section className="card" data-testid="home-view">
      <h1>Hello, {user.given_name ?? user.name ?? user.sub}</h1>
      <p>
        Your session allows: <span data-testid="user-scopes">{scopes(user).join(" ")}</span>
      </p>
      <p>
        <a href="/orders" onClick={link(navigate, "/orders")}>See your orders</a>
      </p>
    </section>
  );
}

function Orders({ canWrite }) {
  const [orders, setOrders] = useState(null);
  const [error, setError] = useState("");

  const load = useCallback(() => {
    bff.json("/api/orders").then(
      (body) => setOrders(body.orders),
      (err) => setError(describe(err)),
    );
  }, []);
  useEffect(load, [load]);

  return (
    <section className="card" data-testid="orders-view">
      <h1>My orders</h1>
      {error && <p className="error" role="alert" data-testid="error-message">{error}</p>}
      {orders === null ? (
        <p className="muted">Loading orders…</p>
      ) : orders.length === 0 ? (
        <p className="muted" data-testid="empty-orders">No orders yet.</p>
      ) : (
        <ul className="orders" data-testid="orders-list">
          {orders.map((order) => (
            <li key={order.id}>
              <span>{order.item}</span> <span className="muted">× {order.quantity}</span>
            </li>
          ))}
        </ul>
      )}
      {canWrite ? (
        <NewOrder onAdded={load} onError={setError} />
      ) : (
        <p className="muted" data-testid="write-denied">Your session may read orders but not place them.</p>
      )}
    </section>
  );
}

function NewOrder({ onAdded, onError }) {
  const [item, setItem] = useState("");
  const submit = async (event) => {
    event.preventDefault();
    try {
      await bff.json("/api/orders", { method: "POST", json: { item, quantity: 1 } });
      setItem("");
      onError("");
      onAdded();
    } catch (err) {
      onError(describe(err));
    }
  };
  return (
    <form onSubmit={submit} className="row">
      <label htmlFor="item">Item</label>
      <input id="item" value={item} onChange={(e) => setItem(e.target.value)}
             placeholder="e.g. Blue teapot" data-testid="order-item-input" />
      <button type="submit" className="primary" data-testid="add-order-button">Add order</button>
    </form>
  );
}

function scopes(user) {
  return (user.scope ?? "").split(" ").filter(Boolean);
}

function describe(err) {
  if (err instanceof BffError) return err.description || err.error;
  return String(err);
}

function link(navigate, to) {
  return (event) => {
    event.preventDefault();
    navigate(to);
  };
}
