import { useEffect, useMemo, useState } from "react";
import { itemsOf } from "./api.js";
import { t } from "./i18n.js";
import { cleanConfig, coerce, describeFields } from "./schemaForm.js";

const DATE_TYPES = new Set(["date", "datetime"]);

function Modal({ title, children, onClose, footer }) {
  useEffect(() => {
    const onKey = (event) => event.key === "Escape" && onClose();
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [onClose]);
  return (
    <div className="tf-modal-backdrop" onMouseDown={(e) => e.target === e.currentTarget && onClose()}>
      <div className="tf-modal" role="dialog" aria-modal="true" aria-label={title}>
        <div className="tf-modal-head">
          <h2>{title}</h2>
          <button type="button" className="tf-icon" onClick={onClose} aria-label={t("Close")}>×</button>
        </div>
        <div className="tf-modal-body">{children}</div>
        <div className="tf-modal-foot">{footer}</div>
      </div>
    </div>
  );
}

function optionsFor(field, lookups) {
  switch (field.input) {
    case "emails":
      return lookups.emailList.map((e) => [String(e.id), `${e.name}${e.kind ? ` (${e.kind})` : ""}`]);
    case "campaigns":
      return lookups.campaignList.map((c) => [String(c.id), c.name]);
    case "fields":
      return lookups.fieldList.map((f) => [f.key, `${f.label} (${f.key})`]);
    case "accounts":
      return lookups.accountList.map((a) => [String(a.id), a.name]);
    default:
      return (field.enum || []).map((v) => [String(v), t(String(v))]);
  }
}

function GenericForm({ schema, config, setConfig, lookups, readOnly }) {
  const fields = useMemo(() => describeFields(schema), [schema]);
  if (!fields.length) return <p className="tf-muted">—</p>;
  return fields.map((field) => {
    const id = `tf-cfg-${field.name}`;
    const value = config[field.name];
    const update = (raw) => setConfig({ ...config, [field.name]: coerce(field, raw) });
    let input;
    if (field.input === "checkbox") {
      return (
        <div className="tf-field" key={field.name}>
          <label className="tf-check">
            <input id={id} name={field.name} type="checkbox" checked={Boolean(value)} disabled={readOnly} onChange={(e) => update(e.target.checked)} />
            <span>{t(field.label)}</span>
          </label>
          {field.description && <p className="tf-help">{t(field.description)}</p>}
        </div>
      );
    }
    if (["emails", "campaigns", "fields", "accounts", "select"].includes(field.input)) {
      input = (
        <select id={id} name={field.name} value={value === null || value === undefined ? "" : String(value)} disabled={readOnly} onChange={(e) => update(e.target.value)}>
          <option value="">{field.input === "campaigns" ? t("this campaign") : field.required ? t("Choose…") : t("— none —")}</option>
          {optionsFor(field, lookups).map(([v, text]) => <option key={v} value={v}>{text}</option>)}
        </select>
      );
    } else if (field.input === "multiselect") {
      const selected = new Set((value || []).map(String));
      input = (
        <select id={id} name={field.name} multiple value={[...selected]} disabled={readOnly}
          onChange={(e) => setConfig({ ...config, [field.name]: [...e.target.selectedOptions].map((o) => o.value) })}>
          {(field.itemEnum || []).map((v) => <option key={v} value={v}>{t(String(v))}</option>)}
        </select>
      );
    } else if (field.input === "list") {
      input = <input id={id} name={field.name} type="text" placeholder={t("Comma-separated")} defaultValue={(value || []).join(", ")} disabled={readOnly} onChange={(e) => update(e.target.value)} />;
    } else {
      input = (
        <input id={id} name={field.name} type={field.input === "number" ? "number" : "text"}
          value={value === null || value === undefined ? "" : typeof value === "object" ? JSON.stringify(value) : value}
          disabled={readOnly} onChange={(e) => update(e.target.value)} />
      );
    }
    return (
      <div className="tf-field" key={field.name}>
        <label htmlFor={id}>{t(field.label)}</label>
        {input}
        {field.description && <p className="tf-help">{t(field.description)}</p>}
      </div>
    );
  });
}

function EterminForm({ api, config, setConfig, lookups, readOnly }) {
  const accounts = lookups.accountList;
  const accountId = config.account_id ?? (accounts.length === 1 ? accounts[0].id : null);
  const [calendars, setCalendars] = useState(null);
  const [calendarError, setCalendarError] = useState("");
  const update = (changes) => setConfig({ ...config, ...changes });

  useEffect(() => {
    if (!accountId) {
      setCalendars([]);
      return undefined;
    }
    let cancelled = false;
    setCalendars(null);
    setCalendarError("");
    api.get(`/etermin/accounts/${accountId}/calendars`).then(
      (body) => {
        if (cancelled) return;
        const list = itemsOf(body);
        setCalendars(list);
        lookups.rememberCalendars(list);
      },
      (error) => {
        if (cancelled) return;
        setCalendars([]);
        setCalendarError(error.message);
      },
    );
    return () => { cancelled = true; };
  }, [api, accountId]);

  const dateFields = lookups.fieldList.filter((f) => DATE_TYPES.has(f.type));
  const calendarValue = config.calendar === undefined || config.calendar === null ? "all" : String(config.calendar);
  const knownCalendar = calendarValue === "all" || (calendars || []).some((c) => String(c.id) === calendarValue);

  if (!accounts.length) {
    return <div className="tf-alert tf-alert-warning">{t("No eTermin account is connected yet. Connect one under Settings → API info → eTermin.")}</div>;
  }
  return (
    <>
      {accounts.length > 1 && (
        <div className="tf-field">
          <label htmlFor="tf-et-account">{t("eTermin account")}</label>
          <select id="tf-et-account" name="account_id" value={accountId ? String(accountId) : ""} disabled={readOnly}
            onChange={(e) => update({ account_id: e.target.value ? Number(e.target.value) : null, calendar: "all" })}>
            <option value="">{t("Choose…")}</option>
            {accounts.map((a) => <option key={a.id} value={String(a.id)}>{a.name}</option>)}
          </select>
        </div>
      )}
      <div className="tf-field">
        <label htmlFor="tf-et-calendar">{t("Calendar")}</label>
        <select id="tf-et-calendar" name="calendar" value={calendarValue} disabled={readOnly}
          onChange={(e) => update({ calendar: e.target.value === "all" ? "all" : Number(e.target.value) })}>
          <option value="all">{t("All calendars (also ones created later)")}</option>
          {(calendars || []).map((c) => <option key={c.id} value={String(c.id)}>{c.name}</option>)}
          {!knownCalendar && calendars !== null && <option value={calendarValue}>{`${t("Calendar")} ${calendarValue}`}</option>}
        </select>
        {calendars === null && <p className="tf-help">{t("Loading calendars from eTermin…")}</p>}
        {calendarError && <p className="tf-error">{t("The calendars could not be loaded from eTermin:")} {calendarError}</p>}
      </div>
      <fieldset className="tf-field">
        <legend>{t("React to")}</legend>
        {[["created", "Appointment created"], ["modified", "Appointment edited"], ["deleted", "Appointment deleted"]].map(([value, text]) => (
          <label className="tf-check" key={value}>
            <input type="radio" name="event" value={value} checked={(config.event || "created") === value} disabled={readOnly} onChange={() => update({ event: value })} />
            <span>{t(text)}</span>
          </label>
        ))}
        <p className="tf-help">{t("\"Deleted\" only reacts to appointments that an element reacting to \"created\" or \"edited\" took in before (in this or another campaign).")}</p>
      </fieldset>
      <div className="tf-row">
        {[["start_field", "Field for the start"], ["end_field", "Field for the end"]].map(([name, text]) => (
          <div className="tf-field" key={name}>
            <label htmlFor={`tf-et-${name}`}>{t(text)}</label>
            <select id={`tf-et-${name}`} name={name} value={config[name] || ""} disabled={readOnly} onChange={(e) => update({ [name]: e.target.value || null })}>
              <option value="">{t("— none —")}</option>
              {dateFields.map((f) => <option key={f.key} value={f.key}>{f.label}</option>)}
            </select>
          </div>
        ))}
      </div>
      <p className="tf-help tf-tight">{t("Only date and date-time fields are offered.")}</p>
      <div className="tf-field">
        <label className="tf-check">
          <input type="checkbox" name="save_notes" checked={Boolean(config.save_notes)} disabled={readOnly} onChange={(e) => update({ save_notes: e.target.checked })} />
          <span>{t("Save notes")}</span>
        </label>
        <p className="tf-help">{t("The remarks the customer left when booking are added to the contact as a note.")}</p>
      </div>
      <div className="tf-field">
        <label className="tf-check">
          <input type="checkbox" name="newsletter_only" checked={Boolean(config.newsletter_only)} disabled={readOnly} onChange={(e) => update({ newsletter_only: e.target.checked })} />
          <span>{t("Use the eTermin newsletter checkbox")}</span>
        </label>
        <p className="tf-help">{t("Only customers who ticked eTermin's newsletter checkbox enter; otherwise everyone who books enters.")}</p>
      </div>
      <div className="tf-alert tf-alert-info">{t("Contacts from eTermin arrive as single opt-in: send a double opt-in email before any marketing email.")}</div>
    </>
  );
}

export function SettingsDialog({ api, node, type, lookups, readOnly, onApply, onDelete, onClose }) {
  const [config, setConfig] = useState(() => ({ ...(node.data.config || {}) }));
  const title = t(type ? type.label : node.data.type);
  const schema = type ? type.config_schema || type.schema || {} : {};
  const footer = (
    <>
      {!readOnly && <button type="button" className="tf-button tf-danger" onClick={onDelete}>{t("Delete element")}</button>}
      <span className="tf-spacer" />
      <button type="button" className="tf-button" onClick={onClose}>{readOnly ? t("Close") : t("Cancel")}</button>
      {!readOnly && <button type="button" className="tf-button tf-primary" onClick={() => onApply(cleanConfig(config))}>{t("Apply")}</button>}
    </>
  );
  return (
    <Modal title={title} onClose={onClose} footer={footer}>
      {type && type.description && <p className="tf-muted">{t(type.description)}</p>}
      {(node.data.errors || []).map((m, i) => <div key={`e${i}`} className="tf-alert tf-alert-error">{m}</div>)}
      {(node.data.warnings || []).map((m, i) => <div key={`w${i}`} className="tf-alert tf-alert-warning">{m}</div>)}
      {node.data.type === "etermin.appointment" ? (
        <EterminForm api={api} config={config} setConfig={setConfig} lookups={lookups} readOnly={readOnly} />
      ) : (
        <GenericForm schema={schema} config={config} setConfig={setConfig} lookups={lookups} readOnly={readOnly} />
      )}
    </Modal>
  );
}
