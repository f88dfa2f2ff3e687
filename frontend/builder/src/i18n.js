// The builder's words in German and English; the page tells which language to speak.
const DE = {
  "Events": "Ereignisse",
  "Actions": "Aktionen",
  "Waits": "Wartezeiten",
  "Conditions": "Bedingungen",
  "Drag an element onto the canvas, or click it to add it.": "Element auf die Arbeitsfläche ziehen oder anklicken, um es hinzuzufügen.",
  "Save": "Speichern",
  "Saving…": "Speichere…",
  "Saved.": "Gespeichert.",
  "Activate": "Aktivieren",
  "Pause": "Pausieren",
  "Unsaved changes": "Ungespeicherte Änderungen",
  "Campaign name": "Name der Kampagne",
  "Loading…": "Lade…",
  "Could not load the campaign.": "Die Kampagne konnte nicht geladen werden.",
  "The campaign could not be saved:": "Die Kampagne konnte nicht gespeichert werden:",
  "Saved with warnings:": "Gespeichert, mit Hinweisen:",
  "Save your changes before activating.": "Speichern Sie Ihre Änderungen vor dem Aktivieren.",
  "Draft": "Entwurf",
  "Active": "Aktiv",
  "Paused": "Pausiert",
  "entered": "eingetreten",
  "completed": "abgeschlossen",
  "waiting": "wartend",
  "skipped": "übersprungen",
  "failed": "fehlgeschlagen",
  "Settings": "Einstellungen",
  "Cancel": "Abbrechen",
  "Apply": "Übernehmen",
  "Close": "Schliessen",
  "Delete element": "Element löschen",
  "Not configured yet: double-click to set it up.": "Noch nicht eingerichtet: Doppelklick zum Einrichten.",
  "yes": "ja",
  "no": "nein",
  "Double-click an element to open its settings. Connect elements by dragging from the dot at the bottom to the next element.":
    "Doppelklick auf ein Element öffnet seine Einstellungen. Elemente verbinden: vom Punkt unten zum nächsten Element ziehen.",
  "You can look at this campaign but not change it.": "Sie können diese Kampagne ansehen, aber nicht ändern.",
  "Contacts and history": "Kontakte und Verlauf",
  "Reset all contacts": "Alle Kontakte zurücksetzen",
  "Contacts reset:": "Zurückgesetzte Kontakte:",
  // eTermin dialog
  "eTermin account": "eTermin-Konto",
  "Calendar": "Kalender",
  "All calendars (also ones created later)": "Alle Kalender (auch später erstellte)",
  "Loading calendars from eTermin…": "Lade Kalender von eTermin…",
  "The calendars could not be loaded from eTermin:": "Die Kalender konnten nicht von eTermin geladen werden:",
  "React to": "Reagieren auf",
  "Appointment created": "Termin erstellt",
  "Appointment edited": "Termin geändert",
  "Appointment deleted": "Termin gelöscht",
  "\"Deleted\" only reacts to appointments that an element reacting to \"created\" or \"edited\" took in before (in this or another campaign).":
    "«Gelöscht» reagiert nur auf Termine, die vorher ein Element für «erstellt» oder «geändert» aufgenommen hat (in dieser oder einer anderen Kampagne).",
  "Field for the start": "Feld für den Beginn",
  "Field for the end": "Feld für das Ende",
  "— none —": "— keines —",
  "Only date and date-time fields are offered.": "Nur Datums- und Datum-Zeit-Felder werden angeboten.",
  "Save notes": "Notizen speichern",
  "The remarks the customer left when booking are added to the contact as a note.":
    "Die Bemerkungen, die der Kunde bei der Buchung hinterlassen hat, werden als Notiz beim Kontakt gespeichert.",
  "Use the eTermin newsletter checkbox": "Newsletter-Checkbox von eTermin verwenden",
  "Only customers who ticked eTermin's newsletter checkbox enter; otherwise everyone who books enters.":
    "Nur Kunden, die in eTermin die Newsletter-Checkbox angekreuzt haben, treten ein; sonst alle, die buchen.",
  "Contacts from eTermin arrive as single opt-in: send a double opt-in email before any marketing email.":
    "Kontakte aus eTermin kommen als Single-Opt-in an: Senden Sie vor jeder Marketing-E-Mail eine Double-Opt-in-E-Mail.",
  "No eTermin account is connected yet. Connect one under Settings → API info → eTermin.":
    "Noch kein eTermin-Konto verbunden. Verbinden Sie eines unter Einstellungen → API-Info → eTermin.",
  "Choose…": "Auswählen…",
  "Comma-separated": "Durch Kommas getrennt",
  "this campaign": "diese Kampagne",
  "Continue": "Fortfahren",
  "Stop": "Anhalten",
  "minutes": "Minuten",
  "Reset all contacts of this campaign? Each may run through it once more.":
    "Alle Kontakte dieser Kampagne zurücksetzen? Jeder kann sie danach noch einmal durchlaufen.",
  "Leave without saving?": "Ohne Speichern verlassen?",
  "Nothing to do: the campaign is unchanged.": "Nichts zu tun: die Kampagne ist unverändert.",
  "Request failed": "Anfrage fehlgeschlagen",
  "Element": "Element",
  // element type labels and config fields
  "eTermin appointment": "eTermin-Termin",
  "eTermin": "eTermin",
  "Tag added": "Tag hinzugefügt",
  "Double opt-in confirmed": "Double-Opt-in bestätigt",
  "Send email": "E-Mail senden",
  "Send double opt-in email": "Double-Opt-in-E-Mail senden",
  "Add / remove tags": "Tags hinzufügen / entfernen",
  "Set field": "Feld setzen",
  "Reset campaign": "Kampagne zurücksetzen",
  "Stop campaign": "Kampagne anhalten",
  "Wait": "Warten",
  "Wait until field date": "Warten bis Feld-Datum",
  "Has tag?": "Hat Tag?",
  "Field matches?": "Feld passt?",
  "Email status?": "E-Mail-Status?",
  "Tag": "Tag",
  "Email": "E-Mail",
  "Add tags": "Tags hinzufügen",
  "Remove tags": "Tags entfernen",
  "Field": "Feld",
  "Value": "Wert",
  "Campaign": "Kampagne",
  "Minutes": "Minuten",
  "Offset in minutes (negative = before)": "Versatz in Minuten (negativ = davor)",
  "If the time has passed": "Wenn der Zeitpunkt vorbei ist",
  "Operator": "Operator",
  "Statuses": "Status",
  "Status": "Status",
};

let language = "de";

export function setLanguage(code) {
  language = code && code.startsWith("en") ? "en" : "de";
}

export function getLanguage() {
  return language;
}

export function t(text) {
  if (language === "de" && Object.prototype.hasOwnProperty.call(DE, text)) {
    return DE[text];
  }
  return text;
}
