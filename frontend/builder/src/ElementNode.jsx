import { Handle, Position } from "@xyflow/react";
import { createContext, memo, useContext } from "react";
import { emailResults, failuresOf, splitDuration, splitOffset } from "./graph.js";
import { amountText, t } from "./i18n.js";

// What the nodes need to describe themselves: element types, emails, fields, calendars.
export const LookupContext = createContext({ types: {}, emails: {}, fields: {}, calendars: {}, campaigns: {}, openSettings: () => {} });

const STAT_KEYS = ["entered", "completed", "waiting", "skipped", "failed"];

export function duration(minutes) {
  const m = Number(minutes);
  if (!Number.isFinite(m) || m <= 0) return "";
  const { amount, unit } = splitDuration(m);
  return amountText(amount, unit);
}

// "1 Tag vorher", "2 hours after", "zum Zeitpunkt".
export function offsetText(offsetMinutes) {
  const { amount, unit, direction } = splitOffset(offsetMinutes);
  if (direction === "at") return t("at the time");
  return `${amountText(amount, unit)} ${t(direction === "before" ? "before" : "after")}`;
}

// How a person recognises an element: its type and what it is set to, never its id.
export function elementName(node, lookups) {
  if (!node) return "";
  const type = lookups.types[node.data.type];
  const label = t(type ? type.label : node.data.type);
  const text = summary(node.data.type, node.data.config, lookups);
  return text ? `${label} «${text}»` : label;
}

export function summary(type, config, lookups) {
  const c = config || {};
  switch (type) {
    case "etermin.appointment": {
      const event = { created: t("Appointment created"), modified: t("Appointment edited"), deleted: t("Appointment deleted") }[c.event || "created"];
      const calendar = c.calendar === undefined || c.calendar === "all"
        ? t("All calendars (also ones created later)")
        : lookups.calendars[String(c.calendar)] || `${t("Calendar")} ${c.calendar}`;
      // With several accounts the element says which one it listens to.
      const accounts = lookups.accountList || [];
      const account = accounts.length > 1 && c.account_id ? accounts.find((a) => a.id === c.account_id) : null;
      return account ? `${account.name} · ${event} · ${calendar}` : `${event} · ${calendar}`;
    }
    case "wait.duration":
      return c.minutes !== undefined ? duration(c.minutes) : "";
    case "wait.until_field": {
      if (!c.field) return "";
      const field = lookups.fields[c.field] || c.field;
      return `${field} · ${offsetText(c.offset_minutes || 0)}`;
    }
    case "email.send":
    case "email.doi":
      return c.email_id ? lookups.emails[String(c.email_id)] || `#${c.email_id}` : "";
    case "contact.tag": {
      const parts = [];
      if (c.add && c.add.length) parts.push(`+ ${c.add.join(", ")}`);
      if (c.remove && c.remove.length) parts.push(`− ${c.remove.join(", ")}`);
      return parts.join("  ");
    }
    case "contact.tag_added":
    case "condition.tag":
      return c.tag || "";
    case "contact.set_field":
      return c.field ? `${lookups.fields[c.field] || c.field} = ${c.value ?? ""}` : "";
    case "form.submitted":
      return c.form_id ? (lookups.forms || {})[String(c.form_id)] || `#${c.form_id}` : "";
    case "condition.segment":
    case "segment.entered":
      return c.segment_id ? (lookups.segments || {})[String(c.segment_id)] || `#${c.segment_id}` : "";
    case "condition.email_opened":
    case "condition.email_clicked": {
      if (!c.element_id) return "";
      const target = (lookups.emailElements || []).find((e) => e.id === c.element_id);
      return target ? target.name : c.element_id;
    }
    case "campaign.reset":
    case "campaign.stop":
      return c.campaign_id ? lookups.campaigns[String(c.campaign_id)] || `#${c.campaign_id}` : t("this campaign");
    default: {
      const values = Object.entries(c).filter(([, v]) => v !== null && v !== "" && typeof v !== "object");
      return values.slice(0, 2).map(([k, v]) => `${k}: ${v}`).join(" · ");
    }
  }
}

function ElementNodeView({ id, data, selected }) {
  const lookups = useContext(LookupContext);
  const type = lookups.types[data.type];
  const kind = data.kind;
  const label = t(type ? type.label : data.type);
  const text = summary(data.type, data.config, lookups);
  const failures = failuresOf(data.stats);
  const results = emailResults(data.stats);
  const branches = type ? type.branches : kind === "condition" ? ["yes", "no"] : ["next"];
  const classes = ["tf-node", `tf-kind-${kind}`];
  if (selected) classes.push("tf-selected");
  if (data.errors && data.errors.length) classes.push("tf-has-errors");
  else if (data.warnings && data.warnings.length) classes.push("tf-has-warnings");
  return (
    <div className={classes.join(" ")} data-testid={`node-${data.type}`} title={type ? type.description : ""}>
      {kind !== "trigger" && <Handle type="target" position={Position.Top} />}
      <div className="tf-node-head">
        <span className="tf-node-kind">{t({ trigger: "Event", action: "Action", wait: "Waiting time", condition: "Condition" }[kind] || kind)}</span>
        <span className="tf-node-label">{label}</span>
        <button type="button" className="tf-node-open nodrag" aria-label={`${t("Settings")}: ${label}`} title={t("Settings")}
          onClick={(event) => { event.stopPropagation(); lookups.openSettings(id); }}>⚙</button>
      </div>
      <div className="tf-node-body">
        {text ? <div className="tf-node-summary">{text}</div> : <div className="tf-node-empty">{t("Not configured yet: double-click to set it up.")}</div>}
        {data.stats && (
          <div className="tf-node-stats" data-testid="node-stats">
            {STAT_KEYS.filter((k) => data.stats[k] !== undefined).map((k) => (
              <span key={k} className={`tf-stat tf-stat-${k}`} title={t(k)}>
                {data.stats[k]} <small>{t(k)}</small>
              </span>
            ))}
          </div>
        )}
        {results && (
          <div className="tf-node-results" data-testid="node-results">
            <span title={t("Sent")}>{results.sent} <small>{t("sent")}</small></span>
            <span title={t("Opened")}>{results.opened} <small>{t("opened")}{results.openRate !== null ? ` (${results.openRate} %)` : ""}</small></span>
            <span title={t("Clicked")}>{results.clicked} <small>{t("clicked")}{results.clickRate !== null ? ` (${results.clickRate} %)` : ""}</small></span>
          </div>
        )}
        {failures.length > 0 && (
          <div className="tf-node-failures" data-testid="node-failures">
            <strong>{t("Failed because:")}</strong>
            <ul>
              {failures.slice(0, 3).map((f, i) => <li key={i}>{f.count > 1 ? `${f.count}× ` : ""}{f.reason || t("unknown reason")}</li>)}
            </ul>
            {failures.length > 3 && <small>{t("more reasons in the settings")}</small>}
          </div>
        )}
        {(data.errors || []).map((message, i) => (
          <div key={`e${i}`} className="tf-node-error" role="alert">{message}</div>
        ))}
        {(data.warnings || []).map((message, i) => (
          <div key={`w${i}`} className="tf-node-warning">{message}</div>
        ))}
      </div>
      {branches.includes("yes") ? (
        <>
          <Handle type="source" position={Position.Bottom} id="yes" style={{ left: "28%" }} title={t("yes")} />
          <span className="tf-branch tf-branch-yes">{t("yes")}</span>
          <Handle type="source" position={Position.Bottom} id="no" style={{ left: "72%" }} />
          <span className="tf-branch tf-branch-no">{t("no")}</span>
        </>
      ) : (
        <Handle type="source" position={Position.Bottom} />
      )}
    </div>
  );
}

export const ElementNode = memo(ElementNodeView);
