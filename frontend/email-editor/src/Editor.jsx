// The visual email editor: email details, the block list, the look, and a live preview and
// test send rendered by the server (the same renderer that sends the email).
import { useCallback, useEffect, useMemo, useState } from "react";
import { itemsOf } from "./api.js";
import {
  BLOCK_TYPES,
  addBlock,
  changeBlock,
  moveBlock,
  removeBlock,
  setColumnCount,
  starterDesign,
  withIds,
  withoutIds,
} from "./blocks.js";
import { BlockFields, Color, NumberInput, PlaceholderInput, Select } from "./Fields.jsx";
import { t } from "./i18n.js";
import { placeholderGroups } from "./placeholders.js";

function AddBar({ onAdd, nested, readOnly }) {
  if (readOnly) return null;
  return (
    <div className="ee-add" role="group" aria-label={nested ? t("Add to column") : t("Add a block")}>
      <span className="ee-add-label">{nested ? t("Add to column") : t("Add a block")}:</span>
      {BLOCK_TYPES.filter((type) => !(nested && type === "columns")).map((type) => (
        <button key={type} type="button" className="ee-add-button" data-type={type} onClick={() => onAdd(type)}>
          + {t(type)}
        </button>
      ))}
    </div>
  );
}

function BlockList({ blocks, path, update, ctx }) {
  const nested = path.length > 0;
  return (
    <div className={nested ? "ee-list ee-nested" : "ee-list"}>
      {blocks.length === 0 && nested && <p className="ee-muted">{t("Empty column")}</p>}
      {blocks.map((block, index) => (
        <section key={block._id} className="ee-block" data-block-type={block.type} aria-label={t(block.type)}>
          <header className="ee-block-head">
            <strong>{t(block.type)}</strong>
            {!ctx.readOnly && (
              <span className="ee-block-actions">
                <button type="button" aria-label={t("Move up")} title={t("Move up")} disabled={index === 0}
                  onClick={() => update((b) => moveBlock(b, path, index, -1))}>↑</button>
                <button type="button" aria-label={t("Move down")} title={t("Move down")}
                  disabled={index === blocks.length - 1}
                  onClick={() => update((b) => moveBlock(b, path, index, 1))}>↓</button>
                <button type="button" className="ee-danger" aria-label={t("Delete block")} title={t("Delete block")}
                  onClick={() => update((b) => removeBlock(b, path, index))}>✕</button>
              </span>
            )}
          </header>
          <div className="ee-block-body">
            {block.type === "columns" ? (
              <>
                {!ctx.readOnly && (
                  <Select label={t("Number of columns")} value={String(block.columns.length)}
                    options={[["2", "2"], ["3", "3"]]}
                    onChange={(v) =>
                      update((b) => changeBlock(b, path, index, setColumnCount(block, Number(v))))} />
                )}
                <div className="ee-columns">
                  {block.columns.map((column, c) => (
                    <div key={c} className="ee-column">
                      <div className="ee-column-title">{t("Column")} {c + 1}</div>
                      <BlockList blocks={column} path={[index, c]} update={update} ctx={ctx} />
                      <AddBar nested readOnly={ctx.readOnly} onAdd={(type) => update((b) => addBlock(b, [index, c], type))} />
                    </div>
                  ))}
                </div>
              </>
            ) : (
              <BlockFields block={block} readOnly={ctx.readOnly} groups={ctx.groups} kind={ctx.kind}
                media={ctx.media} width={nested ? Math.floor(ctx.width / 2) : ctx.width}
                set={(changes) => update((b) => changeBlock(b, path, index, changes))} />
            )}
          </div>
        </section>
      ))}
    </div>
  );
}

function Problems({ error }) {
  if (!error) return null;
  const errors = (error.body && error.body.errors) || [];
  return (
    <div className="ee-alert ee-alert-error" role="alert" data-testid="save-error">
      <strong>{t("The email could not be saved:")}</strong> {error.message}
      {errors.length > 1 && (
        <ul>
          {errors.map((e, i) => (
            <li key={i}>{e.message || e.msg}</li>
          ))}
        </ul>
      )}
    </div>
  );
}

function useMedia(api, readOnly) {
  const [images, setImages] = useState([]);
  const refresh = useCallback(() => {
    api.get("/images").then((list) => setImages(itemsOf(list))).catch(() => {});
  }, [api]);
  useEffect(() => {
    if (!readOnly) refresh();
  }, [refresh, readOnly]);
  const upload = useCallback(
    async (file) => {
      const image = await api.upload("/images", file);
      setImages((list) => [image, ...list.filter((i) => i.id !== image.id)]);
      return image;
    },
    [api],
  );
  return { images, refresh, upload };
}

function Preview({ api, email, emailId, readOnly, contacts, me, ensureSaved }) {
  const [contactId, setContactId] = useState("");
  const [result, setResult] = useState(null);
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);
  const [to, setTo] = useState(me);
  const [sent, setSent] = useState("");
  const [sendError, setSendError] = useState("");
  const chosen = contactId || (contacts[0] ? String(contacts[0].id) : "");

  async function show() {
    if (!chosen) return;
    setBusy(true);
    setError("");
    try {
      const body = readOnly
        ? await api.post(`/emails/${emailId}/preview`, { contact_id: Number(chosen) })
        : await api.post("/emails/preview", { ...email, contact_id: Number(chosen) });
      setResult(body);
    } catch (e) {
      setResult(null);
      setError(e.message || t("Request failed"));
    } finally {
      setBusy(false);
    }
  }

  async function sendTest() {
    setSent("");
    setSendError("");
    setBusy(true);
    try {
      const id = await ensureSaved();
      if (!id) return;
      const body = { contact_id: Number(chosen) };
      if (to.trim()) body.to = to.trim();
      const answer = await api.post(`/emails/${id}/test`, body);
      setSent(answer.to);
    } catch (e) {
      setSendError(e.message || t("Request failed"));
    } finally {
      setBusy(false);
    }
  }

  return (
    <aside className="ee-preview" aria-label={t("Preview")}>
      <div className="ee-panel">
        <div className="ee-field">
          <label htmlFor="ee-preview-contact">{t("Preview for")}</label>
          <select id="ee-preview-contact" value={chosen} onChange={(e) => setContactId(e.target.value)}>
            {contacts.map((c) => (
              <option key={c.id} value={c.id}>
                {[c.first_name, c.last_name].filter(Boolean).join(" ") || c.email} ({c.email})
              </option>
            ))}
          </select>
        </div>
        {contacts.length === 0 ? (
          <p className="ee-muted">{t("Create a contact to see the preview with real data.")}</p>
        ) : (
          <button type="button" className="ee-secondary" onClick={show} disabled={busy} data-testid="show-preview">
            {t("Show preview")}
          </button>
        )}
      </div>
      {error && (
        <div className="ee-alert ee-alert-error" role="alert">
          {t("The preview could not be shown:")} {error}
        </div>
      )}
      {result && (
        <div className="ee-panel" data-testid="preview-result">
          <p>
            <strong>{t("Subject")}:</strong> <span data-testid="preview-subject">{result.subject}</span>
          </p>
          {result.sample_appointment && (
            <p className="ee-muted">{t("This contact has no appointment yet: a sample appointment stands in.")}</p>
          )}
          <iframe className="ee-frame" sandbox="" title={t("Preview")} srcDoc={result.body_html} data-testid="preview-frame" />
          <details>
            <summary>{t("Text version")}</summary>
            <pre className="ee-text" data-testid="preview-text">{result.body_text}</pre>
          </details>
        </div>
      )}
      {!readOnly && contacts.length > 0 && (
        <div className="ee-panel">
          <h3>{t("Send a test")}</h3>
          <p className="ee-muted">
            {t("The test uses this contact's data and latest appointment; it goes out once, now, and is not counted anywhere.")}
          </p>
          <div className="ee-field">
            <label htmlFor="ee-test-to">{t("To")}</label>
            <input id="ee-test-to" type="email" value={to} onChange={(e) => setTo(e.target.value)} />
          </div>
          <button type="button" className="ee-secondary" onClick={sendTest} disabled={busy} data-testid="send-test">
            {busy ? t("Sending…") : t("Send test")}
          </button>
          {sent && (
            <p className="ee-ok" role="status" data-testid="test-sent">
              {t("Test sent to")} {sent}
            </p>
          )}
          {sendError && (
            <p className="ee-error" role="alert">
              {t("The test could not be sent:")} {sendError}
            </p>
          )}
        </div>
      )}
    </aside>
  );
}

export function Editor({ api, emailId: initialId, readOnly, me, editUrl, defaultKind }) {
  const [emailId, setEmailId] = useState(initialId);
  const [loading, setLoading] = useState(!!initialId);
  const [loadError, setLoadError] = useState("");
  const [name, setName] = useState("");
  const [subject, setSubject] = useState(`${t("Your appointment")} – {{ workspace.name }}`);
  const [kind, setKind] = useState(defaultKind);
  const [attachIcs, setAttachIcs] = useState(true);
  const [design, setDesign] = useState(() => starterDesign(t));
  const [dirty, setDirty] = useState(!initialId);
  const [saving, setSaving] = useState(false);
  const [saveError, setSaveError] = useState(null);
  const [savedNote, setSavedNote] = useState("");
  const [fields, setFields] = useState([]);
  const [contacts, setContacts] = useState([]);
  const media = useMedia(api, readOnly);

  useEffect(() => {
    api.get("/fields").then((list) => setFields(itemsOf(list))).catch(() => {});
    api.get("/contacts?limit=50").then((page) => setContacts(itemsOf(page))).catch(() => {});
    if (!initialId) return;
    api
      .get(`/emails/${initialId}`)
      .then((email) => {
        setName(email.name);
        setSubject(email.subject);
        setKind(email.kind);
        setAttachIcs(email.attach_ics);
        setDesign(withIds(email.design));
        setDirty(false);
      })
      .catch((e) => setLoadError(e.message || t("Could not load the email.")))
      .finally(() => setLoading(false));
  }, [api, initialId]);

  useEffect(() => {
    function warn(event) {
      if (dirty && !readOnly) {
        event.preventDefault();
        event.returnValue = t("Leave without saving?");
      }
    }
    window.addEventListener("beforeunload", warn);
    return () => window.removeEventListener("beforeunload", warn);
  }, [dirty, readOnly]);

  const groups = useMemo(() => placeholderGroups(t, { fields, kind }), [fields, kind]);
  const touch = () => {
    setDirty(true);
    setSavedNote("");
  };
  const update = (change) => {
    setDesign((d) => ({ ...d, blocks: change(d.blocks) }));
    touch();
  };
  const setting = (key) => (value) => {
    setDesign((d) => ({ ...d, settings: { ...d.settings, [key]: value } }));
    touch();
  };
  const email = {
    subject,
    kind,
    attach_ics: attachIcs,
    design: withoutIds(design),
  };

  async function save() {
    setSaving(true);
    setSaveError(null);
    try {
      const body = { ...email, name };
      const saved = emailId ? await api.put(`/emails/${emailId}`, body) : await api.post("/emails", body);
      if (!emailId) {
        setEmailId(saved.id);
        window.history.replaceState(null, "", editUrl.replace("/0/", `/${saved.id}/`));
      }
      setDesign(withIds(saved.design));
      setDirty(false);
      setSavedNote(t("Saved."));
      return saved.id;
    } catch (e) {
      setSaveError(e);
      return null;
    } finally {
      setSaving(false);
    }
  }

  const ensureSaved = async () => (dirty || !emailId ? save() : emailId);

  if (loading) return <p className="ee-muted">{t("Loading…")}</p>;
  if (loadError) return <div className="ee-alert ee-alert-error">{loadError}</div>;
  const ctx = { readOnly, groups, kind, media, width: design.settings.width };
  return (
    <div className="ee">
      <div className="ee-main">
        {readOnly && <div className="ee-alert">{t("You can look at this email but not change it.")}</div>}
        <div className="ee-panel">
          <div className="ee-row ee-wrap">
            <div className="ee-field ee-grow">
              <label htmlFor="ee-name">{t("Email name")}</label>
              <input id="ee-name" type="text" value={name} disabled={readOnly} maxLength={200}
                onChange={(e) => { setName(e.target.value); touch(); }} />
            </div>
            <Select label={t("Kind")} value={kind} readOnly={readOnly}
              options={[["marketing", t("Marketing email")], ["doi", t("Double opt-in request")]]}
              onChange={(v) => { setKind(v); touch(); }} />
          </div>
          <PlaceholderInput label={t("Subject")} value={subject} groups={groups} readOnly={readOnly}
            testId="subject" onChange={(v) => { setSubject(v); touch(); }} />
          <div className="ee-field ee-check">
            <input id="ee-ics" type="checkbox" checked={attachIcs} disabled={readOnly}
              onChange={(e) => { setAttachIcs(e.target.checked); touch(); }} />
            <label htmlFor="ee-ics">{t("Attach the appointment as a calendar file (.ics)")}</label>
          </div>
          {!readOnly && (
            <div className="ee-row">
              <button type="button" className="ee-primary" onClick={save} disabled={saving} data-testid="save">
                {saving ? t("Saving…") : t("Save")}
              </button>
              <span className="ee-muted" role="status" data-testid="save-status">
                {dirty ? t("Unsaved changes") : savedNote}
              </span>
            </div>
          )}
          <Problems error={saveError} />
        </div>
        <h2 className="ee-heading">{t("Blocks")}</h2>
        <BlockList blocks={design.blocks} path={[]} update={update} ctx={ctx} />
        <AddBar readOnly={readOnly} onAdd={(type) => update((b) => addBlock(b, [], type))} />
        <details className="ee-panel">
          <summary>{t("Email settings")}</summary>
          <div className="ee-row ee-wrap">
            <NumberInput label={t("Content width (pixels)")} value={design.settings.width} min={480} max={800}
              readOnly={readOnly} onChange={setting("width")} />
            <Select label={t("Font")} value={design.settings.font} readOnly={readOnly}
              options={[["sans", t("Sans-serif")], ["serif", t("Serif")]]} onChange={setting("font")} />
            <Color label={t("Background")} value={design.settings.background} readOnly={readOnly}
              onChange={setting("background")} />
            <Color label={t("Content background")} value={design.settings.content_background}
              readOnly={readOnly} onChange={setting("content_background")} />
            <Color label={t("Text colour")} value={design.settings.text_color} readOnly={readOnly}
              onChange={setting("text_color")} />
            <Color label={t("Link colour")} value={design.settings.link_color} readOnly={readOnly}
              onChange={setting("link_color")} />
          </div>
        </details>
      </div>
      <Preview api={api} email={email} emailId={emailId} readOnly={readOnly} contacts={contacts} me={me}
        ensureSaved={ensureSaved} />
    </div>
  );
}
