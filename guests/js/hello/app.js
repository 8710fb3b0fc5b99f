// The primer's hello in JavaScript: GET /js/hello?name=Ann.
import { Router, json } from "../../sdk/js/http.js";

const router = new Router();

router.get("/js/hello", (req) =>
  json(200, {
    message: `Hello, ${req.query.get("name") ?? "world"}!`,
    requestId: req.ctx.requestId,
    language: "javascript",
  }),
);

export const httpHandler = router.handler();
