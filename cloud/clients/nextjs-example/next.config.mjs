import { fileURLToPath } from "node:url";

/** @type {import("next").NextConfig} */
const nextConfig = {
  // The client is a workspace package one level up (cloud/clients); in
  // your app, where it is an ordinary dependency, leave this out.
  turbopack: { root: fileURLToPath(new URL("..", import.meta.url)) },
};

export default nextConfig;
