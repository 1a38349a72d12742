"""Every word on the pages, in Swedish (default) and English: plain words, no jargon."""

from __future__ import annotations

from typing import Literal

Language = Literal["sv", "en"]
LANGUAGES: tuple[Language, ...] = ("sv", "en")

TEXTS: dict[str, tuple[str, str]] = {
    "app_name": ("Orosanmälningar", "Reports of concern"),
    "skip_to_content": ("Hoppa till innehållet", "Skip to content"),
    "main_menu": ("Huvudmeny", "Main menu"),
    "start": ("Start", "Start"),
    "my_referrals": ("Mina ärenden", "My referrals"),
    "incoming": ("Inkommande", "Incoming"),
    "team_board": ("Teamets tavla", "Team board"),
    "overview": ("Översikt", "Overview"),
    "sign_in": ("Logga in", "Sign in"),
    "sign_out": ("Logga ut", "Sign out"),
    "signed_in_as": ("Inloggad som", "Signed in as"),
    "signin_failed": (
        "Inloggningen gick inte igenom. Försök igen.",
        "Signing in did not succeed. Try again.",
    ),
    "signed_out": ("Du är utloggad.", "You are signed out."),
    "language": ("Språk", "Language"),
    "change_language": ("Byt språk", "Change language"),
    "welcome": ("Ditt arbete", "Your work"),
    "on_duty_now": ("I tjänst nu", "On duty now"),
    "arriving_now_goes_to": (
        "En anmälan som kommer in nu går till",
        "A referral arriving now goes to",
    ),
    "until": ("till", "until"),
    "referral": ("Ärende", "Referral"),
    "team": ("Team", "Team"),
    "caseworker": ("Handläggare", "Caseworker"),
    "status": ("Status", "Status"),
    "received": ("Inkom", "Received"),
    "deadline": ("Nästa tidsgräns", "Next deadline"),
    "registered": ("Registrerad", "Registered"),
    "yes": ("Ja", "Yes"),
    "no": ("Nej", "No"),
    "acute": ("Akut", "Acute"),
    "no_referrals": ("Inga ärenden just nu.", "No referrals right now."),
    "open": ("Öppna", "Open"),
    "deadlines": ("Tidsgränser", "Deadlines"),
    "state_ok": ("I tid", "On time"),
    "state_approaching": ("Snart", "Due soon"),
    "state_breached": ("Försenad", "Overdue"),
    "state_met": ("Klar", "Done"),
    "state_stopped": ("Stoppad", "Stopped"),
    "due_today": ("ska vara klar i dag", "due today"),
    "due_in_days": ("ska vara klar om {n} dagar", "due in {n} days"),
    "due_in_one_day": ("ska vara klar i morgon", "due tomorrow"),
    "due_in_hours": ("ska vara klar om {n} timmar", "due in {n} hours"),
    "overdue_days": ("försenad {n} dagar", "overdue by {n} days"),
    "overdue_one_day": ("försenad 1 dag", "overdue by 1 day"),
    "overdue_one_hour": ("försenad 1 timme", "overdue by 1 hour"),
    "due_in_one_hour": ("ska vara klar om 1 timme", "due in 1 hour"),
    "overdue_hours": ("försenad {n} timmar", "overdue by {n} hours"),
    "done_at": ("klar {at}", "done {at}"),
    "clock_protection_assessment": ("Skyddsbedömning", "Protection assessment"),
    "clock_preliminary_assessment": ("Förhandsbedömning", "Preliminary assessment"),
    "clock_investigation": ("Utredning", "Investigation"),
    "clock_reporter_feedback": ("Återkoppling till anmälare", "Feedback to the reporter"),
    "clock_registration": ("Registrering", "Registration"),
    "actions": ("Åtgärder", "Actions"),
    "acknowledge": ("Kvittera", "Acknowledge"),
    "protection_assessment": ("Skyddsbedömning", "Protection assessment"),
    "no_immediate_need": ("Inget omedelbart skyddsbehov", "No immediate need of protection"),
    "immediate_protection": ("Omedelbart skyddsbehov", "Immediate need of protection"),
    "decision": ("Beslut", "Decision"),
    "open_investigation": ("Inleda utredning", "Open an investigation"),
    "no_investigation": ("Inte inleda utredning", "Do not open an investigation"),
    "joined_ongoing": ("Läggs till pågående utredning", "Joined to an ongoing investigation"),
    "close": ("Avsluta utredningen", "Close the investigation"),
    "save": ("Spara", "Save"),
    "registration": ("Diarienummer", "Case number"),
    "case_number": ("Diarienummer i verksamhetssystemet", "Case number in the system of record"),
    "reassign": ("Flytta till annan handläggare", "Reassign to another caseworker"),
    "reason": ("Skäl", "Reason"),
    "dossier": ("Anmälan i sin helhet", "The full report"),
    "open_dossier": ("Läs anmälan", "Read the report"),
    "access_logged": (
        "Din läsning loggas. Läs bara om du behöver det i ditt arbete.",
        "Your reading is logged. Read only if your work needs it.",
    ),
    "load": ("Belastning", "Load"),
    "my_load": ("Min belastning", "My load"),
    "load_of_capacity": ("{load} av {capacity} ärenden", "{load} of {capacity} cases"),
    "open_cases": ("Öppna ärenden", "Open cases"),
    "absences": ("Frånvaro", "Absences"),
    "add_absence": ("Lägg till frånvaro", "Add an absence"),
    "starts_on": ("Första dag", "First day"),
    "ends_on": ("Sista dag", "Last day"),
    "kind": ("Typ", "Kind"),
    "kind_leave": ("Ledighet", "Leave"),
    "kind_sick": ("Sjuk", "Sick"),
    "kind_course": ("Kurs", "Course"),
    "kind_other": ("Annat", "Other"),
    "person": ("Person", "Person"),
    "breached_count": ("Försenade", "Overdue"),
    "approaching_count": ("Snart", "Due soon"),
    "imbalance": ("Obalans i belastning (högst ÷ lägst)", "Load imbalance (highest ÷ lowest)"),
    "mentor": ("Mentor", "Mentor"),
    "forbidden_title": ("Du har inte behörighet", "You do not have access"),
    "forbidden_text": (
        "Du har inte behörighet till det du försökte öppna. Vi säger inte om ärendet finns. "
        "Behöver du det i ditt arbete, kontakta din chef.",
        "You do not have access to what you tried to open. We do not say whether the referral "
        "exists. If your work needs it, contact your manager.",
    ),
    "csrf_title": ("Formuläret kunde inte skickas", "The form could not be sent"),
    "csrf_text": (
        "Formuläret saknade en giltig säkerhetskod. Gå tillbaka, ladda om sidan och försök igen.",
        "The form had no valid security code. Go back, reload the page and try again.",
    ),
    "not_found_title": ("Sidan finns inte", "Page not found"),
    "error_title": ("Något gick fel", "Something went wrong"),
    "upstream_unavailable": (
        "Systemet svarar inte just nu. Försök igen om en stund.",
        "The system is not answering right now. Try again in a moment.",
    ),
    "rejected": ("Det gick inte att spara: {reason}", "Could not save: {reason}"),
    "saved": ("Sparat.", "Saved."),
    "back_to_start": ("Till startsidan", "Back to the start page"),
    "no_role": (
        "Ditt konto har ingen roll i enheten. Kontakta din chef.",
        "Your account has no role in the unit. Contact your manager.",
    ),
    "updated_at": ("Uppdaterad {at}", "Updated {at}"),
    "status_assigned": ("Tilldelad", "Assigned"),
    "status_acknowledged": ("Kvitterad", "Acknowledged"),
    "status_protection_assessed": ("Skyddsbedömd", "Protection assessed"),
    "status_decided": ("Beslutad", "Decided"),
    "status_investigating": ("Under utredning", "Being investigated"),
    "status_closed": ("Avslutad", "Closed"),
}


def text(key: str, language: Language, **values: object) -> str:
    """The text `key` in `language`, with `{name}` placeholders filled; the key itself if unknown."""
    pair = TEXTS.get(key)
    if pair is None:
        return key
    chosen = pair[0] if language == "sv" else pair[1]
    return chosen.format(**values) if values else chosen


def language_or_default(value: str | None) -> Language:
    """A supported language code, Swedish unless English was asked for."""
    return "en" if value == "en" else "sv"
