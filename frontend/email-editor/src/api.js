// Calls /api/v1 as the logged-in user: the session cookie plus Django's CSRF token.

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.detail) || `HTTP ${status}`);
    this.status = status;
    this.body = body || {};
  }
}

// The page's language goes along, so the server's errors come back in the page's words.
export function createApi(base, csrfToken, language) {
  async function request(method, path, body, { form = false } = {}) {
    const headers = { Accept: "application/json" };
    if (language) headers["Accept-Language"] = language;
    if (body !== undefined && !form) headers["Content-Type"] = "application/json";
    if (method !== "GET") headers["X-CSRFToken"] = csrfToken;
    const response = await fetch(base + path, {
      method,
      headers,
      credentials: "same-origin",
      body: body === undefined ? undefined : form ? body : JSON.stringify(body),
    });
    const text = await response.text();
    let data = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch {
      data = { detail: text.slice(0, 200) };
    }
    if (!response.ok) throw new ApiError(response.status, data);
    return data;
  }
  return {
    get: (path) => request("GET", path),
    post: (path, body) => request("POST", path, body === undefined ? {} : body),
    put: (path, body) => request("PUT", path, body),
    upload: (path, file) => {
      const form = new FormData();
      form.append("file", file, file.name);
      return request("POST", path, form, { form: true });
    },
  };
}

export function itemsOf(body) {
  if (Array.isArray(body)) return body;
  if (body && Array.isArray(body.items)) return body.items;
  return [];
}
