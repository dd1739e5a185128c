// Who is signed in to the app, for the shared-secret mode (lib/cloud.ts).
//
// This is the one stand-in of the example: replace currentUser with your
// app's own session, e.g. with Auth.js
//
//   const session = await auth();
//   return session?.user?.id ? { id: session.user.id, email: session.user.email ?? undefined } : null;
//
// Here, so that the example runs without an identity provider, the "session"
// is a cookie the app signs itself (HMAC-SHA256 with DEMO_SESSION_SECRET),
// set by POST /api/demo-session; without that secret nobody is signed in.
import { createHmac, timingSafeEqual } from "node:crypto";
import { cookies } from "next/headers";

export type User = { id: string; email?: string };

export const DEMO_COOKIE = "demo_user";

function sign(payload: string, secret: string): string {
  return createHmac("sha256", secret).update(payload).digest("base64url");
}

export function demoSession(user: User, secret: string): string {
  const payload = Buffer.from(JSON.stringify(user)).toString("base64url");
  return `${payload}.${sign(payload, secret)}`;
}

export async function currentUser(): Promise<User | null> {
  const secret = process.env.DEMO_SESSION_SECRET;
  const value = (await cookies()).get(DEMO_COOKIE)?.value;
  if (!secret || !value) return null;
  const [payload, mac] = value.split(".");
  const want = Buffer.from(sign(payload ?? "", secret));
  const got = Buffer.from(mac ?? "");
  if (got.length !== want.length || !timingSafeEqual(got, want)) return null;
  const user = JSON.parse(Buffer.from(payload, "base64url").toString()) as User;
  return typeof user.id === "string" && user.id ? user : null;
}
