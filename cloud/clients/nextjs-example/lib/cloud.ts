// The cloud, called server to server on behalf of the signed-in user, in
// one of two ways (CLAWFLEET_AUTH):
//
//   session        (default) forward the user's Auth.js session token as it
//                  is: Authorization: Bearer <value of the session cookie>.
//                  The cloud decrypts it with the app's AUTH_SECRET
//                  (CLAWFLEET_SSO_AUTHJS_SECRET) and takes the user from it.
//   shared-secret  the cloud's CLAWFLEET_SHARED_SECRET with the user the app
//                  signed in (lib/session.ts) as X-User-ID.
//
// Either way the credential stays on the server: browsers talk to this
// app's route handlers only.
import { cookies } from "next/headers";
import { createCloudClient, type CloudClient } from "@clawfleet/client";
import { currentUser } from "./session";

function setting(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set (see cloud/clients/nextjs-example/README.md)`);
  return v;
}

// Auth.js's session cookie: its name over http and over https, unless the
// app names it (cookies.sessionToken.name); one over 4 KB is split into
// <name>.0, <name>.1, …
async function sessionToken(): Promise<string | null> {
  const jar = await cookies();
  const custom = process.env.CLAWFLEET_SESSION_COOKIE;
  for (const name of custom ? [custom] : ["__Secure-authjs.session-token", "authjs.session-token"]) {
    const whole = jar.get(name)?.value;
    if (whole) return whole;
    let joined = "";
    for (let i = 0; jar.has(`${name}.${i}`); i++) joined += jar.get(`${name}.${i}`)?.value ?? "";
    if (joined) return joined;
  }
  return null;
}

/** A client acting for the signed-in user, or null when nobody is. */
export async function cloudForUser(): Promise<CloudClient | null> {
  const baseUrl = setting("CLAWFLEET_URL");
  if (process.env.CLAWFLEET_AUTH === "shared-secret") {
    const user = await currentUser();
    if (!user) return null;
    return createCloudClient({ baseUrl, auth: { sharedSecret: setting("CLAWFLEET_SHARED_SECRET"), userId: user.id, userEmail: user.email } });
  }
  const token = await sessionToken();
  return token ? createCloudClient({ baseUrl, auth: { bearer: token } }) : null;
}

/** The cloud's answer, passed on: its status, and its JSON (data or error). */
export function relay(r: { data?: unknown; error?: unknown; response: Response }): Response {
  const headers = new Headers();
  const retry = r.response.headers.get("Retry-After");
  if (retry) headers.set("Retry-After", retry);
  return Response.json(r.error ?? r.data ?? null, { status: r.response.status, headers });
}

export function signInFirst(): Response {
  return Response.json({ error: "sign in first", code: "unauthorized" }, { status: 401 });
}

/** Whether a request is a plain HTML form's (answered with a redirect). */
export function fromForm(request: Request): boolean {
  const type = request.headers.get("Content-Type") ?? "";
  return type.startsWith("application/x-www-form-urlencoded") || type.startsWith("multipart/form-data");
}
