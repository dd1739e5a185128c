// The last lines of the user's gateway log (?tail=N, default 200).
import { cloudForUser, relay, signInFirst } from "@/lib/cloud";

export async function GET(request: Request) {
  const cloud = await cloudForUser();
  if (!cloud) return signInFirst();
  const tail = Number(new URL(request.url).searchParams.get("tail") ?? "200");
  return relay(await cloud.GET("/api/tenants/me/logs", { params: { query: { tail } } }));
}
