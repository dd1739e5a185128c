// A stand-in for Casdoor (a Go server, not on npm) built with the jose
// library: its certificate and RSA key (made by the test the way Casdoor
// makes them: a self-signed x509 certificate, a PKCS#1 key) are argv[2] and
// argv[3]. It serves the key set Casdoor serves at /.well-known/jwks (kid =
// the cert's name, alg, use "sig", x5c = the certificate) and signs tokens of
// the shape Casdoor issues in its default "JWT" token format: the user
// object's fields flattened into the claims, tokenType, azp, sub = the user's
// id, aud = [client id], jti = "admin/<name>", header kid = the cert's name.
// Prints one JSON line with the JWKS URL and the tokens, then serves until
// standard input closes.
import { X509Certificate, createPrivateKey, randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import http from "node:http";
import { SignJWT, exportJWK, generateKeyPair } from "jose";

const certPem = readFileSync(process.argv[2], "utf8");
const key = createPrivateKey(readFileSync(process.argv[3], "utf8"));
const cert = new X509Certificate(certPem);
const kid = "cert-built-in";
const clientId = "8d3a1c2b9e7f6a5d4c3b";

const jwks = { keys: [{ ...(await exportJWK(cert.publicKey)), kid, alg: "RS256", use: "sig", x5c: [cert.raw.toString("base64")] }] };
const server = http.createServer((req, res) => {
  if (req.url !== "/.well-known/jwks") {
    res.writeHead(404).end();
    return;
  }
  res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(jwks));
});
await new Promise((ok) => server.listen(0, "127.0.0.1", ok));
const origin = `http://127.0.0.1:${server.address().port}`;

const now = Math.floor(Date.now() / 1000);
const created = new Date((now - 86400) * 1000).toISOString();
const user = {
  owner: "built-in", name: "alice", createdTime: created, updatedTime: created, deletedTime: "",
  id: randomUUID(), externalId: "", type: "normal-user", displayName: "Alice", firstName: "", lastName: "",
  avatar: "https://example.test/avatar.png", avatarType: "", permanentAvatar: "",
  email: "alice@example.test", emailVerified: true, phone: "", countryCode: "CN", region: "", location: "",
  address: [], affiliation: "Example Org", title: "", idCardType: "", idCard: "", homepage: "", bio: "",
  language: "zh", gender: "", birthday: "", education: "", score: 2000, karma: 0, ranking: 3,
  isDefaultAvatar: false, isOnline: false, isAdmin: false, isForbidden: false, isDeleted: false,
  signupApplication: "app-built-in", hash: "", preHash: "", createdIp: "", lastSigninTime: "", lastSigninIp: "",
  ldap: "", properties: {}, roles: [], permissions: [], groups: [], lastSigninWrongTime: "", signinWrongTimes: 0,
};
const claims = (over = {}) => ({
  ...user, tokenType: "access-token", tag: "", scope: "openid profile email", azp: clientId,
  signinMethod: "Password", iss: origin, sub: user.id, aud: [clientId],
  exp: now + 168 * 3600, nbf: now, iat: now, jti: `admin/${randomUUID()}`, ...over,
});
// Casdoor (golang-jwt) writes typ JWT; the access token names the cert as kid,
// the refresh token does not.
const sign = (payload, signingKey = key, header = { kid }) =>
  new SignJWT(payload).setProtectedHeader({ alg: "RS256", typ: "JWT", ...header }).sign(signingKey);
const { privateKey: otherKey } = await generateKeyPair("RS256", { modulusLength: 2048 });

process.stdout.write(JSON.stringify({
  jwks: `${origin}/.well-known/jwks`,
  issuer: origin,
  audience: clientId,
  user: { id: user.id, email: user.email },
  tokens: {
    good: await sign(claims()),
    refresh: await sign(claims({ tokenType: "refresh-token", exp: now + 7 * 24 * 3600 }), key, {}),
    otherKey: await sign(claims(), otherKey),
    expired: await sign(claims({ iat: now - 7200, nbf: now - 7200, exp: now - 3600 })),
    otherAudience: await sign(claims({ aud: ["another-client-id"], azp: "another-client-id" })),
    otherIssuer: await sign(claims({ iss: "https://another-casdoor.test" })),
  },
}) + "\n");

process.stdin.resume();
process.stdin.on("end", () => process.exit(0));
