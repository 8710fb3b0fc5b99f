// Managing the app's users (`nimbus:platform/auth-admin`), with `auth = "admin"` only.

import {
  createUser as witCreate,
  deleteUser as witDelete,
  setRole as witSetRole,
} from "nimbus:platform/auth-admin@0.2.0";
import { call } from "./errors.js";

// A new user ({id, email, role, createdAtMs}); `role` defaults to "authenticated".
export function createUser(email, password, role) {
  return call(() => witCreate(email, password, role));
}

export function deleteUser(id) {
  call(() => witDelete(id));
}

export function setRole(id, role) {
  return call(() => witSetRole(id, role));
}
