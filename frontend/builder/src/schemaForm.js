// Turns an element type's config JSON schema (pydantic) into the inputs of its settings dialog.

function resolveRef(schema, root) {
  if (schema && schema.$ref && root) {
    const name = schema.$ref.split("/").pop();
    const defs = root.$defs || root.definitions || {};
    return { ...defs[name], ...Object.fromEntries(Object.entries(schema).filter(([k]) => k !== "$ref")) };
  }
  return schema || {};
}

// Optional fields arrive as anyOf [{type: X}, {type: "null"}]; take the non-null branch.
export function unwrap(schema, root) {
  let s = resolveRef(schema, root);
  const options = s.anyOf || s.oneOf;
  if (options) {
    const nonNull = options.map((o) => resolveRef(o, root)).filter((o) => o.type !== "null");
    const nullable = nonNull.length < options.length;
    if (nonNull.length === 1) {
      s = { ...nonNull[0], title: s.title || nonNull[0].title, description: s.description || nonNull[0].description, default: s.default };
      return { schema: s, nullable };
    }
    // A literal mixed with a number (e.g. "all" | calendar id) stays free text with choices.
    const enums = nonNull.flatMap((o) => (o.const !== undefined ? [o.const] : o.enum || []));
    return { schema: { ...s, type: "string", enum: enums.length ? enums : undefined, mixed: true }, nullable };
  }
  if (s.const !== undefined) {
    s = { ...s, enum: [s.const] };
  }
  return { schema: s, nullable: false };
}

// References to other things in the workspace get a dropdown instead of a text box.
const REFERENCE_FIELDS = {
  email_id: "emails",
  campaign_id: "campaigns",
  field: "fields",
  field_key: "fields",
  start_field: "fields",
  end_field: "fields",
  account_id: "accounts",
  form_id: "forms",
  segment_id: "segments",
  element_id: "elements",
};

export function describeFields(configSchema) {
  const root = configSchema || {};
  const properties = root.properties || {};
  const required = new Set(root.required || []);
  return Object.entries(properties).map(([name, raw]) => {
    const { schema, nullable } = unwrap(raw, root);
    let input = "text";
    if (REFERENCE_FIELDS[name]) input = REFERENCE_FIELDS[name];
    else if (schema.enum) input = "select";
    else if (schema.type === "boolean") input = "checkbox";
    else if (schema.type === "integer" || schema.type === "number") input = "number";
    else if (schema.type === "array") {
      const items = resolveRef(schema.items, root);
      input = items.enum ? "multiselect" : "list";
      schema.itemEnum = items.enum;
    }
    return {
      name,
      input,
      label: schema.title || raw.title || name,
      description: raw.description || schema.description || "",
      required: required.has(name) && !nullable,
      nullable,
      enum: schema.enum,
      itemEnum: schema.itemEnum,
      default: raw.default !== undefined ? raw.default : schema.default,
      type: schema.type,
    };
  });
}

export function initialConfig(configSchema) {
  const config = {};
  for (const field of describeFields(configSchema)) {
    if (field.default !== undefined) config[field.name] = field.default;
  }
  return config;
}

// Reads an input's text back into the type the schema wants.
export function coerce(field, value) {
  if (field.input === "checkbox") return Boolean(value);
  if (field.input === "list") {
    return String(value || "").split(",").map((s) => s.trim()).filter(Boolean);
  }
  if (value === "" || value === undefined || value === null) {
    return field.nullable || !field.required ? null : value;
  }
  if (field.input === "number" || ((field.input === "emails" || field.input === "campaigns" || field.input === "accounts" || field.input === "forms" || field.input === "segments") && /^-?\d+$/.test(String(value)))) {
    const n = Number(value);
    return Number.isNaN(n) ? value : n;
  }
  return value;
}

// Drops null entries so the server applies its own defaults.
export function cleanConfig(config) {
  return Object.fromEntries(Object.entries(config).filter(([, v]) => v !== null && v !== undefined));
}
