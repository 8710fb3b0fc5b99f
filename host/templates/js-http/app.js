// {{name}}: a nimbus HTTP component in JavaScript. The SDK is in ./nimbus (http.js here; kv.js,
// objects.js, auth.js, queue.js and config.js once nimbus.toml grants what they use).
import { Router, json } from "./nimbus/http.js";

const router = new Router();

router.get("/{{name}}", (req) =>
  json(200, { message: `Hello, ${req.query.get("name") ?? "world"}!`, component: req.ctx.component }),
);

export const httpHandler = router.handler();
