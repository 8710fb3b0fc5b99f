// The app's users (`nimbus:platform/auth`), with `auth = "verify"` or `"admin"`.

import { verifyToken as witVerify, getUser as witGetUser } from "nimbus:platform/auth@0.2.0";
import { call } from "./errors.js";

// The identity ({userId, email, role}) a bearer token proves; throws NimbusError when it is
// invalid or expired.
export function verifyToken(token) {
  return call(() => witVerify(token));
}

// A user by id, or undefined.
export function getUser(id) {
  const user = call(() => witGetUser(id));
  return user === undefined ? undefined : { ...user, createdAt: new Date(Number(user.createdAtMs)) };
}
