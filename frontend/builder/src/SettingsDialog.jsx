import { useEffect, useMemo, useState } from "react";
import { itemsOf } from "./api.js";
import { emailResults, ENGAGEMENT_CONDITIONS, failuresOf, joinOffset, splitDuration, splitOffset, UNIT_MINUTES } from "./graph.js";
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

// The emails an element may send: double opt-in requests for the double opt-in element,
// marketing emails for the send element; other elements see all.
export function emailsFor(type, emailList) {
  if (type && type.doi) return emailList.filter((e) => e.kind === "doi");
  if (type && type.marketing) return emailList.filter((e) => e.kind === "marketing");
  return emailList;
}

// Waiting until a date only makes sense on date and date-time fields.
export function fieldsFor(typeKey, fieldList) {
  if (typeKey === "wait.until_field") return fieldList.filter((f) => DATE_TYPES.has(f.type));
  return fieldList;
}

function optionsFor(field, lookups, type) {
  switch (field.input) {
    case "emails":
      return emailsFor(type, lookups.emailList).map((e) => [String(e.id), e.name]);
    case "campaigns":
      return lookups.campaignList.map((c) => [String(c.id), c.name]);
    case "fields":
      return fieldsFor(type && type.key, lookups.fieldList).map((f) => [f.key, `${f.label} (${f.key})`]);
    case "accounts":
      return lookups.accountList.map((a) => [String(a.id), a.name]);
    case "forms":
      return (lookups.formList || []).map((f) => [String(f.id), f.name]);
    case "segments":
      return (lookups.segmentList || []).map((s) => [String(s.id), s.name]);
    case "elements":
      return (lookups.emailElements || []).map((e) => [e.id, e.name]);
    default:
      return (field.enum || []).map((v) => [String(v), t(String(v))]);
  }
}

function GenericForm({ schema, config, setConfig, lookups, readOnly, type, skip = [] }) {
  const all = useMemo(() => describeFields(schema), [schema]);
  const fields = all.filter((f) => !skip.includes(f.name));
  if (!all.length) return <p className="tf-muted">—</p>;
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
    if (["emails", "campaigns", "fields", "accounts", "forms", "segments", "elements", "select"].includes(field.input)) {
      input = (
        <select id={id} name={field.name} value={value === null || value === undefined ? "" : String(value)} disabled={readOnly} onChange={(e) => update(e.target.value)}>
          <option value="">{field.input === "campaigns" ? t("this campaign") : field.required ? t("Choose…") : t("— none —")}</option>
          {optionsFor(field, lookups, type).map(([v, text]) => <option key={v} value={v}>{text}</option>)}
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
        {field.input === "emails" && type && (type.doi || type.marketing) && (
          optionsFor(field, lookups, type).length === 0
            ? <div className="tf-alert tf-alert-warning">{t(type.doi ? "No double opt-in email exists yet. Create one under Emails (kind: double opt-in request)." : "No marketing email exists yet. Create one under Emails.")}</div>
            : <p className="tf-help">{t(type.doi ? "Only double opt-in emails are offered." : "Only marketing emails are offered; a double opt-in email belongs in the element «Double opt-in email».")}</p>
        )}
        {field.input === "elements" && (
          optionsFor(field, lookups, type).length === 0
            ? <div className="tf-alert tf-alert-warning">{t("This campaign has no email element yet. Add «Send email» or «Double opt-in email» first.")}</div>
            : <p className="tf-help">{t("Only the email elements of this campaign are offered. Put a waiting time before the question, so people have time to open the email.")}</p>
        )}
      </div>
    );
  });
}

function UnitInputs({ idPrefix, amount, unit, onChange, readOnly }) {
  return (
    <div className="tf-row">
      <div className="tf-field">
        <label htmlFor={`${idPrefix}-amount`}>{t("Amount")}</label>
        <input id={`${idPrefix}-amount`} name="amount" type="number" min="1" step="1" value={amount} disabled={readOnly}
          onChange={(e) => onChange({ amount: e.target.value === "" ? "" : Math.max(1, Math.round(Number(e.target.value))), unit })} />
      </div>
      <div className="tf-field">
        <label htmlFor={`${idPrefix}-unit`}>{t("Unit")}</label>
        <select id={`${idPrefix}-unit`} name="unit" value={unit} disabled={readOnly} onChange={(e) => onChange({ amount, unit: e.target.value })}>
          {Object.keys(UNIT_MINUTES).map((u) => <option key={u} value={u}>{t({ minutes: "Minutes unit", hours: "Hours unit", days: "Days unit" }[u])}</option>)}
        </select>
      </div>
    </div>
  );
}

function WaitDurationForm({ schema, config, setConfig, lookups, readOnly, type }) {
  const [parts, setParts] = useState(() => splitDuration(config.minutes || 1440));
  const change = (next) => {
    setParts(next);
    setConfig({ ...config, minutes: Math.round((Number(next.amount) || 0) * UNIT_MINUTES[next.unit]) });
  };
  return (
    <>
      <fieldset className="tf-field">
        <legend>{t("How long")}</legend>
        <UnitInputs idPrefix="tf-wait" amount={parts.amount} unit={parts.unit} onChange={change} readOnly={readOnly} />
      </fieldset>
      <GenericForm schema={schema} config={config} setConfig={setConfig} lookups={lookups} readOnly={readOnly} type={type} skip={["minutes"]} />
    </>
  );
}

function WaitUntilFieldForm({ schema, config, setConfig, lookups, readOnly, type }) {
  const dateFields = fieldsFor("wait.until_field", lookups.fieldList);
  const [parts, setParts] = useState(() => splitOffset(config.offset_minutes || 0));
  const change = (next) => {
    setParts(next);
    setConfig({ ...config, offset_minutes: joinOffset(next) });
  };
  return (
    <>
      <div className="tf-field">
        <label htmlFor="tf-cfg-field">{t("Date field")}</label>
        <select id="tf-cfg-field" name="field" value={config.field || ""} disabled={readOnly} onChange={(e) => setConfig({ ...config, field: e.target.value || null })}>
          <option value="">{t("Choose…")}</option>
          {dateFields.map((f) => <option key={f.key} value={f.key}>{f.label}</option>)}
        </select>
        {dateFields.length === 0
          ? <div className="tf-alert tf-alert-warning">{t("No date or date-time field exists yet. Create one under Fields and tags.")}</div>
          : <p className="tf-help">{t("Only date and date-time fields are offered.")}</p>}
      </div>
      <fieldset className="tf-field">
        <legend>{t("When")}</legend>
        <div className="tf-segmented" role="radiogroup">
          {[["before", "Before"], ["at", "At the time itself"], ["after", "After"]].map(([value, text]) => (
            <label className="tf-check" key={value}>
              <input type="radio" name="direction" value={value} checked={parts.direction === value} disabled={readOnly}
                onChange={() => change({ ...parts, direction: value })} />
              <span>{t(text)}</span>
            </label>
          ))}
        </div>
        {parts.direction !== "at" && (
          <UnitInputs idPrefix="tf-offset" amount={parts.amount} unit={parts.unit} onChange={(next) => change({ ...parts, ...next })} readOnly={readOnly} />
        )}
      </fieldset>
      {schema.properties && schema.properties.stop_if_appointment_deleted && (
        <div className="tf-field">
          <label htmlFor="tf-cfg-stop_if_appointment_deleted">{t("Stop when the appointment is deleted in eTermin")}</label>
          <select id="tf-cfg-stop_if_appointment_deleted" name="stop_if_appointment_deleted" disabled={readOnly}
            value={config.stop_if_appointment_deleted === true ? "yes" : config.stop_if_appointment_deleted === false ? "no" : ""}
            onChange={(e) => setConfig({ ...config, stop_if_appointment_deleted: { yes: true, no: false }[e.target.value] ?? null })}>
            <option value="">{t("Automatically: yes when an eTermin element fills this field")}</option>
            <option value="yes">{t("Yes")}</option>
            <option value="no">{t("No")}</option>
          </select>
          <p className="tf-help">{t("No reminder goes out for an appointment that was cancelled in eTermin.")}</p>
        </div>
      )}
      <GenericForm schema={schema} config={config} setConfig={setConfig} lookups={lookups} readOnly={readOnly} type={type} skip={["field", "offset_minutes", "stop_if_appointment_deleted"]} />
    </>
  );
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
          <label htmlFor="tf-et-account">{t("eTermin account")} *</label>
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

// What became of the element's emails, in unique contacts, with rates.
function EmailResults({ results }) {
  const rows = [
    ["Sent", results.sent, null],
    ["Delivered", results.delivered, null],
    ["Bounced", results.bounced, results.bounceRate],
    ["Opened", results.opened, results.openRate],
    ["Clicked", results.clicked, results.clickRate],
    ["Unsubscribed", results.unsubscribed, results.unsubscribeRate],
  ];
  return (
    <section className="tf-results" data-testid="dialog-results" aria-label={t("Results (unique contacts)")}>
      <strong>{t("Results (unique contacts)")}</strong>
      <dl>
        {rows.map(([label, count, rate]) => (
          <div key={label}><dt>{t(label)}</dt><dd>{count}{rate !== null && <small> {rate} %</small>}</dd></div>
        ))}
      </dl>
    </section>
  );
}

// What must be chosen before the settings can be applied; null when they can.
export function missingChoice(typeKey, config, lookups) {
  if (typeKey === "etermin.appointment" && lookups.accountList.length > 1 && !config.account_id) {
    return t("Choose the eTermin account.");
  }
  if (typeKey === "wait.until_field" && !config.field) return t("Choose the date field.");
  if (ENGAGEMENT_CONDITIONS.includes(typeKey) && !config.element_id) return t("Choose the email element.");
  return null;
}

// An eTermin element always stores its account, even while only one is connected, so that
// connecting a second account later leaves it pointing at the same one.
export function withAccount(typeKey, config, lookups) {
  if (typeKey === "etermin.appointment" && !config.account_id && lookups.accountList.length === 1) {
    return { ...config, account_id: lookups.accountList[0].id };
  }
  return config;
}

export function SettingsDialog({ api, node, type, lookups, readOnly, onApply, onDelete, onClose }) {
  const [config, setConfig] = useState(() => withAccount(node.data.type, { ...(node.data.config || {}) }, lookups));
  const [problem, setProblem] = useState(null);
  const failures = failuresOf(node.data.stats);
  const results = emailResults(node.data.stats);
  const apply = () => {
    const missing = missingChoice(node.data.type, config, lookups);
    if (missing) {
      setProblem(missing);
      return;
    }
    onApply(cleanConfig(withAccount(node.data.type, config, lookups)));
  };
  const title = t(type ? type.label : node.data.type);
  const schema = type ? type.config_schema || type.schema || {} : {};
  const footer = (
    <>
      {!readOnly && <button type="button" className="tf-button tf-danger" onClick={onDelete}>{t("Delete element")}</button>}
      <span className="tf-spacer" />
      <button type="button" className="tf-button" onClick={onClose}>{readOnly ? t("Close") : t("Cancel")}</button>
      {!readOnly && <button type="button" className="tf-button tf-primary" onClick={apply}>{t("Apply")}</button>}
    </>
  );
  return (
    <Modal title={title} onClose={onClose} footer={footer}>
      {type && type.description && <p className="tf-muted">{t(type.description)}</p>}
      {(node.data.errors || []).map((m, i) => <div key={`e${i}`} className="tf-alert tf-alert-error">{m}</div>)}
      {(node.data.warnings || []).map((m, i) => <div key={`w${i}`} className="tf-alert tf-alert-warning">{m}</div>)}
      {failures.length > 0 && (
        <div className="tf-alert tf-alert-error" data-testid="dialog-failures">
          <strong>{t("Failures")}</strong>
          <ul>{failures.map((f, i) => <li key={i}>{f.count}× {f.reason || t("unknown reason")}</li>)}</ul>
        </div>
      )}
      {problem && <div className="tf-alert tf-alert-error" role="alert" data-testid="dialog-problem">{problem}</div>}
      {results && <EmailResults results={results} />}
      {node.data.type === "etermin.appointment" ? (
        <EterminForm api={api} config={config} setConfig={(c) => { setProblem(null); setConfig(c); }} lookups={lookups} readOnly={readOnly} />
      ) : node.data.type === "wait.until_field" ? (
        <WaitUntilFieldForm schema={schema} config={config} setConfig={(c) => { setProblem(null); setConfig(c); }} lookups={lookups} readOnly={readOnly} type={type} />
      ) : node.data.type === "wait.duration" ? (
        <WaitDurationForm schema={schema} config={config} setConfig={setConfig} lookups={lookups} readOnly={readOnly} type={type} />
      ) : (
        <GenericForm schema={schema} config={config} setConfig={setConfig} lookups={lookups} readOnly={readOnly} type={type} />
      )}
    </Modal>
  );
}
