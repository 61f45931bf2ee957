// A real OpenID provider for the tests: npm's oidc-provider, with its development login and consent pages, one
// confidential client (PKCE required) and the test people's claims. Settings come from the environment; prints
// "ready" when it listens.
import Provider from "oidc-provider";

const port = Number(process.env.OIDC_PORT);
const people = JSON.parse(process.env.OIDC_PEOPLE);
const provider = new Provider(`http://127.0.0.1:${port}`, {
  clients: [{
    client_id: process.env.OIDC_CLIENT_ID,
    client_secret: process.env.OIDC_CLIENT_SECRET,
    redirect_uris: [process.env.OIDC_REDIRECT_URI],
    post_logout_redirect_uris: [process.env.OIDC_POST_LOGOUT_URI],
    grant_types: ["authorization_code"],
    response_types: ["code"],
  }],
  pkce: { required: () => true },
  claims: { openid: ["sub"], email: ["email"], profile: ["name", "preferred_username", "groups"] },
  conformIdTokenClaims: false, // the profile's claims in the ID token itself
  features: { devInteractions: { enabled: true }, rpInitiatedLogout: { enabled: true } },
  ttl: { IdToken: Number(process.env.OIDC_ID_TOKEN_TTL || 3600) },
  cookies: { keys: ["govflow-tests-only"] },
  async findAccount(_ctx, id) {
    const claims = people[id];
    if (!claims) return undefined;
    return { accountId: id, async claims() { return { sub: id, ...claims }; } };
  },
});
provider.listen(port, "127.0.0.1", () => console.log("ready"));
