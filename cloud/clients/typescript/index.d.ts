import type { Client } from "openapi-fetch";
import type { components, paths } from "./schema.js";

export type { components, operations, paths } from "./schema.js";

/** A tenant (one OpenClaw instance) as its owner sees it. */
export type Tenant = components["schemas"]["Tenant"];
/** The cloud's error body: `error` for people, `code` for programs. */
export type ErrorBody = components["schemas"]["Error"];
/** Every error code the cloud answers. */
export type ErrorCode = ErrorBody["code"];

/** How a call authenticates. */
export type Auth =
  /** The web app acting for one of its users (server to server only: the secret can act for anyone). */
  | { sharedSecret: string; userId: string; userEmail?: string }
  /** An SSO JWT, or the user's Auth.js session token forwarded as it is. */
  | { bearer: string }
  /** The admin token (operators and automation). */
  | { adminToken: string };

export interface CloudOptions {
  /** The cloud's URL, e.g. https://cloud.example.com. */
  baseUrl: string;
  auth?: Auth;
  /** More headers for every call. */
  headers?: Record<string, string>;
  /** Replaces globalThis.fetch. */
  fetch?: (input: Request) => Promise<Response>;
}

/** The cloud answers JSON (the followed log, text/event-stream, is read with parseAs: "stream"). */
export type CloudClient = Client<paths, "application/json">;

export function authHeaders(auth?: Auth): Record<string, string>;
export function createCloudClient(options: CloudOptions): CloudClient;

export class CloudError extends Error {
  constructor(status: number, body: unknown);
  readonly status: number;
  /** The cloud's code; `http_<status>` for an answer that is no error body. */
  readonly code: ErrorCode | `http_${number}`;
  readonly body: unknown;
}

/** The data of a call's result; throws CloudError for an error answer. */
export function unwrap<R extends { data?: unknown; error?: unknown; response: Response }>(result: R): NonNullable<R["data"]>;
