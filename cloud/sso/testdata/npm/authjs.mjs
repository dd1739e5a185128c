// Session tokens as Auth.js writes them into its session cookie, made by the
// libraries' own encode: @auth/core's (Auth.js v5, what next-auth v5 uses:
// JWE dir + A256CBC-HS512, the key derived from the secret with the cookie
// name as salt) and next-auth v4's (dir + A256GCM, no salt). The secrets are
// AUTH_SECRET and OTHER_SECRET in the environment; the payload is what
// Auth.js's default jwt callback puts there. Prints one JSON line.
import { encode as encodeV5 } from "@auth/core/jwt";
import { encode as encodeV4 } from "next-auth/jwt";

const secret = process.env.AUTH_SECRET;
const other = process.env.OTHER_SECRET;
const token = { name: "Alice", email: "alice@example.test", picture: "https://example.test/alice.png", sub: "user-alice" };
const cookie = "authjs.session-token";
const v5 = (over = {}) => encodeV5({ token, secret, salt: cookie, ...over });
const v4 = (over = {}) => encodeV4({ token, secret, ...over });

process.stdout.write(JSON.stringify({
  user: { id: token.sub, email: token.email },
  v5: {
    good: await v5(),
    secureCookie: await v5({ salt: `__Secure-${cookie}` }),
    customCookie: await v5({ salt: "clawfleet-app.session" }),
    expired: await v5({ maxAge: -3600 }),
    otherSecret: await v5({ secret: other }),
    noSub: await v5({ token: { name: "Alice", email: "alice@example.test" } }),
  },
  v4: {
    good: await v4(),
    expired: await v4({ maxAge: -3600 }),
    otherSecret: await v4({ secret: other }),
  },
}) + "\n");
