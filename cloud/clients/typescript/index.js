// The clawfleet cloud's client: openapi-fetch over the types that
// openapi-typescript generates from docs/api.yaml (schema.d.ts). Types are
// in index.d.ts; this file has no build step and runs in node and Next.js.
import createClient from "openapi-fetch";

/**
 * The headers that authenticate a call: a user of the web app (shared
 * secret + X-User-ID), a bearer token (an SSO JWT, or the Auth.js session
 * token the app forwards as it is), or the admin token.
 */
export function authHeaders(auth) {
  if (auth == null) return {};
  if (typeof auth.bearer === "string") return { Authorization: `Bearer ${auth.bearer}` };
  if (typeof auth.adminToken === "string") return { Authorization: `Bearer ${auth.adminToken}` };
  if (typeof auth.sharedSecret === "string") {
    if (!auth.userId) throw new TypeError("clawfleet: auth.userId is required with auth.sharedSecret (the signed-in user's id in the web app)");
    const h = { "X-Shared-Secret": auth.sharedSecret, "X-User-ID": auth.userId };
    if (auth.userEmail) h["X-User-Email"] = auth.userEmail;
    return h;
  }
  throw new TypeError("clawfleet: auth must be { sharedSecret, userId, userEmail? }, { bearer } or { adminToken }");
}

/** A client of the cloud at baseUrl, authenticated with auth. */
export function createCloudClient({ baseUrl, auth, headers, fetch } = {}) {
  if (!baseUrl) throw new TypeError("clawfleet: baseUrl is required (the cloud's URL, e.g. https://cloud.example.com)");
  return createClient({ baseUrl: baseUrl.replace(/\/+$/, ""), fetch, headers: { ...headers, ...authHeaders(auth) } });
}

/** An error answer of the cloud: its HTTP status, code and message. */
export class CloudError extends Error {
  constructor(status, body) {
    const typed = body != null && typeof body === "object" && typeof body.code === "string";
    super(typed ? body.error : `the cloud answered HTTP ${status}`);
    this.name = "CloudError";
    this.status = status;
    this.code = typed ? body.code : `http_${status}`;
    this.body = body;
  }
}

/** The data of a call's result, or a thrown CloudError for an error answer. */
export function unwrap(result) {
  if (result.error !== undefined || !result.response.ok) throw new CloudError(result.response.status, result.error);
  return result.data;
}
