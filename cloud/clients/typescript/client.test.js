// The client against a real cloud, which cloud/clients/clients_test.go
// starts (cloud/servertest, with a fake agent that runs every tenant it is
// given) and names in the environment:
//
//   CLAWFLEET_URL            the cloud's base URL
//   CLAWFLEET_SHARED_SECRET  its shared secret
//   CLAWFLEET_SSO_TOKEN      a JWT of the SSO it trusts, for user CLAWFLEET_SSO_USER
//   CLAWFLEET_LOG_LINES      the log lines its agent answers with (JSON)
//
//   node --test client.test.js
import test from "node:test";
import assert from "node:assert/strict";
import { createCloudClient, unwrap, CloudError } from "@clawfleet/client";

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run this through cloud/clients' Go test`);
  return v;
};
const baseUrl = env("CLAWFLEET_URL");
const asUser = (userId) => createCloudClient({ baseUrl, auth: { sharedSecret: env("CLAWFLEET_SHARED_SECRET"), userId, userEmail: `${userId}@example.com` } });

async function until(what, fn, ms = 20000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test("a user's tenant through its whole life, with the shared secret", async () => {
  const cloud = asUser("node-user");

  const made = await cloud.POST("/api/tenants", { body: { plan: "free", name: "Node Claw" } });
  assert.equal(made.response.status, 201, JSON.stringify(made.error));
  assert.match(made.data.id, /^ten_/);
  assert.equal(made.data.name, "Node Claw");
  assert.equal(made.data.plan, "free");

  const again = await cloud.POST("/api/tenants", { body: { plan: "free", name: "Node Claw" } });
  assert.equal(again.response.status, 200, "a second create answers the existing tenant");
  assert.equal(again.data.id, made.data.id);

  const running = await until("the tenant running", async () => {
    const t = unwrap(await cloud.GET("/api/tenants/me"));
    return t.status === "running" && t;
  });
  assert.equal(running.id, made.data.id);
  assert.ok(running.url.startsWith("http"), running.url);

  const link = unwrap(await cloud.POST("/api/tenants/me/access", { body: { path: "/chat" } }));
  const u = new URL(link.url);
  assert.equal(u.pathname, "/chat");
  assert.ok(u.searchParams.get("t"), "the link carries its one-time token");
  assert.ok(Date.parse(link.expiresAt) > Date.now());

  const restarted = await cloud.POST("/api/tenants/me/restart");
  assert.equal(restarted.response.status, 202);
  assert.equal(restarted.data.restartGen, running.restartGen + 1);

  const logs = unwrap(await cloud.GET("/api/tenants/me/logs", { params: { query: { tail: 50 } } }));
  assert.deepEqual(logs.lines, JSON.parse(env("CLAWFLEET_LOG_LINES")));

  const followed = await cloud.GET("/api/tenants/me/logs", { params: { query: { follow: "1", tail: 50 } }, parseAs: "stream" });
  assert.equal(followed.response.status, 200);
  assert.match(followed.response.headers.get("Content-Type"), /^text\/event-stream/);
  const reader = followed.data.pipeThrough(new TextDecoderStream()).getReader();
  let events = "";
  while (!events.includes("data: plain line")) {
    const { value, done } = await reader.read();
    if (done) break;
    events += value;
  }
  await reader.cancel();
  assert.match(events, /data: plain line/);

  const deleted = await cloud.DELETE("/api/tenants/me");
  assert.equal(deleted.response.status, 202);
  assert.equal(deleted.data.status, "deleting");

  const gone = await cloud.GET("/api/tenants/me");
  assert.equal(gone.response.status, 404);
  assert.equal(gone.data, undefined);
  assert.equal(gone.error.code, "no_tenant");
  assert.equal(typeof gone.error.error, "string");
  assert.throws(() => unwrap(gone), (e) => e instanceof CloudError && e.status === 404 && e.code === "no_tenant" && e.message === gone.error.error);
});

test("error answers are typed: code and message", async () => {
  const wrong = createCloudClient({ baseUrl, auth: { sharedSecret: "not-the-secret-at-all", userId: "u" } });
  const r = await wrong.GET("/api/tenants/me");
  assert.equal(r.response.status, 401);
  assert.equal(r.error.code, "unauthorized");
  assert.match(r.error.error, /X-Shared-Secret/);

  const plan = await asUser("plan-user").POST("/api/tenants", { body: { plan: "no-such-plan" } });
  assert.equal(plan.response.status, 400);
  assert.equal(plan.error.code, "invalid_plan");

  const noUser = createCloudClient({ baseUrl, auth: { sharedSecret: env("CLAWFLEET_SHARED_SECRET"), userId: "x".repeat(200) } });
  const bad = await noUser.GET("/api/tenants/me");
  assert.equal(bad.error.code, "invalid_user");

  assert.throws(() => createCloudClient({ baseUrl, auth: { sharedSecret: "s" } }), TypeError);
});

test("a bearer token of the SSO acts for its user", async () => {
  const cloud = createCloudClient({ baseUrl, auth: { bearer: env("CLAWFLEET_SSO_TOKEN") } });
  const made = unwrap(await cloud.POST("/api/tenants", { body: { name: "SSO Claw" } }));
  const byAdmin = await createCloudClient({ baseUrl, auth: { adminToken: env("CLAWFLEET_ADMIN_TOKEN") } }).GET("/api/admin/tenants/{id}", { params: { path: { id: made.id } } });
  assert.equal(byAdmin.data.ownerId, env("CLAWFLEET_SSO_USER"));
  unwrap(await cloud.DELETE("/api/tenants/me"));

  const refused = await createCloudClient({ baseUrl, auth: { bearer: "not.a.token" } }).GET("/api/tenants/me");
  assert.equal(refused.response.status, 401);
  assert.equal(refused.error.code, "invalid_token");
});

test("the cloud serves the document the client was generated from", async () => {
  const doc = await createCloudClient({ baseUrl }).GET("/api/openapi.json");
  assert.equal(doc.response.status, 200);
  assert.ok(doc.data.openapi.startsWith("3."));
  assert.ok(doc.data.paths["/api/tenants/me"]);
});
