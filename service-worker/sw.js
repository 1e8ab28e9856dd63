// Vellum's service worker. Served by the relay at /sw.js and registered by web/ui/app-update.js as
// /sw.js?v=<asset version>, so every build gets its own worker and its own cache.
//
// - install: read /vendor/asset-manifest.json, check it is the version in our URL, fetch every file it lists plus the
//   app shell, check each file's sha256 against the manifest, and store them all in the cache "vellum-<version>".
//   Everything is fetched and checked before anything is stored, so a failed install leaves no partial cache.
// - waiting: an update never takes over a running session by itself. The page shows "Update available"; its
//   "Reload" button posts {type: "skip-waiting"}, and the page reloads when this worker takes control.
// - activate: delete every other vellum cache, then take control of open pages (the first install has none to
//   disturb; an update only activates after that "Reload").
// - fetch: navigations get the cached app shell (the app boots in airplane mode); other same-origin GETs are answered
//   from the cache, falling back to the network; /api/ is never cached nor answered from a cache. The page's update
//   check (the asset manifest fetched with `cache: "no-cache"`) asks the network first.
// - {type: "csp-violations"} on a MessageChannel port: the CSP violations this worker saw (the tests require none).

const VERSION = new URL(self.location.href).searchParams.get("v") ?? "";
const CACHE_PREFIX = "vellum-";
const CACHE = `${CACHE_PREFIX}${VERSION}`;
const MANIFEST = "/vendor/asset-manifest.json";
const SHELL = "/";
const UPDATE_CHECK_TIMEOUT_MS = 4000;

const cspViolations = [];
self.addEventListener("securitypolicyviolation", (event) => {
  cspViolations.push({ directive: event.effectiveDirective, blocked: event.blockedURI, sample: event.sample });
});

function hex(buffer) {
  return Array.from(new Uint8Array(buffer), (b) => b.toString(16).padStart(2, "0")).join("");
}

function isApi(url) {
  return url.pathname === "/api" || url.pathname.startsWith("/api/");
}

async function fetchChecked(path, sha256) {
  const response = await fetch(path, { cache: "no-cache", credentials: "same-origin" });
  if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
  if (sha256) {
    const digest = hex(await crypto.subtle.digest("SHA-256", await response.clone().arrayBuffer()));
    if (digest !== sha256) throw new Error(`${path}: sha256 ${digest} is not the manifest's ${sha256}`);
  }
  return response;
}

async function precache() {
  if (!/^[0-9a-f]{16,64}$/.test(VERSION)) throw new Error("registered without an asset version");
  const manifestResponse = await fetchChecked(MANIFEST);
  const manifest = await manifestResponse.clone().json();
  if (manifest.version !== VERSION) throw new Error(`the server has ${manifest.version}, this worker is ${VERSION}`);
  const files = manifest.files.filter((file) => !isApi(new URL(file.path, self.location.origin)));
  const entries = [[SHELL, null], ...files.map((file) => [file.path, file.sha256])];
  const responses = await Promise.all(entries.map(([path, sha256]) => fetchChecked(path, sha256)));
  const cache = await caches.open(CACHE);
  await Promise.all(entries.map(([path], i) => cache.put(path, responses[i])));
  await cache.put(MANIFEST, manifestResponse);
}

self.addEventListener("install", (event) => {
  event.waitUntil(precache());
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    (async () => {
      for (const name of await caches.keys()) {
        if (name.startsWith(CACHE_PREFIX) && name !== CACHE) await caches.delete(name);
      }
      await self.clients.claim();
    })(),
  );
});

self.addEventListener("message", (event) => {
  const type = event.data?.type;
  if (type === "skip-waiting") {
    event.waitUntil(self.skipWaiting());
  } else if (type === "csp-violations") {
    event.ports[0]?.postMessage({ version: VERSION, violations: cspViolations.slice() });
  }
});

async function fromCache(request) {
  const cache = await caches.open(CACHE);
  return cache.match(request);
}

async function cacheFirst(request) {
  return (await fromCache(request)) ?? fetch(request);
}

async function shell(request) {
  return (await fromCache(SHELL)) ?? fetch(request);
}

async function networkFirst(request) {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), UPDATE_CHECK_TIMEOUT_MS);
  try {
    const response = await fetch(request, { signal: controller.signal });
    if (response.ok) return response;
  } catch {
    // offline: fall through to the cached copy
  } finally {
    clearTimeout(timer);
  }
  return (await fromCache(MANIFEST)) ?? Response.error();
}

self.addEventListener("fetch", (event) => {
  const { request } = event;
  const url = new URL(request.url);
  if (request.method !== "GET" || url.origin !== self.location.origin) return;
  if (isApi(url)) return; // never cached, never from a cache: the network or an error
  if (request.mode === "navigate") {
    event.respondWith(shell(request));
  } else if (url.pathname === MANIFEST && request.cache === "no-cache") {
    event.respondWith(networkFirst(request));
  } else {
    event.respondWith(cacheFirst(request));
  }
});
