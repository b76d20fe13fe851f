// Media tokens in the pages: taken from the URL fragment (#token=JWT, never sent to a server in the URL) or pasted,
// and kept in sessionStorage per path for this tab only.
import { el } from "./dom.ts";

const key = (path: string) => `slowdrip.token.${path}`;

/** The token for `path`: the page's #token=..., else the one pasted earlier in this tab, else "". */
export function pageToken(path: string): string {
  const fromHash = new URLSearchParams(location.hash.slice(1)).get("token");
  if (fromHash && /^[A-Za-z0-9._-]{16,8192}$/.test(fromHash)) {
    sessionStorage.setItem(key(path), fromHash);
    history.replaceState(null, "", location.pathname + location.search);
    return fromHash;
  }
  return sessionStorage.getItem(key(path)) ?? "";
}

/** A form asking for a token (`slowdrip token issue --action ACTION --path PATH`); calls `use` with it. */
export function tokenForm(action: "publish" | "read", path: string, use: (token: string) => void): HTMLFormElement {
  const input = el("input", { id: "token", type: "password", autocomplete: "off", placeholder: "JWT", size: "48", "aria-label": "token" });
  const form = el(
    "form",
    { id: "token-form", class: "token" },
    el("label", { for: "token" }, `${action === "publish" ? "Publish" : "Read"} token for ${path}: `),
    input,
    el("button", { type: "submit" }, "Use"),
    el("p", { class: "hint" }, `Get one from the node's operator: slowdrip token issue --action ${action} --path ${path}`),
  );
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const t = input.value.trim();
    if (!t) return;
    sessionStorage.setItem(key(path), t);
    use(t);
  });
  return form;
}
