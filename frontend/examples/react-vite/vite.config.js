import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

// Open the app on the BFF's origin (http://localhost:8000), never on this dev server's port:
// the BFF proxies this server when BFF_FRONTEND_DEV_SERVER=http://localhost:5173 is set, so
// /bff and /api stay same-origin. Only the hot-reload websocket comes here directly, because
// websockets cannot pass through the BFF; clientPort tells Vite's browser client where it is.
const port = Number(process.env.PORT ?? 5173);

export default defineConfig({
  plugins: [react()],
  server: {
    port,
    strictPort: true,
    hmr: { clientPort: port },
  },
});
