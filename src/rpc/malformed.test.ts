// Unit tests of the request-body boundary: frames split anywhere pass through unchanged; bad ones end the body with invalid_argument.
import { describe, expect, it } from "vitest";
import { create, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import type { UniversalHandler, UniversalServerRequest, UniversalServerResponse } from "@connectrpc/connect/protocol";
import { StorageService, StoreRequestSchema } from "../gen/slowdrip/v1/storage_pb.ts";
import { NodeService } from "../gen/slowdrip/v1/node_pb.ts";
import { guardRequestBody, requestFraming } from "./malformed.ts";

function frame(payload: Uint8Array, flags = 0): Buffer {
  const h = Buffer.alloc(5);
  h[0] = flags;
  h.writeUInt32BE(payload.byteLength, 1);
  return Buffer.concat([h, payload]);
}

/** A handler that drains its body and reports what it read, or the error the body ended with. */
function drainingHandler(method: UniversalHandler["method"]): UniversalHandler & { got?: Buffer; err?: unknown } {
  const h = Object.assign(
    async (req: UniversalServerRequest): Promise<UniversalServerResponse> => {
      const parts: Uint8Array[] = [];
      try {
        for await (const c of req.body as AsyncIterable<Uint8Array>) parts.push(c);
        h.got = Buffer.concat(parts);
      } catch (err) {
        h.err = err;
      }
      return { status: 200 };
    },
    { protocolNames: ["connect"], service: method.parent, method, requestPath: "/x", allowedMethods: ["POST"], supportedContentType: Object.assign(() => true, { supported: [] }) },
  ) as UniversalHandler & { got?: Buffer; err?: unknown };
  return h;
}

async function* chunked(bytes: Buffer, size: number): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
}

function request(contentType: string, body: AsyncIterable<Uint8Array>, headers: Record<string, string> = {}): UniversalServerRequest {
  return { httpVersion: "1.1", url: "http://x/x", method: "POST", header: new Headers({ "content-type": contentType, ...headers }), body, signal: new AbortController().signal, contextValues: undefined as never };
}

const storeMsg = (data: number) => toBinary(StoreRequestSchema, create(StoreRequestSchema, { data: new Uint8Array(data).fill(7) }));

describe("guardRequestBody", () => {
  it("knows the content types connect-es accepts: binary ones are decoded, JSON ones framed and counted", () => {
    expect(requestFraming("application/proto")).toMatchObject({ kind: "whole", binary: true });
    for (const ct of ["application/connect+proto", "application/grpc", "application/grpc+proto", "application/grpc-web", "APPLICATION/GRPC-WEB+PROTO"]) expect(requestFraming(ct)).toMatchObject({ kind: "enveloped", binary: true });
    for (const ct of ["application/connect+json", "application/grpc+json", "application/grpc-web+json; charset=utf-8"]) expect(requestFraming(ct)).toMatchObject({ kind: "enveloped", binary: false });
    for (const ct of ["application/json", "application/grpc-web-text", "text/plain", "", null]) expect(requestFraming(ct)).toBeUndefined();
  });

  it("counts JSON frames of one-message calls without decoding them", async () => {
    const none = drainingHandler(StorageService.method.fetchBlob);
    await guardRequestBody(none, 1024)(request("application/connect+json", chunked(frame(Buffer.from("{}"), 0x02), 3)));
    expect((none.err as ConnectError).rawMessage).toMatch(/FetchBlob takes one request message, the request carries none/);
    const bad = drainingHandler(StorageService.method.fetchBlob);
    await guardRequestBody(bad, 1024)(request("application/grpc+json", chunked(frame(Buffer.from("{nope")), 3)));
    expect(bad.err).toBeUndefined();
    expect(bad.got!.subarray(5).toString()).toBe("{nope");
  });

  it.each([1, 2, 5, 7, 1000, 1 << 20])("hands on a valid stream unchanged when it arrives in %i-byte chunks", async (size) => {
    const body = Buffer.concat([frame(storeMsg(0)), frame(storeMsg(3000)), frame(new Uint8Array(0)), frame(storeMsg(20_000))]);
    for (const ct of ["application/connect+proto", "application/grpc", "application/grpc-web+proto"]) {
      const h = drainingHandler(StorageService.method.store);
      await guardRequestBody(h, 1 << 20)(request(ct, chunked(body, size)));
      expect(h.err).toBeUndefined();
      expect(h.got!.equals(body)).toBe(true);
    }
  });

  it.each([1, 3, 64])("refuses an undecodable frame after good ones (%i-byte chunks)", async (size) => {
    const body = Buffer.concat([frame(storeMsg(10)), frame(Uint8Array.of(0x0a, 0x09, 0x01)), frame(storeMsg(10))]);
    const h = drainingHandler(StorageService.method.store);
    await guardRequestBody(h, 1 << 20)(request("application/grpc", chunked(body, size)));
    expect(h.err).toBeInstanceOf(ConnectError);
    expect((h.err as ConnectError).code).toBe(Code.InvalidArgument);
    expect((h.err as ConnectError).rawMessage).toMatch(/^malformed request: the body is not a binary slowdrip\.v1\.StoreRequest/);
  });

  it("leaves frames over the size limit, skipped flags and compressed bodies to connect-es", async () => {
    const cases: [string, Buffer, Record<string, string>][] = [
      ["oversized", Buffer.concat([frame(new Uint8Array(100).fill(0xff))]), {}],
      ["end-stream flag", Buffer.concat([frame(storeMsg(1)), frame(Uint8Array.of(0xff, 0xff), 0x02)]), {}],
      ["compressed", frame(Uint8Array.of(0xff), 0x01), { "connect-content-encoding": "gzip" }],
    ];
    for (const [name, body, headers] of cases) {
      const h = drainingHandler(StorageService.method.store);
      await guardRequestBody(h, 64)(request("application/connect+proto", chunked(body, 7), headers));
      expect({ name, err: h.err }).toEqual({ name, err: undefined });
      expect(h.got!.equals(body), name).toBe(true);
    }
  });

  it.each([
    ["a header cut off", frame(storeMsg(50)).subarray(0, 3), /3 of 5 header bytes/],
    ["a payload cut off", frame(storeMsg(50)).subarray(0, 20), /15 of 52 payload bytes/],
    ["no payload after the header", Buffer.from([0, 0, 0, 0, 0xfe]), /0 of 254 payload bytes/],
  ])("refuses a body that ends inside a frame: %s", async (_n, body, why) => {
    const h = drainingHandler(StorageService.method.store);
    await guardRequestBody(h, 1024)(request("application/grpc-web", chunked(body, 2)));
    expect((h.err as ConnectError).code).toBe(Code.InvalidArgument);
    expect((h.err as ConnectError).rawMessage).toMatch(why);
  });

  it("checks a Connect unary body as one message, and one-message calls for their count", async () => {
    const bad = drainingHandler(NodeService.method.getStatus);
    await guardRequestBody(bad, 1024)(request("application/proto", chunked(Buffer.from([0x0a, 0x05]), 1)));
    expect((bad.err as ConnectError).code).toBe(Code.InvalidArgument);
    const good = drainingHandler(NodeService.method.getStatus);
    await guardRequestBody(good, 1024)(request("application/proto", chunked(Buffer.alloc(0), 1)));
    expect(good.err).toBeUndefined();
    const none = drainingHandler(NodeService.method.getStatus);
    await guardRequestBody(none, 1024)(request("application/grpc", chunked(Buffer.alloc(0), 1)));
    expect((none.err as ConnectError).rawMessage).toMatch(/carries none/);
    const json = drainingHandler(NodeService.method.getStatus);
    await guardRequestBody(json, 1024)(request("application/json", chunked(Buffer.from("{nope"), 1)));
    expect(json.got!.toString()).toBe("{nope");
  });
});
