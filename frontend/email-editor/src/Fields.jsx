// The settings of one block, by type.
import { useRef, useState } from "react";
import { t } from "./i18n.js";
import { PlaceholderMenu } from "./PlaceholderMenu.jsx";
import { insertAt, isLinkPlaceholder, linkPlaceholders } from "./placeholders.js";
import { RichText } from "./RichText.jsx";

let fieldCounter = 0;
function useFieldId() {
  const ref = useRef(null);
  if (ref.current === null) {
    fieldCounter += 1;
    ref.current = `ee-f${fieldCounter}`;
  }
  return ref.current;
}

function Labelled({ label, children, id }) {
  return (
    <div className="ee-field">
      <label htmlFor={id}>{label}</label>
      {children}
    </div>
  );
}

export function PlaceholderInput({ label, value, onChange, groups, readOnly, testId }) {
  const id = useFieldId();
  const input = useRef(null);
  function pick(item) {
    const el = input.current;
    const next = insertAt(value, el ? el.selectionStart : value.length, el ? el.selectionEnd : value.length, item.value);
    onChange(next.text);
    requestAnimationFrame(() => {
      if (el) {
        el.focus();
        el.setSelectionRange(next.caret, next.caret);
      }
    });
  }
  return (
    <Labelled label={label} id={id}>
      <div className="ee-row">
        <input id={id} ref={input} type="text" value={value} disabled={readOnly} data-testid={testId}
          onChange={(e) => onChange(e.target.value)} />
        {!readOnly && <PlaceholderMenu groups={groups} onPick={pick} />}
      </div>
    </Labelled>
  );
}

function Select({ label, value, options, onChange, readOnly }) {
  const id = useFieldId();
  return (
    <Labelled label={label} id={id}>
      <select id={id} value={value} disabled={readOnly} onChange={(e) => onChange(e.target.value)}>
        {options.map(([v, text]) => (
          <option key={v} value={v}>{text}</option>
        ))}
      </select>
    </Labelled>
  );
}

function NumberInput({ label, value, onChange, readOnly, min, max }) {
  const id = useFieldId();
  return (
    <Labelled label={label} id={id}>
      <input id={id} type="number" min={min} max={max} value={value ?? ""} disabled={readOnly}
        onChange={(e) => onChange(e.target.value === "" ? null : Number(e.target.value))} />
    </Labelled>
  );
}

function Color({ label, value, onChange, readOnly }) {
  const id = useFieldId();
  return (
    <Labelled label={label} id={id}>
      <input id={id} type="color" value={value} disabled={readOnly} onChange={(e) => onChange(e.target.value)} />
    </Labelled>
  );
}

function Check({ label, value, onChange, readOnly }) {
  const id = useFieldId();
  return (
    <div className="ee-field ee-check">
      <input id={id} type="checkbox" checked={!!value} disabled={readOnly} onChange={(e) => onChange(e.target.checked)} />
      <label htmlFor={id}>{label}</label>
    </div>
  );
}

const ALIGN = () => [["left", t("left")], ["center", t("center")], ["right", t("right")]];

function LinkField({ label, value, onChange, readOnly, kind }) {
  const id = useFieldId();
  const links = linkPlaceholders(t, kind);
  const mode = isLinkPlaceholder(value) ? value : "url";
  return (
    <Labelled label={label} id={id}>
      <div className="ee-row">
        <select aria-label={t("Link target")} value={mode} disabled={readOnly}
          onChange={(e) => onChange(e.target.value === "url" ? "https://" : e.target.value)}>
          <option value="url">{t("Web address")}</option>
          {links.map((link) => (
            <option key={link.value} value={link.value}>{link.label}</option>
          ))}
        </select>
        {mode === "url" && (
          <input id={id} type="url" value={value} placeholder="https://" disabled={readOnly}
            onChange={(e) => onChange(e.target.value)} />
        )}
      </div>
    </Labelled>
  );
}

function ImageFields({ block, set, readOnly, kind, media, width }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState("");
  const fileId = useFieldId();
  const pickId = useFieldId();
  async function upload(event) {
    const file = event.target.files && event.target.files[0];
    if (!file) return;
    setBusy(true);
    setError("");
    try {
      const image = await media.upload(file);
      set({ src: image.url, width: Math.min(image.width, width - 48), alt: block.alt || "" });
    } catch (e) {
      setError(e.message || t("Request failed"));
    } finally {
      setBusy(false);
      event.target.value = "";
    }
  }
  return (
    <>
      {block.src ? (
        <img className="ee-thumb" src={block.src} alt={block.alt} />
      ) : (
        <p className="ee-muted">{t("No image yet.")}</p>
      )}
      {!readOnly && (
        <div className="ee-row ee-wrap">
          <div className="ee-field">
            <label htmlFor={fileId}>{busy ? t("Uploading…") : t("Upload an image")}</label>
            <input id={fileId} type="file" accept="image/png,image/jpeg,image/gif,image/webp"
              data-testid="image-upload" disabled={busy} onChange={upload} />
          </div>
          <div className="ee-field">
            <label htmlFor={pickId}>{t("Or choose an uploaded one")}</label>
            <select id={pickId} value="" onFocus={media.refresh}
              onChange={(e) => {
                const image = media.images.find((i) => i.url === e.target.value);
                if (image) set({ src: image.url, width: Math.min(image.width, width - 48) });
              }}>
              <option value="">{t("Choose…")}</option>
              {media.images.map((image) => (
                <option key={image.id} value={image.url}>{image.name} ({image.width}×{image.height})</option>
              ))}
            </select>
          </div>
        </div>
      )}
      {error && <p className="ee-error" role="alert">{error}</p>}
      <PlainInput label={t("Alternative text (for people who cannot see the image)")} value={block.alt}
        onChange={(alt) => set({ alt })} readOnly={readOnly} />
      <div className="ee-row ee-wrap">
        <NumberInput label={t("Width (pixels)")} value={block.width} min={16} max={1200} readOnly={readOnly}
          onChange={(w) => set({ width: w })} />
        <Select label={t("Alignment")} value={block.align} options={ALIGN()} readOnly={readOnly}
          onChange={(align) => set({ align })} />
      </div>
      <LinkField label={t("Link (optional)")} value={block.href} kind={kind} readOnly={readOnly}
        onChange={(href) => set({ href: href === "https://" && !block.href ? "" : href })} />
    </>
  );
}

function PlainInput({ label, value, onChange, readOnly }) {
  const id = useFieldId();
  return (
    <Labelled label={label} id={id}>
      <input id={id} type="text" value={value} disabled={readOnly} onChange={(e) => onChange(e.target.value)} />
    </Labelled>
  );
}

export function BlockFields({ block, set, readOnly, groups, kind, media, width }) {
  switch (block.type) {
    case "text":
      return (
        <RichText html={block.html} readOnly={readOnly} groups={groups} label={t("Text")}
          onChange={(html) => set({ html })} />
      );
    case "heading":
      return (
        <>
          <PlaceholderInput label={t("Heading text")} value={block.text} groups={groups} readOnly={readOnly}
            testId="heading-text" onChange={(text) => set({ text })} />
          <div className="ee-row ee-wrap">
            <Select label={t("Level")} value={String(block.level)} readOnly={readOnly}
              options={[["1", "H1"], ["2", "H2"], ["3", "H3"]]} onChange={(v) => set({ level: Number(v) })} />
            <Select label={t("Alignment")} value={block.align} options={ALIGN()} readOnly={readOnly}
              onChange={(align) => set({ align })} />
          </div>
        </>
      );
    case "button":
      return (
        <>
          <PlaceholderInput label={t("Button text")} value={block.text} groups={groups} readOnly={readOnly}
            testId="button-text" onChange={(text) => set({ text })} />
          <LinkField label={t("Link target")} value={block.href} kind={kind} readOnly={readOnly}
            onChange={(href) => set({ href })} />
          <div className="ee-row ee-wrap">
            <Select label={t("Alignment")} value={block.align} options={ALIGN()} readOnly={readOnly}
              onChange={(align) => set({ align })} />
            <Color label={t("Colour")} value={block.color} readOnly={readOnly} onChange={(color) => set({ color })} />
            <Color label={t("Text colour")} value={block.text_color} readOnly={readOnly}
              onChange={(text_color) => set({ text_color })} />
          </div>
        </>
      );
    case "image":
      return <ImageFields block={block} set={set} readOnly={readOnly} kind={kind} media={media} width={width} />;
    case "divider":
      return <Color label={t("Colour")} value={block.color} readOnly={readOnly} onChange={(color) => set({ color })} />;
    case "spacer":
      return (
        <NumberInput label={t("Height (pixels)")} value={block.height} min={4} max={200} readOnly={readOnly}
          onChange={(height) => set({ height })} />
      );
    case "appointment":
      return (
        <>
          <p className="ee-muted">
            {t("Shows the date and time of the appointment that started the campaign; nothing when there is none.")}
          </p>
          <Check label={t("Show the calendar")} value={block.show_calendar} readOnly={readOnly}
            onChange={(v) => set({ show_calendar: v })} />
          <Check label={t("Show the end")} value={block.show_end} readOnly={readOnly}
            onChange={(v) => set({ show_end: v })} />
          <Check label={t("Add-to-calendar hint (needs the .ics attachment)")} value={block.calendar_hint}
            readOnly={readOnly} onChange={(v) => set({ calendar_hint: v })} />
        </>
      );
    default:
      return null;
  }
}

export { Select, NumberInput, Color, Check };
