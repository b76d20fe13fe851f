// A minimal Connect-protocol client (unary calls, JSON) for the pages that need one or two public RPCs, so that they do
// not carry the protobuf runtime; the dashboard uses @connectrpc/connect-web.

/** A Connect error answer: the code and message the node gave. */
export class RpcError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(`${code}: ${message}`);
    this.name = "RpcError";
    this.code = code;
  }
}

/** Calls `pkg.Service/Method` on this page's origin with a JSON body; resolves with the JSON answer. */
export async function rpc<T>(method: string, body: unknown = {}, headers: Record<string, string> = {}): Promise<T> {
  const r = await fetch(`/${method}`, {
    method: "POST",
    headers: { "content-type": "application/json", "connect-protocol-version": "1", ...headers },
    body: JSON.stringify(body),
  });
  const j = (await r.json().catch(() => ({}))) as { code?: string; message?: string };
  if (!r.ok) throw new RpcError(j.code ?? `http-${r.status}`, j.message ?? r.statusText);
  return j as T;
}
