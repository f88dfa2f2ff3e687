// The placeholder menu: a select, so it works from the keyboard and with screen readers.
import { t } from "./i18n.js";

export function PlaceholderMenu({ groups, onPick }) {
  return (
    <select
      className="ee-placeholders"
      aria-label={t("Insert placeholder")}
      data-testid="placeholder-menu"
      value=""
      onChange={(event) => {
        const value = event.target.value;
        for (const group of groups) {
          const item = group.items.find((i) => i.value === value);
          if (item) {
            onPick(item);
            break;
          }
        }
      }}
    >
      <option value="">{t("Insert placeholder…")}</option>
      {groups.map((group) => (
        <optgroup key={group.label} label={group.label}>
          {group.items.map((item) => (
            <option key={item.value} value={item.value}>
              {item.label}
            </option>
          ))}
        </optgroup>
      ))}
    </select>
  );
}
