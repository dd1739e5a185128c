import { cloudForUser, relay, signInFirst } from "@/lib/cloud";

export async function POST() {
  const cloud = await cloudForUser();
  if (!cloud) return signInFirst();
  return relay(await cloud.POST("/api/tenants/me/restart"));
}
