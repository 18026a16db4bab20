import { useEffect, useState } from "react";
import { bff } from "./bff.js";

/** Who is signed in: `{ status: "loading" | "anonymous" | "signed-in", user, notice }`. */
export function useSession() {
  const [state, setState] = useState({ status: "loading", user: null, notice: "" });

  useEffect(() => {
    const ended = (notice) => () => setState({ status: "anonymous", user: null, notice });
    const onLoginRequired = ended("Your session has ended. Log in again to continue.");
    const onExpired = ended("Your session has expired.");
    const onExpiring = (event) =>
      setState((s) => ({ ...s, notice: `Your session ends in ${event.detail.secondsLeft} s.` }));

    bff.user().then(
      (user) => setState({ status: user ? "signed-in" : "anonymous", user, notice: "" }),
      () => setState({ status: "anonymous", user: null, notice: "The BFF is not answering." }),
    );
    bff.addEventListener("bff:login-required", onLoginRequired);
    bff.addEventListener("bff:session-expired", onExpired);
    bff.addEventListener("bff:session-expiring", onExpiring);
    return () => {
      bff.removeEventListener("bff:login-required", onLoginRequired);
      bff.removeEventListener("bff:session-expired", onExpired);
      bff.removeEventListener("bff:session-expiring", onExpiring);
    };
  }, []);

  return state;
}

/** The path, kept in step with history.pushState and the back button (no router needed). */
export function usePath() {
  const [path, setPath] = useState(window.location.pathname);
  useEffect(() => {
    const onPop = () => setPath(window.location.pathname);
    window.addEventListener("popstate", onPop);
    return () => window.removeEventListener("popstate", onPop);
  }, []);
  const navigate = (to) => {
    window.history.pushState(null, "", to);
    setPath(to);
  };
  return [path, navigate];
}
