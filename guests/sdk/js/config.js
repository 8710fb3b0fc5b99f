// The component's `config` values and granted `secrets` (`nimbus:platform/config`).

import { get as witGet } from "nimbus:platform/config@0.2.0";
import { call } from "./errors.js";

// The value, or undefined when it is not declared.
export function get(name) {
  return call(() => witGet(name));
}
