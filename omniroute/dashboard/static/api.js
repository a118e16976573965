// The management API as the dashboard calls it: JSON in, JSON out, errors as ApiError carrying
// the API's own message and the field it names. Every panel goes through here.

export class ApiError extends Error {
  constructor(status, error) {
    super(error?.message || `HTTP ${status}`);
    this.name = "ApiError";
    this.status = status;
    this.code = error?.code || null;
    this.param = error?.param || null;
    this.type = error?.type || null;
  }
}

export const LOGGED_OUT = "omniroute:logged-out";

async function parse(response) {
  const type = response.headers.get("Content-Type") || "";
  if (type.includes("json")) return response.json();
  return response.text();
}

/** Call the management API; `path` starts with /api/. Resolves to the parsed answer. */
export async function request(method, path, body, { signal, headers } = {}) {
  const init = { method, credentials: "same-origin", signal, headers: { ...(headers || {}) } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw new ApiError(0, { message: "the gateway cannot be reached: is it running?" });
  }
  const data = await parse(response);
  if (!response.ok) {
    const error = typeof data === "object" && data ? data.error : { message: String(data) };
    if (response.status === 401 && error?.code === "login_required") {
      window.dispatchEvent(new CustomEvent(LOGGED_OUT));
    }
    throw new ApiError(response.status, error);
  }
  return data;
}

export const api = {
  request,
  get: (path, options) => request("GET", path, undefined, options),
  post: (path, body = {}, options) => request("POST", path, body, options),
  put: (path, body = {}, options) => request("PUT", path, body, options),
  patch: (path, body = {}, options) => request("PATCH", path, body, options),
  del: (path, options) => request("DELETE", path, undefined, options),
};
