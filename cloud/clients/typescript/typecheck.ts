// Compiled (never run) by `npm run check`: the generated types and the
// client's declarations fit together, and what they refuse they refuse.
import { createCloudClient, unwrap, CloudError, type ErrorCode, type Tenant } from "./index.js";

const cloud = createCloudClient({ baseUrl: "http://127.0.0.1:8080", auth: { sharedSecret: "s", userId: "u1" } });

export async function examples(): Promise<void> {
  const made = await cloud.POST("/api/tenants", { body: { plan: "basic", name: "My claw" } });
  if (made.error) {
    const code: ErrorCode = made.error.code;
    const message: string = made.error.error;
    void code, message;
  } else {
    const t: Tenant = made.data;
    void t.status, t.url;
  }
  const me: Tenant = unwrap(await cloud.GET("/api/tenants/me"));
  void me.restartGen;
  const link = unwrap(await cloud.POST("/api/tenants/me/access", { body: { path: "/" } }));
  const url: string = link.url;
  void url;
  const logs = unwrap(await cloud.GET("/api/tenants/me/logs", { params: { query: { tail: 20 } } }));
  const lines: string[] = logs.lines;
  void lines;
  const followed = await cloud.GET("/api/tenants/me/logs", { params: { query: { follow: "1" } }, parseAs: "stream" });
  const stream: ReadableStream<Uint8Array> | null = followed.response.body;
  void stream;
  try {
    unwrap(await cloud.DELETE("/api/tenants/me"));
  } catch (e) {
    if (e instanceof CloudError) {
      const c: ErrorCode | `http_${number}` = e.code;
      void c;
    }
  }

  // @ts-expect-error: no such path
  await cloud.GET("/api/tenants/mine");
  // @ts-expect-error: a plan is a name
  await cloud.POST("/api/tenants", { body: { plan: 3 } });
  // @ts-expect-error: the tenant has no such field
  void me.owner;
  // @ts-expect-error: not an error code of the cloud
  const bad: ErrorCode = "no_such_code";
  void bad;
  createCloudClient({ baseUrl: "x", auth: { bearer: "jwt" } });
  createCloudClient({ baseUrl: "x", auth: { adminToken: "cfa_" } });
  // @ts-expect-error: the shared secret needs the user
  createCloudClient({ baseUrl: "x", auth: { sharedSecret: "s" } });
}
