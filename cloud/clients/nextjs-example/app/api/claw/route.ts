// The signed-in user's OpenClaw: GET reads it, POST creates it
// ({"name","plan"}, JSON or a form), DELETE deletes it.
import { cloudForUser, fromForm, relay, signInFirst } from "@/lib/cloud";

export async function GET() {
  const cloud = await cloudForUser();
  if (!cloud) return signInFirst();
  return relay(await cloud.GET("/api/tenants/me"));
}

export async function POST(request: Request) {
  const cloud = await cloudForUser();
  if (!cloud) return signInFirst();
  const form = fromForm(request);
  const input: Record<string, unknown> = form ? Object.fromEntries(await request.formData()) : await request.json().catch(() => ({}));
  const text = (v: unknown) => (typeof v === "string" && v !== "" ? v : undefined);
  const r = await cloud.POST("/api/tenants", { body: { name: text(input.name), plan: text(input.plan) } });
  // Relative: behind a proxy request.url need not be the address the browser used.
  if (form && r.response.ok) return new Response(null, { status: 303, headers: { Location: "/" } });
  return relay(r);
}

export async function DELETE() {
  const cloud = await cloudForUser();
  if (!cloud) return signInFirst();
  return relay(await cloud.DELETE("/api/tenants/me"));
}
