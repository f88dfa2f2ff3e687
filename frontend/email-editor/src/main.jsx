import { createRoot } from "react-dom/client";
import "./editor.css";
import { createApi } from "./api.js";
import { Editor } from "./Editor.jsx";
import { setLanguage } from "./i18n.js";

const host = document.getElementById("email-editor-root");
if (host) {
  const d = host.dataset;
  setLanguage(d.lang || "de");
  const api = createApi(d.apiBase || "/api/v1", d.csrf || "", d.lang || "de");
  createRoot(host).render(
    <Editor
      api={api}
      emailId={d.emailId ? Number(d.emailId) : null}
      readOnly={d.readOnly === "true"}
      me={d.me || ""}
      editUrl={d.editUrl || "/emails/0/"}
      defaultKind={d.kind || "marketing"}
    />,
  );
}
