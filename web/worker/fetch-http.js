// One HTTP exchange with the relay, for the crypto worker only (pycore/app/browser/'s FetchHttp calls this module through
// Pyodide as `vellum_fetch`; pycore.sync.relay_api.RelayApi signs the requests and reads the answers).
//
// No cookies, no cache, no redirects: every API call is a signed request whose answer must come from the relay itself.
// A request that gets no answer (offline, the relay down, a timeout) throws; Python turns that into NetworkError.

const TIMEOUT_MS = 30_000;

// -> {status, headers: JSON text of {lower-case name: value}, body: Uint8Array}
export async function request(method, url, headersJson, body) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new DOMException("the relay did not answer in time", "TimeoutError")), TIMEOUT_MS);
  try {
    const response = await fetch(url, {
      method,
      headers: JSON.parse(headersJson),
      body: body && body.length ? body : undefined,
      cache: "no-store",
      credentials: "omit",
      redirect: "error",
      referrerPolicy: "no-referrer",
      signal: controller.signal,
    });
    const bytes = new Uint8Array(await response.arrayBuffer());
    const headers = {};
    response.headers.forEach((value, name) => {
      headers[name.toLowerCase()] = value;
    });
    return { status: response.status, headers: JSON.stringify(headers), body: bytes };
  } finally {
    clearTimeout(timer);
  }
}
