// Rich text for a text block: a contenteditable with a small toolbar (bold, italic, underline,
// link, lists) and the placeholder menu. It is uncontrolled while focused (React re-rendering
// the HTML would move the caret); the server keeps only the allowed tags anyway.
import { useEffect, useRef } from "react";
import { t } from "./i18n.js";
import { PlaceholderMenu } from "./PlaceholderMenu.jsx";
import { isLinkPlaceholder } from "./placeholders.js";

function escapeHtml(text) {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

export function RichText({ html, onChange, readOnly, groups, label }) {
  const ref = useRef(null);
  const range = useRef(null);

  useEffect(() => {
    const el = ref.current;
    if (el && el.innerHTML !== html && document.activeElement !== el) el.innerHTML = html;
  }, [html]);

  function remember() {
    const selection = window.getSelection();
    if (selection && selection.rangeCount && ref.current.contains(selection.anchorNode)) {
      range.current = selection.getRangeAt(0).cloneRange();
    }
  }

  function restore() {
    const el = ref.current;
    el.focus();
    document.execCommand("defaultParagraphSeparator", false, "p");
    const selection = window.getSelection();
    if (range.current && el.contains(range.current.startContainer)) {
      selection.removeAllRanges();
      selection.addRange(range.current);
    } else {
      const end = document.createRange();
      end.selectNodeContents(el.lastChild && el.lastChild.nodeName === "P" ? el.lastChild : el);
      end.collapse(false);
      selection.removeAllRanges();
      selection.addRange(end);
    }
  }

  function changed() {
    remember();
    onChange(ref.current.innerHTML);
  }

  function command(name, value = null) {
    restore();
    document.execCommand(name, false, value);
    changed();
  }

  function link() {
    const url = window.prompt(t("Web address of the link (https://…)"), "https://");
    if (url && url !== "https://") command("createLink", url.trim());
  }

  function insert(item) {
    restore();
    const selection = window.getSelection();
    if (isLinkPlaceholder(item.value)) {
      if (selection && !selection.isCollapsed) {
        document.execCommand("createLink", false, item.value);
      } else {
        document.execCommand(
          "insertHTML",
          false,
          `<a href="${escapeHtml(item.value)}">${escapeHtml(item.text || item.label)}</a>&nbsp;`,
        );
      }
    } else {
      document.execCommand("insertText", false, item.value);
    }
    changed();
  }

  const tools = [
    ["bold", "B", t("Bold")],
    ["italic", "I", t("Italic")],
    ["underline", "U", t("Underline")],
  ];
  return (
    <div className="ee-rich">
      {!readOnly && (
        <div className="ee-toolbar" role="toolbar" aria-label={label}>
          {tools.map(([name, text, title]) => (
            <button
              key={name}
              type="button"
              className={`ee-tool ee-tool-${name}`}
              title={title}
              aria-label={title}
              onMouseDown={(e) => e.preventDefault()}
              onClick={() => command(name)}
            >
              {text}
            </button>
          ))}
          <button type="button" className="ee-tool" title={t("Link")} aria-label={t("Link")}
            onMouseDown={(e) => e.preventDefault()} onClick={link}>{t("Link")}</button>
          <button type="button" className="ee-tool" title={t("Bulleted list")} aria-label={t("Bulleted list")}
            onMouseDown={(e) => e.preventDefault()} onClick={() => command("insertUnorderedList")}>•</button>
          <button type="button" className="ee-tool" title={t("Numbered list")} aria-label={t("Numbered list")}
            onMouseDown={(e) => e.preventDefault()} onClick={() => command("insertOrderedList")}>1.</button>
          <PlaceholderMenu groups={groups} onPick={insert} />
        </div>
      )}
      <div
        ref={ref}
        className="ee-editable"
        contentEditable={!readOnly}
        suppressContentEditableWarning
        role="textbox"
        aria-multiline="true"
        aria-label={label}
        data-testid="rich-text"
        onInput={changed}
        onKeyUp={remember}
        onMouseUp={remember}
        onBlur={remember}
        onFocus={() => document.execCommand("defaultParagraphSeparator", false, "p")}
      />
    </div>
  );
}
