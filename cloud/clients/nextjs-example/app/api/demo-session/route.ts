// The example's stand-in sign-in (lib/session.ts): POST {"id","email"} signs
// that user in, DELETE signs out. Only with DEMO_SESSION_SECRET set; your app
// has its own sign-in instead.
import { cookies } from "next/headers";
import { DEMO_COOKIE, demoSession } from "@/lib/session";

export async function POST(request: Request) {
  const secret = process.env.DEMO_SESSION_SECRET;
  if (!secret) return Response.json({ error: "the demo sign-in is off", code: "not_found" }, { status: 404 });
  const { id, email } = await request.json().catch(() => ({}));
  if (typeof id !== "string" || id === "") return Response.json({ error: "id is required", code: "invalid_request" }, { status: 400 });
  (await cookies()).set(DEMO_COOKIE, demoSession({ id, email: typeof email === "string" ? email : undefined }, secret), {
    httpOnly: true,
    sameSite: "lax",
    path: "/",
  });
  return new Response(null, { status: 204 });
}

export async function DELETE() {
  (await cookies()).delete(DEMO_COOKIE);
  return new Response(null, { status: 204 });
}
