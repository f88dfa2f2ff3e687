import { createRoot } from "react-dom/client";
import "@xyflow/react/dist/style.css";
import "./builder.css";
import { createApi } from "./api.js";
import { Builder } from "./Builder.jsx";
import { setLanguage } from "./i18n.js";

const host = document.getElementById("builder-root");
if (host) {
  const d = host.dataset;
  setLanguage(d.lang || "de");
  const api = createApi(d.apiBase || "/api/v1", d.csrf || "", d.lang || "de");
  createRoot(host).render(
    <Builder
      api={api}
      campaignId={d.campaignId}
      readOnly={d.readOnly === "true"}
      contactsUrl={d.contactsUrl}
    />,
  );
}
