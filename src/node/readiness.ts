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
  /** Details computed when read (so figures such as blob counts are current, not those of start-up). */
  readonly #live = new Map<string, () => string>();

  /** Adds a component (initially not ready) or replaces its entry. */
  register(name: string, opts: { required: boolean; detail?: string }): void {
    this.#components.set(name, { name, ready: false, required: opts.required, detail: opts.detail ?? "starting" });
  }

  /** Sets a registered component's state; a function `detail` is called each time the state is read. */
  set(name: string, ready: boolean, detail: string | (() => string) = ready ? "ready" : "not ready"): void {
    const c = this.#components.get(name);
    if (!c) throw new RangeError(`unknown component "${name}"`);
    c.ready = ready;
    if (typeof detail === "function") {
      this.#live.set(name, detail);
    } else {
      this.#live.delete(name);
      c.detail = detail;
    }
  }

  /** Every component, in registration order. */
  list(): ComponentStatus[] {
    return [...this.#components.values()].map((c) => {
      const live = this.#live.get(c.name);
      if (!live) return { ...c };
      let detail: string;
      try {
        detail = live();
      } catch (err) {
        detail = `detail unavailable: ${err instanceof Error ? err.message : String(err)}`;
      }
      return { ...c, detail };
    });
  }

  /** True when every required component is ready. */
  get ready(): boolean {
    for (const c of this.#components.values()) if (c.required && !c.ready) return false;
    return true;
  }
}
