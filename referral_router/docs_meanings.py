"""One-line meanings for docs/CONFIGURATION.md; names, types and defaults come from the models.

Keyed by environment variable (settings) or `Model.key` (unit config). A key missing here leaves
an empty cell, and tests/unit/test_docs.py fails, so a new setting cannot go undocumented.
"""

SETTING_MEANINGS: dict[str, str] = {
    # The staff web app (services/web, docs/WEB.md).
    "OIDC__ISSUER": "Web app: the OpenID provider's issuer URL; discovery is read from "
    "`/.well-known/openid-configuration`. The dev stack's is the dev provider on `DEV_OIDC_PORT`.",
    "OIDC__CLIENT_ID": "Web app: its client id at the provider, also the ID token's audience.",
    "OIDC__CLIENT_SECRET": "Web app: the client secret, sent with `client_secret_post`.",
    "OIDC__REDIRECT_URL": "Web app: `<its address>/auth/callback`, registered at the provider.",
    "OIDC__SCOPE": "Web app: the scopes asked for.",
    "OIDC__STAFF_ID_CLAIM": "Web app: the claim holding the unit file's staff id (e.g. `oid`, "
    "`preferred_username`).",
    "OIDC__ROLES_CLAIM": "Web app: the claim (or dotted path, e.g. `realm_access.roles`) holding the "
    "roles; roles other than caseworker, intake, manager and head_of_unit are dropped.",
    "OIDC__UPSTREAM_TOKEN": "Web app: the token sent to the staff APIs as the user: the access token "
    "(a JWT for the APIs' audience at Entra ID or Keycloak), or the ID token where access tokens are "
    "opaque (the dev provider; the APIs then accept the web app's client id as `AUTH__AUDIENCE`).",
    "UPSTREAM__ASSIGNMENT_URL": "Web app: assignment's staff API.",
    "UPSTREAM__INTAKE_URL": "Web app: intake's staff API.",
    "UPSTREAM__TIMEOUT_S": "Web app: timeout of each call to a staff API.",
    "SESSION__IDLE_MINUTES": "Web app: a session unused this long is deleted; the next page asks for "
    "sign-in and comes back.",
    "SESSION__HTTPS_ONLY": "Web app: `Secure` session cookie and HSTS. Only the dev stack, on plain "
    "HTTP at 127.0.0.1, turns it off.",
    "KAFKA__BOOTSTRAP_SERVERS": "Kafka bootstrap servers, comma-separated `host:port`.",
    "KAFKA__FLAVOUR": "`apache` turns on idempotent producing; Tansu does not support it. Correctness "
    "never depends on it.",
    "KAFKA__PARTITIONS": "Partitions of the topics a service creates at start-up (topics are never "
    "auto-created). The ceiling for consumers per group.",
    "KAFKA__REPLICATION_FACTOR": "Replication factor of created topics (3 on a production cluster).",
    "KAFKA__TOPIC_PREFIX": "Prefix for every topic and consumer group; isolates test runs or "
    "tenants on a shared cluster.",
    "KAFKA__REQUEST_TIMEOUT_MS": "Kafka client request timeout.",
    "KAFKA__FETCH_MAX_WAIT_MS": "While records flow, how long a consumer's fetch waits for "
    "`KAFKA__FETCH_MIN_BYTES` to gather: under load a batch (one transaction, one offset commit) then "
    "holds several events; adds at most this much latency per hop.",
    "KAFKA__IDLE_FETCH_MAX_WAIT_MS": "Once a consumer's topics are quiet (a poll found nothing for a "
    "second), how long its fetch waits for a single byte, so a system at rest costs almost nothing. "
    "Must be less than `KAFKA__REQUEST_TIMEOUT_MS`. Unset: 20000 on Apache Kafka, which answers as "
    "soon as a record arrives; 1200 on Tansu, which polls while a fetch waits and so may answer a "
    "record up to about 0.4 of the wait late (docs/PERFORMANCE.md, Idle).",
    "KAFKA__SESSION_TIMEOUT_MS": "How long a consumer may go without a heartbeat (sent every third "
    "of it) before it leaves its group and its partitions go to another instance. Tansu holds a new "
    "member's first join for about half of it, which every start waits for; Apache Kafka refuses "
    "less than its `group.min.session.timeout.ms` (6000 by default).",
    "KAFKA__FETCH_MIN_BYTES": "How many bytes a consumer's fetch waits for (at most "
    "`KAFKA__FETCH_MAX_WAIT_MS`); unset: 65536 on Apache Kafka, 1 on Tansu (which spins while it "
    "waits).",
    "DATABASE__URL": "Postgres URL (holds the password). Each service uses its own schema in it.",
    "DATABASE__MIN_POOL_SIZE": "Connections kept open.",
    "DATABASE__MAX_POOL_SIZE": "Most connections per process; requests and handlers queue beyond it.",
    "DATABASE__CONNECT_TIMEOUT_S": "Timeout for opening a connection.",
    "OUTBOX__POLL_INTERVAL_S": "How often the relay looks for unpublished rows when LISTEN/NOTIFY "
    "did not wake it: only the safety net for a notification lost meanwhile (a committed row's NOTIFY, "
    "or its listening connection dropping, wakes it at once). At rest, one wake-up and one query "
    "per interval.",
    "OUTBOX__BATCH_SIZE": "Outbox rows published per round.",
    "OUTBOX__LINGER_S": "After a wake-up, how long the relay waits before selecting rows, so rows "
    "committed meanwhile go out in the same round; adds at most this much latency.",
    "OUTBOX__MAX_BACKOFF_S": "Longest wait between relay retries while Kafka or Postgres is away.",
    "CONSUMER__RETRY_INITIAL_S": "First wait before a handler retries a transient failure (doubles).",
    "CONSUMER__RETRY_MAX_S": "Longest wait between handler retries.",
    "CONSUMER__RETRY_BUDGET_S": "How long a handler retries a transient failure (database down) before "
    "it gives up and leaves the offset uncommitted for redelivery.",
    "CONSUMER__POISON_ATTEMPTS": "Attempts in all for a record that fails for any other reason (a bug, "
    "a value no rule foresaw) before it is dead-lettered, so no record can stall its partition.",
    "CONSUMER__LOG_INTERVAL_S": "A failing loop (retries, a record that keeps failing) writes at most one "
    "log line per kind and topic this often, with the number left out.",
    "DEV_CLOCK__START": "Dev and tests only: the instant assignment's and notifications' clock reads "
    "at `DEV_CLOCK__SINCE` (unset: the real clock). `referral-router dev --accelerate` sets all three.",
    "DEV_CLOCK__SINCE": "Dev and tests only: the real instant at which the clock reads "
    "`DEV_CLOCK__START` (unset: when the service starts).",
    "DEV_CLOCK__RATE": "Dev and tests only: how many times faster than real time that clock runs; it "
    "never runs ahead of the real time.",
    "LOG__LEVEL": "JSON logs on stdout, with identity numbers, phone numbers and emails masked.",
    "UNIT_CONFIG_PATH": "The unit file (see below). Read by intake (who holds which position, for the "
    "dossier's need-to-know rule), assignment, notifications and metrics, and by the web app (office "
    "hours and assignment policy for the on-duty panel, who manages which team).",
    "HTTP__HOST": "Listen address (`0.0.0.0` in containers).",
    "PUBLIC_URL": "Assignment only: the base URL staff reach assignment's API at. Calendar subscription "
    "links (`/v1/rotation/calendar/{token}.ics`) start with it, so Outlook must reach it. The dev stack "
    "sets `http://127.0.0.1:<assignment port>`.",
    "HTTP__API_DOCS": "Serve `/docs`, `/redoc` and `/openapi.json` (no token needed). Off by default: "
    "they describe every endpoint to anyone who can reach the service. The dev stack turns them on. "
    "The web app serves none, whatever this says.",
    "HTTP__PORT": "Listen port: portal API, staff API, health and `/metrics`; the web app's pages.",
    "PORTAL__CLIENTS": 'JSON `{"<client id>": ["<secret>", ...]}`; every listed secret is accepted, '
    "so a secret can rotate without downtime.",
    "PORTAL__MAX_AGE_DAYS": "How far back a form's `submitted_at` may lie; older is refused (422, or the "
    "Open ePlatform instance is rejected) instead of breaching every legal clock on arrival. Times "
    "outside 2000-2100 are always refused.",
    "CRYPTO__KEYS": 'JSON `{"<key id>": "<base64 of 32 random bytes>"}`: AES-256-GCM key-encryption '
    "keys wrapping each submission's data key (and keys of rows from before data keys); old keys "
    "stay until `python -m services.intake.rekey` is done.",
    "CRYPTO__CURRENT_KEY": "The key id new data keys are wrapped with; must be in `CRYPTO__KEYS`.",
    "CRYPTO__PEPPER": "HMAC pepper of the pseudonymous `child_key`/`family_key`. Never change it once "
    "data exists (families would split).",
    "OEP__BASE_URL": "Open ePlatform installation, e.g. `https://e-tjanster.example.se`. Setting the "
    "`OEP__…` group turns polling on.",
    "OEP__USERNAME": "Basic-auth user of the integration account (REST and callback).",
    "OEP__PASSWORD": "Its password.",
    "OEP__FAMILIES": 'JSON list of e-service family ids to poll, e.g. `["101"]`.',
    "OEP__MAPPING_PATH": "Tag mapping from the form's XML tags to the referral model, e.g. "
    "`deploy/config/oeplatform.orosanmalan.yaml`.",
    "OEP__CALLBACK_PATH": "Path of the SOAP callback service (confirmDelivery, setStatus).",
    "OEP__START_DATE": "On the very first run, poll instances submitted from this date.",
    "OEP__POLL_INTERVAL_S": "Seconds between poll rounds.",
    "OEP__MAX_ATTEMPTS": "Attempts before an instance that cannot be mapped is rejected in the portal.",
    "OEP__STATUS_RECEIVED": "Status alias set in the portal after a referral is stored. It must exist "
    "in the installation (the e-service's statuses; real ones seen: `Inskickat`, `Klart`, `Preliminär`); "
    "an unknown one is refused with the fault text `Status with alias … not found`, logged, and tried "
    "again every round.",
    "OEP__STATUS_REJECTED": "Status alias set when an instance is rejected; must exist likewise.",
    "OEP__EXTERNAL_SYSTEM": "`System` of the ExternalID registered in the portal.",
    "OEP__TIMEOUT_S": "HTTP timeout towards the portal.",
    "OEP__MAX_BACKOFF_S": "Longest pause after failed rounds in a row (portal away, or answering a list "
    "request with another document): the pause doubles from `OEP__POLL_INTERVAL_S` up to this.",
    "OEP__LIST_DAYS": "When set, each listing asks for at most this many days from the cursor "
    "(`toDate`), and a window that ended before today moves the cursor to its end, also when it was "
    "empty; unset lists everything from the cursor on.",
    "OEP__MAX_FILE_BYTES": "Largest uploaded file taken (by its declared and its fetched size); an "
    "instance with a larger one fails, is kept raw and can be re-mapped after raising this.",
    "OEP__FETCH_PDF": "Fetch the instance's PDF and keep it encrypted with the referral.",
    "ASSIGNMENT__URL": "Intake: assignment's staff API, asked for a referral's state (with the reader's "
    "own token) when intake's access projection has not yet caught up with an assignment.",
    "ASSIGNMENT__TIMEOUT_S": "Intake: how long to wait for it; a reader then gets 503 with `Retry-After` "
    "and the attempt is logged as refused (fail closed).",
    "DOSSIER__BREAK_GLASS_HOURS": "How long a break-the-glass grant lets its holder read the referral.",
    "ACCESS_REVIEW__VOLUME_FLOOR": "Monthly access-log review: distinct referrals a month below which "
    "nobody's volume stands out.",
    "ACCESS_REVIEW__VOLUME_FACTOR": "Above the floor, a staff member's distinct referrals stand out at this "
    "many times the month's median.",
    "ACCESS_REVIEW__CHECK_INTERVAL_S": "Seconds between looks whether last month's review is due (it goes "
    "to the head of unit on the first office day, once whatever the number of instances).",
    "FEEDBACK__SMTP_HOST": "SMTP relay for feedback emails to mandatory reporters (19 kap. 6 §); intake "
    "sends them itself, since only intake holds the reporter's address.",
    "FEEDBACK__SMTP_PORT": "Port of that relay (the dev stack's SMTP sink listens on 1025).",
    "FEEDBACK__STARTTLS": "Upgrade the connection with STARTTLS before sending (production: yes).",
    "FEEDBACK__USERNAME": "SMTP user, when the relay asks for authentication.",
    "FEEDBACK__PASSWORD": "SMTP password, when the relay asks for authentication.",
    "FEEDBACK__SENDER": "From address of feedback emails (the unit's functional mailbox).",
    "FEEDBACK__LANGUAGE": "Language of the feedback text, email and letter: `sv` (default) or `en`.",
    "FEEDBACK__TIMEOUT_S": "Seconds one SMTP exchange may take; a connection lost mid-send is never resent.",
    "FEEDBACK__INTERVAL_S": "Seconds between looks for feedback owed and not yet emailed.",
    "AUTH__JWT_SECRET": "HS256 secret for staff tokens (dev stack: `dev-jwt-secret`).",
    "AUTH__JWKS_URL": "Production: JWKS of the municipality's OpenID Connect provider (RS256 tokens). "
    "The dev stack: the dev provider's (`http://127.0.0.1:8090/jwks`), so the web app's tokens pass.",
    "AUTH__ISSUER": "Required `iss` of every token (HS256 too), when set. The dev stack: the dev provider "
    "(`http://127.0.0.1:8090`); `referral-router token` puts it in its tokens (`--iss`).",
    "AUTH__AUDIENCE": "Required `aud` of every token (HS256 too), when set. The dev stack: "
    "`referral-router-web`, the web app's client id; `referral-router token` puts it in (`--aud`).",
    "AUTH__LEEWAY_S": "Clock skew allowed when checking `exp`.",
    "SMTP__HOST": "The municipality's SMTP relay.",
    "SMTP__PORT": "Its port (587 for submission with STARTTLS).",
    "SMTP__STARTTLS": "Upgrade to TLS before authenticating (`false` only for the dev sink or Mailpit).",
    "SMTP__USERNAME": "Relay login, if it needs one.",
    "SMTP__PASSWORD": "Relay password.",
    "SMTP__SENDER": "From address of every message.",
    "SMTP__REPLY_TO": "Reply-To header, e.g. the unit's shared mailbox.",
    "SMTP__TIMEOUT_S": "Total time for one send. A timeout after the hand-over (just before DATA) marks "
    "the delivery `unknown` (never resent); before it, the send is retried.",
    "SMTP__CONNECT_TIMEOUT_S": "Timeout of each SMTP step (connect and every command). A timeout before "
    "DATA is retried; a timeout once the message was handed over marks the delivery `unknown`.",
    "SMTP__CA_FILE": "PEM CA to trust for the relay's STARTTLS certificate; the system store otherwise.",
    "TEAMS__CONNECT_TIMEOUT_S": "Timeout for connecting to a Workflows webhook; retried.",
    "TEAMS__TIMEOUT_S": "Total time for one post; no answer after sending marks it `unknown`.",
    "LINKS__REFERRAL_URL": "Link to one referral in messages, with `{referral_id}` where the reference "
    "goes (e.g. `https://socialtjanst.example.se/referrals/{referral_id}`); the access review links each "
    "reference. Unset: links go under the unit file's `base_url`. Carries only the referral reference.",
    "WORKER__POLL_INTERVAL_S": "The longest the delivery worker waits between rounds: a new delivery's "
    "NOTIFY wakes it, and a quiet round sleeps until the next retry, Teams slot or lease end is due "
    "(at least a second), so this is only the safety net for a lost notification.",
    "WORKER__BATCH_SIZE": "Emails claimed per round.",
    "WORKER__LINGER_S": "After a wake-up, how long the delivery worker waits before claiming, so "
    "deliveries created meanwhile go in the same round; adds at most this much latency.",
    "WORKER__LEASE_S": "A claim older than this means its sender died: the delivery becomes `unknown` if "
    "its message was handed over (just before DATA or the POST), else `pending` again.",
}

UNIT_MEANINGS: dict[str, str] = {
    "UnitConfig.unit": "The unit's name, shown to staff.",
    "UnitConfig.base_url": "Where staff reach the system; links in emails and Teams cards start here.",
    "UnitConfig.teams": "The investigation teams (at least one).",
    "UnitConfig.head_of_unit": "The head of unit (*verksamhetschef*): second step of escalation.",
    "UnitConfig.intake_group": "The intake group (*mottagningsgrupp*): told about new referrals.",
    "UnitConfig.out_of_hours": "The out-of-hours service (*socialjour*): told about acute referrals "
    "outside office hours.",
    "UnitConfig.rotation": "Which team is on duty when.",
    "UnitConfig.office_hours": "Office hours, for deadlines, assignment policy and quiet hours.",
    "UnitConfig.assignment_policy": "`next_office_hours`: a referral received outside office hours goes "
    "to the team on duty when the office next opens; `received_at`: the team on duty at receipt.",
    "UnitConfig.language": "Language of staff-facing text (`sv` default).",
    "UnitConfig.assignment": "How a caseworker is chosen inside the team.",
    "UnitConfig.deadlines": "Legal clocks and reminders.",
    "UnitConfig.notifications": "Who is told about what, and how.",
    "UnitConfig.retention": "The document management plan for intake's working copy: when a "
    "referral's received copy is erased (crypto-shredding; docs/RUNBOOK.md, Retention).",
    "Retention.erase_registered_after_days": "Days after registration in the system of record when "
    "the received copy (details, documents) is erased; `null`: never automatically. Never before "
    "registration, never under a legal hold.",
    "Retention.research_sample_days": "Days of birth (e.g. `[5, 15, 25]`) the archive authority keeps "
    "for research: such children's referrals are never erased automatically. Empty: no sample.",
    "Retention.run_at": "Local (Stockholm) time of day from which the daily run is made.",
    "Retention.check_interval_s": "Seconds between looks whether the daily run is due.",
    "UnitConfig.working_environment": "Issue 22: overload flags, fixed meeting times and consultations, "
    "threats and violence (docs/WORKING_ENVIRONMENT.md).",
    "WorkingEnvironment.occupational_health": "The occupational-health contact: told of every threat, "
    "violence or harassment against staff (no names), and given the quarterly summary.",
    "WorkingEnvironment.partners": "Colleagues elsewhere in social services (role `partner`): they may "
    "book consultations and see nothing else.",
    "WorkingEnvironment.meeting_slots": "Fixed recurring meeting times of the teams; consultations are "
    "booked inside the `consultation` ones.",
    "WorkingEnvironment.overload": "When an unanswered overload flag goes to the head of unit.",
    "WorkingEnvironment.consultation_reminder": "How long before a consultation its reminder is sent "
    "(ISO 8601 duration, e.g. `P1D`).",
    "WorkingEnvironment.booking_horizon_days": "Consultations are booked at most this many days ahead.",
    "OverloadRules.escalate_after_office_hours": "Office hours (Monday–Friday, not public holidays) "
    "after a flag is raised when, unanswered, it goes to the head of unit.",
    "OverloadRules.scan_interval_s": "Seconds between looks for flags due to escalate.",
    "MeetingSlot.id": "Slot id, used in events and calendar UIDs.",
    "MeetingSlot.title": "What staff and partners see, e.g. `Konsultation med öppenvården`.",
    "MeetingSlot.kind": "`consultation` (bookable), `meeting` (fixed, shown) or `handover` (on each "
    "rotation change day, between the two teams).",
    "MeetingSlot.teams": "The teams it belongs to; empty: every team.",
    "MeetingSlot.weekday": "Day of the week (not for `handover`); public holidays are skipped.",
    "MeetingSlot.start": "Local start time.",
    "MeetingSlot.end": "Local end time.",
    "MeetingSlot.booking_minutes": "Length of one consultation booked inside a `consultation` slot.",
    "MeetingSlot.counterpart": "Who the meeting is with, e.g. `Öppenvården`.",
    "Team.id": "Team id used in events, metrics and the rotation (`team-a`).",
    "Team.name": "Display name.",
    "Team.manager": "The team's manager (*enhetschef*).",
    "Team.members": "Caseworkers; only members with role `caseworker` are assigned referrals.",
    "Team.teams_webhook": "The team channel's Workflows webhook URL. **A secret** (it embeds a "
    "signature); never logged.",
    "Person.id": "Staff id: lowercase letters, digits, `-`; the `sub` of their staff token.",
    "Person.name": "Staff name (staff names may appear in messages; client names never do).",
    "Person.email": "Where their email goes.",
    "Person.role": "Their role.",
    "Person.employment_rate": "FTE; capacity is `max_load` × this.",
    "Person.hire_date": "Start date; drives the new-hire ramp and mentoring.",
    "Person.mentor": "Staff id of the mentor of a new hire (needs `hire_date`).",
    "Person.left_on": "Last day of employment: kept in the file as the unit's history (the outcome "
    "report counts joiners and leavers); no referrals after it.",
    "Rotation.order": "Team ids in turn order.",
    "Rotation.period_days": "Days on duty at a time.",
    "Rotation.anchor": "Start of the first period of `order[0]`.",
    "Rotation.handover_time": "Local time of every handover; stays local across daylight saving.",
    "Rotation.timezone": "IANA time zone of handovers, office hours and deadlines.",
    "OfficeHours.start": "Office opens (Monday–Friday except Swedish public holidays and the days "
    "treated as such).",
    "OfficeHours.end": "Office closes.",
    "OfficeHours.protection_cutoff": "Received on an office day before this: protection assessment due "
    "the same day; otherwise the next office day.",
    "Assignment.continuity_days": "A referral about a child or family with a case still open or closed "
    "this recently goes to that case's team and, where the rules allow, its caseworker "
    "(docs/SIMULATION.md).",
    "Assignment.caseload": "Weighted caseload.",
    "Assignment.new_hires": "New hires and mentors.",
    "Assignment.back_from_leave": "A gentle start after an absence.",
    "Assignment.conflicts_of_interest": "Staff who must not get referrals with a given child or family key.",
    "Caseload.max_load": "Capacity in weighted cases of a full-time caseworker who is not mentoring.",
    "Caseload.weights": "What a case weighs, in cases to at most two decimals (loads are in hundredths).",
    "CaseWeights.default": "Weight of a case whose categories have no weight of their own.",
    "CaseWeights.categories": "Weight by concern category; the heaviest category of a case counts.",
    "CaseWeights.acute_danger": "Added for acute danger.",
    "CaseWeights.interpreter": "Added when an interpreter is needed.",
    "NewHires.mentoring_months": "How long a new hire is mentored; their mentor's capacity is reduced "
    "meanwhile.",
    "NewHires.mentoring_share": "Share of a mentor's capacity spent mentoring.",
    "NewHires.ramp": "A new hire's capacity factor by months since hire; full capacity after the last step.",
    "NewHires.restricted_months": "Months during which a new hire gets no referrals in the restricted "
    "categories.",
    "NewHires.restricted_categories": "Categories kept from new hires at first.",
    "NewHires.restrict_acute": "Keep acute referrals from new hires at first, too.",
    "RampStep.until_month": "This factor applies while fewer months than this have passed since hire.",
    "RampStep.factor": "Capacity factor.",
    "BackFromLeave.days": "Days after an absence with a cap on new cases.",
    "BackFromLeave.max_new_per_day": "The cap.",
    "ConflictOfInterest.staff_id": "Who.",
    "ConflictOfInterest.key": "The pseudonymous `child_key` or `family_key` (from events, never a "
    "personal identity number).",
    "DeadlineRules.protection_same_day_due": "Protection assessment due time for a referral received "
    "before the cut-off on an office day.",
    "DeadlineRules.protection_next_day_due": "Due time on the next office day otherwise.",
    "DeadlineRules.acute_protection_assessment": "An acute referral's protection assessment is due "
    "this long after receipt at any hour (20 kap. 1 §, genast); left out, the office-day rule.",
    "DeadlineRules.preliminary_days": "Preliminary assessment: calendar days from receipt (20 kap. 2 § "
    "SoL 2025:400).",
    "DeadlineRules.investigation_months": "Investigation: months from opening (20 kap. 3 §).",
    "DeadlineRules.max_extension_months": "How far one extension decision may move an investigation's "
    "due date; a later `until` is refused (422) as a likely typo.",
    "DeadlineRules.feedback_days": "Feedback to a mandatory reporter who asked: calendar days from the "
    "decision, a due day on a weekend or holiday kept (19 kap. 6 §). A request after the decision, or a "
    "referral joined to an ongoing investigation, is due at once: by `same_day_due` before the cut-off "
    "on an office day, else `next_day_due` the next office day.",
    "DeadlineRules.registration_due": "Registration in the system of record (issue 19): due by this local "
    "time the office day of receipt; a referral received later or on a non-office day, by this time the "
    "next office day. Reminders and the breach go out on `deadlines.v1` as `registration`.",
    "DeadlineRules.registration_office_days": "Office days added to the registration due day (0: the "
    "same or next office day).",
    "DeadlineRules.reminders": "Lead times before each due time at which `deadline.approaching` is sent.",
    "DeadlineRules.scan_interval_s": "How often assignment scans for due reminders, breaches and handovers.",
    "NotificationRoutes.routes": "Recipients by event type. `team` is the team's Teams channel, the "
    "others get email (and Teams if `staff_webhooks` names them); `out_of_hours` only for acute referrals "
    "outside office hours. `registration.approaching`/`registration.breached` route the registration "
    "deadline instead of the `deadline.*` keys; `access.break_glass` goes to the referral's team manager "
    "(the head of unit without a known team, or when the manager opened it). An unknown event type stops "
    "start-up. Leaving `routes` out gives the default; routes that leave out the `registration.*` and "
    "`access.*` keys get their defaults for those (an alert nobody configured must not fall silent; `[]` "
    "turns one off).",
    "NotificationRoutes.staff_webhooks": "Staff id → a Workflows webhook posting to a chat with that "
    "person alone; they get every message routed to them there as well as by email (e.g. the "
    "break-the-glass alert and the access review). **A secret**, like `teams_webhook`.",
    "NotificationRoutes.quiet_hours": "Hold non-acute messages outside office hours.",
    "NotificationRoutes.escalation": "Escalate unacknowledged acute referrals.",
    "NotificationRoutes.language": "`sv` or `en`; the unit's `language` when unset.",
    "NotificationRoutes.teams_rate_per_s": "Messages per second per Teams webhook (the pacing is kept "
    "in Postgres, so it holds across restarts and instances).",
    "QuietHours.enabled": "When true, non-acute messages created outside office hours wait and go "
    "as one digest per recipient and channel at the next office start.",
    "Escalation.enabled": "Escalate acute referrals nobody acknowledged.",
    "Escalation.after": "To the team manager after this long, to the head of unit after another as "
    "long; `POST /v1/referrals/{id}/acknowledge` stops it.",
    "Escalation.scan_interval_s": "How often notifications looks for referrals to escalate.",
}
