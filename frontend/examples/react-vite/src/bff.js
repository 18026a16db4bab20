// One client for the whole app. "bff-frontend" is frontend/bff-client.js, installed with
// `"bff-frontend": "file:../.."` in package.json; in your own app copy bff-client.js (and its
// .d.ts) into src/ and import it from "./bff-client.js" instead.
import { createBffClient } from "bff-frontend";

export { BffError } from "bff-frontend";

export const bff = createBffClient({
  onLoginRequired: "event",
  sessionExpiringSeconds: 120,
});
