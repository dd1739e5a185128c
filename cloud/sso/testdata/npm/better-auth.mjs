// Two real Better-Auth servers on loopback (memory adapter, email and
// password sign-in, the jwt plugin with its defaults: EdDSA over Ed25519,
// keys at /api/auth/jwks). A user signs up over HTTP and asks for a token as
// a web app does; the refused cases are made by the plugin's own signJWT.
// Prints one JSON line with the JWKS URL and the tokens, then serves until
// standard input closes.
import http from "node:http";
import { betterAuth } from "better-auth";
import { memoryAdapter } from "better-auth/adapters/memory";
import { toNodeHandler } from "better-auth/node";
import { jwt } from "better-auth/plugins";

async function start(name, jwtOptions) {
  const server = http.createServer();
  await new Promise((ok) => server.listen(0, "127.0.0.1", ok));
  const base = `http://127.0.0.1:${server.address().port}`;
  const auth = betterAuth({
    baseURL: base,
    secret: `interop-test-secret-${name}-0123456789abcdef`,
    database: memoryAdapter({ user: [], session: [], account: [], verification: [], jwks: [] }),
    emailAndPassword: { enabled: true },
    plugins: [jwt(jwtOptions)],
    logger: { level: "error" },
  });
  server.on("request", toNodeHandler(auth));
  return { base, auth, server };
}

// signUp signs a user up and fetches the JWT the way a browser or a web app
// does: the session cookie from /sign-up/email, then GET /token.
async function signUp(base, name, email) {
  const r = await fetch(`${base}/api/auth/sign-up/email`, {
    method: "POST",
    headers: { "content-type": "application/json", origin: base },
    body: JSON.stringify({ email, password: "correct horse battery staple", name }),
  });
  if (!r.ok) throw new Error(`sign-up: ${r.status} ${await r.text()}`);
  const { user } = await r.json();
  const cookie = r.headers.getSetCookie().map((c) => c.split(";")[0]).join("; ");
  const t = await fetch(`${base}/api/auth/token`, { headers: { cookie } });
  if (!t.ok) throw new Error(`token: ${t.status} ${await t.text()}`);
  return { user, token: (await t.json()).token };
}

const main = await start("main");
// Same issuer and audience as main, its own keys.
const other = await start("other", { jwt: { issuer: main.base, audience: main.base } });
const alice = await signUp(main.base, "Alice", "alice@example.test");
const mallory = await signUp(other.base, "Mallory", "mallory@example.test");

const now = Math.floor(Date.now() / 1000);
const sign = async (payload, overrideOptions) =>
  (await main.auth.api.signJWT({ body: { payload, overrideOptions } })).token;
const claims = { sub: alice.user.id, email: alice.user.email };

process.stdout.write(JSON.stringify({
  jwks: `${main.base}/api/auth/jwks`,
  issuer: main.base,
  audience: main.base,
  user: { id: alice.user.id, email: alice.user.email },
  tokens: {
    good: alice.token,
    otherKey: mallory.token,
    expired: await sign({ ...claims, iat: now - 7200, exp: now - 3600 }),
    otherAudience: await sign(claims, { jwt: { audience: "https://another-app.test" } }),
    otherIssuer: await sign(claims, { jwt: { issuer: "https://another-issuer.test" } }),
  },
}) + "\n");

process.stdin.resume();
process.stdin.on("end", () => process.exit(0));
