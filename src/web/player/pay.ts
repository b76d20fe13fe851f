// Paid origins in the player (NUT-24): a 402 shows the price; a pasted cashuB token buys a live-view session through
// the X-Cashu header, and later requests carry X-Session. Token and session stay in this tab's sessionStorage.
import { el } from "../dom.ts";

/** What the 402 answer asks for. */
export interface Price {
  amount: number;
  unit: string;
  mints: string[];
  allotment: number;
}

/** The session and token of one stream in this tab. */
export class Payment {
  readonly #path: string;
  constructor(path: string) {
    this.#path = path;
  }

  get session(): string {
    return sessionStorage.getItem(`slowdrip.session.${this.#path}`) ?? "";
  }

  /** Headers that every segment request carries (the session, once paid). */
  headers(): Record<string, string> {
    return this.session ? { "x-session": this.session } : {};
  }

  /** GETs `url` with the session; null when the origin serves it, the price when it answers 402. */
  async probe(url: string): Promise<Price | null> {
    const r = await fetch(url, { headers: this.headers(), cache: "no-store" });
    if (r.status !== 402) {
      await r.body?.cancel();
      return null;
    }
    const j = (await r.json().catch(() => ({}))) as Partial<Price>;
    return { amount: Number(j.amount ?? 0), unit: String(j.unit ?? "sat"), mints: Array.isArray(j.mints) ? j.mints.map(String).slice(0, 16) : [], allotment: Number(j.allotment ?? 0) };
  }

  /** Pays with `token` by GETting `url` with X-Cashu; resolves with the refusal reason, or null once a session is open. */
  async pay(url: string, token: string): Promise<string | null> {
    sessionStorage.setItem(`slowdrip.cashu.${this.#path}`, token);
    const r = await fetch(url, { headers: { "x-cashu": token, "x-session-request": "default" }, cache: "no-store" });
    await r.body?.cancel().catch(() => {});
    const session = r.headers.get("x-session");
    if (r.ok && session) {
      sessionStorage.setItem(`slowdrip.session.${this.#path}`, session);
      return null;
    }
    return r.headers.get("x-reason") ?? `HTTP ${r.status}`;
  }

  /** The price panel with a token field; `paid` runs once a session is open. */
  panel(price: Price, url: string, paid: () => void): HTMLElement {
    const input = el("input", { id: "cashu", type: "password", autocomplete: "off", placeholder: "cashuB...", size: "48", "aria-label": "Cashu token" });
    const reason = el("p", { id: "pay-reason", class: "hint" });
    const form = el(
      "form",
      { id: "pay", class: "pay" },
      el("p", {}, `This origin charges ${price.amount} ${price.unit}${price.allotment ? ` for ${Math.round(price.allotment / 60_000)} min of viewing` : ""}`, price.mints.length ? ` (mints: ${price.mints.join(", ")})` : "", "."),
      el("label", { for: "cashu" }, "Paste a Cashu token: "),
      input,
      el("button", { type: "submit" }, "Pay"),
      reason,
    );
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      const t = input.value.trim();
      if (!/^cashu[AB][A-Za-z0-9_=+/-]+$/.test(t)) {
        reason.textContent = "that is not a cashuA/cashuB token";
        return;
      }
      void this.pay(url, t).then((why) => {
        if (why === null) {
          form.remove();
          paid();
        } else reason.textContent = `refused: ${why}`;
      });
    });
    return form;
  }
}
