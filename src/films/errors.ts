// Domain errors of the films layer (mapped to HTTP statuses only at the boundary).

/** A film request that cannot be done; `kind` says why. */
export class FilmError extends Error {
  readonly kind: "invalid" | "not-found" | "full" | "unavailable" | "unauthorized";
  constructor(message: string, kind: FilmError["kind"] = "invalid") {
    super(message);
    this.name = "FilmError";
    this.kind = kind;
  }
}
