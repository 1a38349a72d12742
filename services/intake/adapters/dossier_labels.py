"""Swedish wording of the printable dossier (`dossier_print.py`): headings, field labels and the
codes a dossier carries. A code without a wording here is printed as it is."""

from __future__ import annotations

MASKED = "Skyddad – visas inte"
SECRECY = "Sekretess enligt OSL 26 kap. 1 §"
MISSING = "–"

KIND = {"report": "Orosanmälan", "application": "Ansökan"}
CHANNEL = {
    "e_service": "E-tjänst",
    "phone": "Telefon",
    "letter": "Brev",
    "email": "E-post",
    "sdk": "Säker digital kommunikation",
    "visit": "Besök",
}
REPORTER_TYPE = {
    "health_care": "Hälso- och sjukvård",
    "dental_care": "Tandvård",
    "social_services": "Socialtjänst",
    "lss": "LSS-verksamhet",
    "preschool": "Förskola",
    "school": "Skola",
    "after_school": "Fritidshem",
    "police": "Polis",
    "security_guard": "Väktare",
    "employment_service": "Arbetsförmedlingen",
    "social_insurance": "Försäkringskassan",
    "prison_probation": "Kriminalvården",
    "enforcement": "Kronofogden",
    "coast_guard": "Kustbevakningen",
    "county_board": "Länsstyrelsen",
    "migration": "Migrationsverket",
    "forensic_medicine": "Rättsmedicinalverket",
    "tax_agency": "Skatteverket",
    "security_service": "Säkerhetspolisen",
    "customs": "Tullverket",
    "prosecution": "Åklagarmyndigheten",
    "other_authority": "Annan myndighet",
    "private_business": "Enskild verksamhet",
    "family_counselling": "Familjerådgivning",
    "private_person": "Privatperson",
    "relative": "Anhörig",
    "child_self": "Barnet självt",
    "guardian": "Vårdnadshavare",
}
CATEGORY = {
    "violence": "Våld",
    "violence_witnessed": "Bevittnat våld",
    "sexual_abuse": "Sexuella övergrepp",
    "neglect": "Försummelse",
    "honour_related": "Hedersrelaterat våld och förtryck",
    "substance_abuse_home": "Missbruk i hemmet",
    "own_behaviour": "Eget beteende",
    "crime_risk": "Risk för brottslighet",
    "mental_health": "Psykisk ohälsa",
    "other": "Annat",
}
# The dossier's `deadlines` (domain/dossier.py), in print order.
DEADLINE = (
    ("protection_assessment_due", "Skyddsbedömning"),
    ("preliminary_assessment_due", "Förhandsbedömning"),
    ("investigation_due", "Utredning"),
    ("feedback_due", "Återkoppling till anmälaren"),
)
STATUS = {
    "assigned": "Fördelad",
    "acknowledged": "Kvitterad",
    "protection_assessed": "Skyddsbedömd",
    "investigating": "Utredning pågår",
    "closed": "Avslutad",
    "no_investigation": "Ingen utredning",
    "joined_ongoing": "Ingår i pågående utredning",
}

SEX = {"girl": "Flicka", "boy": "Pojke", "other": "Annat", "unknown": "Okänt"}

# Field labels by section, in print order.
CHILD = (
    ("name", "Namn"),
    ("personal_number", "Personnummer"),
    ("birth_date", "Födelsedatum"),
    ("sex", "Kön"),
    ("school", "Skola"),
    ("protected_identity", "Skyddade personuppgifter"),
)
GUARDIAN = (("name", "Namn"), ("personal_number", "Personnummer"), ("informed", "Känner till anmälan"))
REPORTER = (
    ("type", "Typ"),
    ("anonymous", "Anonym"),
    ("name", "Namn"),
    ("organisation", "Organisation"),
    ("role", "Befattning"),
    ("phone", "Telefon"),
    ("email", "E-post"),
    ("feedback_requested", "Vill ha återkoppling"),
)
CONCERN = (
    ("categories", "Kategorier"),
    ("acute_danger", "Akut fara"),
    ("child_location", "Var barnet är nu"),
    ("interpreter_language", "Tolkbehov"),
    ("description", "Beskrivning"),
)
ASSIGNMENT = (
    ("team", "Team"),
    ("caseworker", "Handläggare"),
    ("mentor", "Mentor"),
    ("status", "Status"),
    ("protection_assessed", "Skyddsbedömd"),
)
REGISTRATION = (
    ("system_case_number", "Diarienummer"),
    ("registered_at", "Registrerad"),
    ("registered_by", "Av"),
)
CODES = {
    "child.sex": SEX,
    "reporter.type": REPORTER_TYPE,
    "concern.categories": CATEGORY,
    "assignment.status": STATUS,
}
