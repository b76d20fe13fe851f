// Component readiness: each component reports its state; /readyz and GetStatus read the aggregate.

/** One component's current state. */
export interface ComponentStatus {
  name: string;
  ready: boolean;
  required: boolean;
  detail: string;
}

/** A registry of components and their readiness. */
export class Readiness {
  readonly #components = new Map<string, ComponentStatus>();

  /** Adds a component (initially not ready) or replaces its entry. */
  register(name: string, opts: { required: boolean; detail?: string }): void {
    this.#components.set(name, { name, ready: false, required: opts.required, detail: opts.detail ?? "starting" });
  }

  /** Sets a registered component's state. */
  set(name: string, ready: boolean, detail: string = ready ? "ready" : "not ready"): void {
    const c = this.#components.get(name);
    if (!c) throw new RangeError(`unknown component "${name}"`);
    c.ready = ready;
    c.detail = detail;
  }

  /** Every component, in registration order. */
  list(): ComponentStatus[] {
    return [...this.#components.values()].map((c) => ({ ...c }));
  }

  /** True when every required component is ready. */
  get ready(): boolean {
    for (const c of this.#components.values()) if (c.required && !c.ready) return false;
    return true;
  }
}
