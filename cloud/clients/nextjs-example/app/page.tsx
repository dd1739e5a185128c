// The user's OpenClaw, rendered on the server with the same client the
// route handlers use; the forms post to them.
import { cloudForUser } from "@/lib/cloud";

export const dynamic = "force-dynamic";

export default async function Home() {
  const cloud = await cloudForUser();
  if (!cloud) {
    return (
      <main>
        <h1>My OpenClaw</h1>
        <p>Sign in to the app first.</p>
      </main>
    );
  }
  const { data: claw, error } = await cloud.GET("/api/tenants/me");
  if (error?.code === "no_tenant") {
    return (
      <main>
        <h1>My OpenClaw</h1>
        <form method="post" action="/api/claw">
          <label>
            Name <input name="name" required maxLength={64} />
          </label>{" "}
          <button type="submit">Create</button>
        </form>
      </main>
    );
  }
  if (!claw) {
    return (
      <main>
        <h1>My OpenClaw</h1>
        <p role="alert">The cloud answered: {error?.error ?? "no answer"}</p>
      </main>
    );
  }
  return (
    <main>
      <h1>My OpenClaw</h1>
      <dl>
        <dt>Name</dt>
        <dd>{claw.name}</dd>
        <dt>Status</dt>
        <dd data-status={claw.status}>{claw.status}</dd>
        <dt>Address</dt>
        <dd>{claw.url}</dd>
        {claw.lastError ? (
          <>
            <dt>Last error</dt>
            <dd>{claw.lastError}</dd>
          </>
        ) : null}
      </dl>
      <form method="post" action="/api/claw/open" target="_blank">
        <button type="submit" disabled={claw.status !== "running"}>
          Open
        </button>
      </form>
    </main>
  );
}
