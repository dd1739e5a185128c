// Prints an Auth.js v5 session token, made by @auth/core's own encode as
// Auth.js writes it into its session cookie, for USER_ID (and USER_EMAIL)
// under AUTH_SECRET, salted with the cookie's name (COOKIE, default
// authjs.session-token).
import { encode } from "@auth/core/jwt";

const env = process.env;
const token = { sub: env.USER_ID, email: env.USER_EMAIL, name: "Test user" };
process.stdout.write((await encode({ token, secret: env.AUTH_SECRET, salt: env.COOKIE ?? "authjs.session-token" })) + "\n");
