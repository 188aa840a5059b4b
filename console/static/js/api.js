// The console's only way to the server: the public API, with the caller's bearer token.
// The token lives in sessionStorage (gone when the tab closes; never in a URL or cookie).
// Commands send If-Match and an Idempotency-Key; reads after a command pass the command's
// store position as min_position, so the page reads its own writes.

const TOKEN_KEY = "qualtrace.token";
let lastPosition = 0;

export const session = {
  get token() {
    return sessionStorage.getItem(TOKEN_KEY);
  },
  signIn(token) {
    sessionStorage.setItem(TOKEN_KEY, token);
  },
  signOut() {
    sessionStorage.removeItem(TOKEN_KEY);
    lastPosition = 0;
  },
};

/** A problem+json answer (RFC 9457): status, detail, and the fields it names. */
export class ApiError extends Error {
  constructor(status, problem) {
    super((problem && (problem.detail || problem.title)) || `HTTP ${status}`);
    this.status = status;
    this.problem = problem || {};
  }
  get fieldErrors() {
    return Array.isArray(this.problem.errors) ? this.problem.errors : [];
  }
}

function uuid4() {
  // crypto.randomUUID needs a secure context; getRandomValues does not.
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const x = [...b].map((v) => v.toString(16).padStart(2, "0")).join("");
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
}

function url(path, query) {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query || {})) {
    if (v !== undefined && v !== null && v !== "") params.set(k, String(v));
  }
  const qs = params.toString();
  return qs ? `${path}?${qs}` : path;
}

async function send(method, path, { body, query, ifMatch, accept } = {}) {
  const headers = { Accept: accept || "application/json" };
  const token = session.token;
  if (token) headers.Authorization = `Bearer ${token}`;
  if (method === "GET" && lastPosition > 0) query = { min_position: lastPosition, ...query };
  if (method === "POST") {
    headers["Content-Type"] = "application/json";
    headers["Idempotency-Key"] = uuid4();
    if (ifMatch !== undefined && ifMatch !== null) headers["If-Match"] = `"${ifMatch}"`;
  }
  const response = await fetch(url(path, query), {
    method,
    headers,
    body: method === "POST" ? JSON.stringify(body || {}) : undefined,
    credentials: "omit",
    cache: "no-store",
    referrerPolicy: "no-referrer",
  });
  if (!response.ok) {
    let problem = null;
    try {
      problem = await response.json();
    } catch {
      problem = { detail: response.statusText };
    }
    const error = new ApiError(response.status, problem);
    if (response.status === 401) window.dispatchEvent(new CustomEvent("qt:unauthorized"));
    throw error;
  }
  return response;
}

export async function get(path, query) {
  const response = await send("GET", path, { query });
  return response.json();
}

/** A GET that also answers the response's headers (ETag, Date, X-As-Of-Version…). */
export async function getWithHeaders(path, query) {
  const response = await send("GET", path, { query });
  return { body: await response.json(), headers: response.headers };
}

/** POST a command; remember its position for the reads that follow. */
export async function command(path, body, ifMatch) {
  const response = await send("POST", path, { body, ifMatch });
  const answer = await response.json();
  if (typeof answer.position === "number") lastPosition = Math.max(lastPosition, answer.position);
  return answer;
}

/** A file (an evidence photo's thumbnail) fetched with the bearer token, as a blob: URL
 * an <img> can show (an <img src> cannot send the token itself). */
export async function objectUrl(path) {
  const response = await send("GET", path, { accept: "*/*" });
  return URL.createObjectURL(await response.blob());
}

/** Fetch a file with the bearer token and hand it to the browser as a download.
 * `options`: `query` (the request's parameters), `accept`, and `filename` (the name to save
 * under, instead of the response's Content-Disposition or `fallbackName`). */
export async function download(path, fallbackName, options = {}) {
  const response = await send("GET", path, { query: options.query, accept: options.accept || "application/json" });
  const disposition = response.headers.get("Content-Disposition") || "";
  const match = /filename="([^"]+)"/.exec(disposition);
  const blob = await response.blob();
  const href = URL.createObjectURL(blob);
  const a = document.createElement("a");
  a.href = href;
  a.download = options.filename || (match ? match[1] : fallbackName);
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(href), 10000);
  return { name: a.download, bytes: blob.size, sha256: response.headers.get("X-Pack-Manifest-SHA256") };
}
