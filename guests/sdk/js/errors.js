// Platform failures as exceptions: every nimbus call that the platform refuses throws a
// NimbusError whose `kind` is the WIT `error` case ("access-denied", "not-found", "invalid",
// "unavailable", "other") and whose `status` is the HTTP status a handler would answer with.

const STATUS = {
  "access-denied": 403,
  "not-found": 404,
  invalid: 400,
  unavailable: 503,
  other: 500,
};

export class NimbusError extends Error {
  constructor(kind, detail) {
    super(detail ? `${kind}: ${detail}` : kind);
    this.name = "NimbusError";
    this.kind = kind;
    this.detail = detail ?? "";
  }

  get status() {
    return STATUS[this.kind] ?? 500;
  }
}

// Runs a platform call, turning the toolchain's ComponentError (payload {tag, val}) into a
// NimbusError.
export function call(platformCall) {
  try {
    return platformCall();
  } catch (error) {
    const payload = error?.payload;
    if (payload && typeof payload.tag === "string") {
      throw new NimbusError(payload.tag, typeof payload.val === "string" ? payload.val : "");
    }
    throw error;
  }
}
