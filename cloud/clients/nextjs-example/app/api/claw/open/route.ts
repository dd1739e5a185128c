// A one-time link into the user's OpenClaw (Control UI, signed in): a form
// is redirected there, a script gets {"url","expiresAt"}. Make a fresh one
// for every click: it works once, for a minute.
import { cloudForUser, fromForm, relay, signInFirst } from "@/lib/cloud";

export async function POST(request: Request) {
  const cloud = await cloudForUser();
  if (!cloud) return signInFirst();
  const r = await cloud.POST("/api/tenants/me/access", { body: { path: "/" } });
  if (fromForm(request) && r.data) return Response.redirect(r.data.url, 303);
  return relay(r);
}
