"""Synthetic training sentences for the name tagger (``scripts/train_name_tagger.py``).

Templates written for training only (none copied from ``benchmarks/data``): support tickets,
chat messages, clinical and KYC notes, e-mail greetings and sign-offs, lists of people,
names at sentence start, after titles and in lower case, and many sentences whose capitalised
words are *not* names (months, days, cities, companies, products, departments, title-case
subject lines). Slots: ``{P}`` a full name, ``{F}`` a first name, ``{L}`` a surname (all
labelled); ``{CITY} {COUNTRY} {COMPANY} {MONTH} {DAY} {PRODUCT} {DEPT} {STREET} {JOB} {NUM}
{WORD}`` are filled but not labelled. Names come from Faker's per-locale name lists (MIT).
"""

from __future__ import annotations

import random
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

from faker import Faker

SLOT = re.compile(r"\{([A-Z]+)\}")

#: Faker locales whose name lists are in Latin script (or have romanised lists).
LATIN_LOCALES = (
    "en_US", "en_GB", "en_IE", "en_IN", "en_NG", "en_KE", "en_PK", "en_NZ", "de_DE", "de_AT",
    "fr_FR", "fr_CA", "es_ES", "es_MX", "es_AR", "it_IT", "pt_BR", "pt_PT", "nl_NL", "pl_PL",
    "sv_SE", "no_NO", "da_DK", "fi_FI", "cs_CZ", "hu_HU", "ro_RO", "hr_HR", "tr_TR", "id_ID",
    "vi_VN", "yo_NG", "ig_NG", "ha_NG", "sw", "zu_ZA", "tw_GH", "fil_PH", "ga_IE", "et_EE",
    "lt_LT", "lv_LV", "sk_SK", "sl_SI",
)  # fmt: skip
ROMANISED_LOCALES = ("ja_JP", "zh_CN", "zh_TW")
#: Faker has Korean names in Hangul only: common romanised surnames and given names.
KOREAN_LAST = "Kim Lee Park Choi Jung Kang Cho Yoon Jang Lim Han Shin Seo Kwon Hwang Ahn Song Yoo"
KOREAN_FIRST = (
    "Min-jun Seo-yeon Ji-ho Ha-eun Do-yun Ji-woo Seo-jun Su-bin Ye-jin Hyun-woo Joon-ho "
    "Eun-ji Sung-min Young-hee Dong-hyun Ji-hoon Soo-ah Tae-yang"
)

TITLES = ["Mr", "Mr.", "Mrs", "Mrs.", "Ms", "Ms.", "Dr", "Dr.", "Prof.", "Shri", "Smt.", "Sri",
          "Miss", "Sir", "Madam", "Nurse", "Officer", "Captain"]  # fmt: skip
PRODUCTS = [
    "iPhone", "Android", "Windows", "Excel", "Outlook", "Chrome", "Teams", "Slack", "Zoom",
    "PayPal", "Visa", "Mastercard", "RuPay", "Paytm", "Google Pay", "WhatsApp", "Salesforce",
    "SAP", "Oracle", "Jira", "GitHub", "Kubernetes", "Docker", "Linux", "MacBook", "Kindle",
    "Alexa", "Netflix", "Spotify", "Uber", "Swiggy", "Zomato", "Flipkart", "Amazon Prime",
    "Office 365", "Premium Plus", "Gold Card", "Platinum", "Smart Saver", "Home Loan",
]  # fmt: skip
DEPTS = [
    "Accounts", "Billing", "Cardiology", "Radiology", "Oncology", "Emergency", "Pharmacy",
    "Customer Care", "Support", "Compliance", "Finance", "HR", "Legal", "Sales", "IT",
    "Operations", "Claims", "Underwriting", "Outpatient", "ICU", "Pathology", "Front Desk",
]  # fmt: skip
MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
    "Jan",
    "Feb",
    "Mar",
    "Aug",
    "Sept",
]
DAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
#: English function words (marked "common", like Faker's en_US lorem word list).
FUNCTION_WORDS = (
    "a", "about", "above", "after", "again", "against", "all", "am", "an", "and", "any", "are",
    "as", "at", "be", "because", "been", "before", "being", "below", "between", "both", "but",
    "by", "can", "could", "did", "do", "does", "doing", "down", "during", "each", "few", "for",
    "from", "further", "had", "has", "have", "having", "he", "her", "here", "hers", "herself",
    "him", "himself", "his", "how", "i", "if", "in", "into", "is", "it", "its", "itself", "just",
    "me", "more", "most", "my", "myself", "no", "nor", "not", "now", "of", "off", "on", "once",
    "only", "or", "other", "our", "ours", "ourselves", "out", "over", "own", "same", "she",
    "should", "so", "some", "such", "than", "that", "the", "their", "theirs", "them", "then",
    "there", "these", "they", "this", "those", "through", "to", "too", "under", "until", "up",
    "very", "was", "we", "were", "what", "when", "where", "which", "while", "who", "whom", "why",
    "will", "with", "would", "you", "your", "yours", "yourself", "please", "thanks", "thank",
    "hi", "hello", "dear", "kindly", "regards", "yes", "ok", "okay", "also", "still", "yet",
    "via", "per", "re", "fwd",
)  # fmt: skip


def _common_capitalised() -> list[str]:
    from faker.providers.lorem.en_US import Provider

    return sorted({w.capitalize() for w in Provider.word_list if w.isalpha() and len(w) > 2})


COMMON_CAPITALISED = _common_capitalised()
ROLES = [
    "Patient",
    "Customer",
    "Applicant",
    "Beneficiary",
    "Nominee",
    "Caller",
    "Borrower",
    "Guarantor",
    "Member",
    "Subscriber",
    "Cardholder",
    "Resident",
    "Employee",
    "Tenant",
    "Payee",
    "Passenger",
    "Student",
    "Client",
    "Claimant",
    "Insured",
    "Policyholder",
    "Account holder",
    "Sender",
    "Recipient",
    "Co-applicant",
    "Donor",
    "Guest",
    "Visitor",
]
ACRONYMS = [
    "PAN",
    "KYC",
    "SSN",
    "ATM",
    "OTP",
    "EMI",
    "UPI",
    "GST",
    "MRI",
    "ECG",
    "NEFT",
    "IMPS",
    "IFSC",
    "ICU",
    "OPD",
    "ID",
    "DOB",
    "PIN",
    "CVV",
    "IBAN",
    "VAT",
    "HR",
    "IT",
    "CEO",
    "NRI",
    "EHR",
    "HIPAA",
    "RBI",
    "SBI",
    "HDFC",
    "USA",
    "UK",
    "EU",
    "NHS",
    "FYI",
    "ASAP",
]
WORDS = [
    "Urgent",
    "Refund",
    "Payment",
    "Account",
    "Invoice",
    "Password",
    "Reset",
    "Login",
    "Error",
    "Update",
    "Delivery",
    "Order",
    "Request",
    "Complaint",
    "Thanks",
    "Hello",
    "Please",
    "Kindly",
    "Note",
    "Re",
    "Fwd",
    "Important",
    "Reminder",
    "Policy",
    "Claim",
    "Report",
    "Statement",
    "Balance",
    "Transfer",
    "Status",
    "Ticket",
    "Issue",
    "Help",
]

NAMED = [
    "Hi, my name is {P} and I need help with my {PRODUCT} account.",
    "{P} called on {DAY} about a failed payment.",
    "{P} says the {PRODUCT} app keeps crashing since {MONTH}.",
    "{F} from {DEPT} will call you back tomorrow.",
    "Please ask {F} to send the documents before {DAY}.",
    "Thanks {F}, that fixed it!",
    "hi {F}, any update on my refund?",
    "Dear {P}, your application has been approved.",
    "Dear {TITLE} {L}, we have received your complaint.",
    "{TITLE} {P} was admitted to {DEPT} on {MONTH} {NUM}.",
    "{TITLE} {L} reviewed the scan and recommended rest.",
    "The patient, {P}, complains of chest pain since {DAY}.",
    "Patient {P} was discharged from {CITY} General Hospital.",
    "Referred by {TITLE} {P} of {CITY}.",
    "Attendees: {P}, {P} and {P}.",
    "Present: {P}, {P}, {P}; apologies from {P}.",
    "cc {P}, {P}",
    "Regards,\n{P}\n{JOB}, {COMPANY}",
    "Best,\n{F}",
    "Thanks and regards, {P}",
    "-- {P}, {COMPANY}",
    "Applicant: {P}; co-applicant: {P}.",
    "Nominee {P} (spouse) should receive the policy documents.",
    "The account holder {P} moved to {CITY} last {MONTH}.",
    "I spoke to {P} at your {CITY} branch and she said it would take {NUM} days.",
    "I spoke to {F} at the {CITY} office, he was very helpful.",
    "My wife {F} and I share this card.",
    "My son {P} is the nominee on the account.",
    "Our tenant {P} has not paid since {MONTH}.",
    "{P} and {P} joined {COMPANY} as {JOB}s.",
    "{L} said the shipment would reach {CITY} by {DAY}.",
    "According to {TITLE} {L}, the report will be ready on {DAY}.",
    "Escalated to {P} ({JOB}) in {DEPT}.",
    "Assigned to {P}.",
    "Owner: {P}",
    "Name: {P}",
    "Caller name - {P}",
    "Customer {P} wants to close the {PRODUCT} account.",
    "The cheque was signed by {P} on behalf of {COMPANY}.",
    "Witness: {P}, {STREET}, {CITY}.",
    "{P}, {NUM}, presented with fever and cough.",
    "{P} ({NUM} y/o) was seen by {TITLE} {L} today.",
    "Spoke with {F} {L} from {COMPANY} about the renewal.",
    "Can {F} join the {DAY} call with {COMPANY}?",
    "I am writing on behalf of my father, {P}, who cannot use email.",
    "This is {P} from {CITY}; my order has not arrived.",
    "Hello, {P} here. I was charged twice.",
    "Hello, I'm {F}.",
    "i am {F} {L} and i want to update my address",
    "{F} {L} - {JOB} at {COMPANY}",
    "Please transfer the amount to {P}'s account.",
    "{P}'s claim was rejected by {DEPT} on {DAY}.",
    "We met {P} and {P} in {CITY} to discuss the {PRODUCT} rollout.",
    "According to {P}, the outage started at {NUM} am.",
    "{TITLE} {F} will see you on {DAY}.",
    "Signed: {P}",
    "Guardian: {P}, relationship: mother.",
    "Emergency contact {P}, lives in {CITY}.",
    "{P} is allergic to penicillin and lives with {F}.",
    "Ask for {TITLE} {L} at the {DEPT} desk.",
    "The form was filled in by {P}, not by the patient.",
    "Reported by {P} via the {PRODUCT} app.",
    "{P} wrote: the {PRODUCT} card was blocked in {CITY}.",
    "Forwarding {P}'s message below.",
    "ok so {F} said to email you",
    "Prescribed by {TITLE} {P}, {DEPT}.",
    "The loan was sanctioned to {P} and guaranteed by {P}.",
    "Beneficiaries: {P} (50%), {P} (50%).",
    "Driver {P} picked up the parcel at {NUM}:{NUM}.",
    "Interviewer: {P}. Candidate: {P}.",
    "Thank you {TITLE} {L} for your patience.",
    "{F}, could you check the {PRODUCT} logs?",
    "Meeting with {P} moved to {DAY}, {MONTH} {NUM}.",
    "The {JOB}, {P}, approved the request.",
    "Sent from my {PRODUCT}\n\n{P}",
    "{F}, {F} and {F} are on leave next week.",
    "{F} and {F} will cover the {DAY} shift.",
    "Team: {F}, {F}, {F}, {F}.",
    "{F} said the {PRODUCT} invoice is wrong.",
    "{F} wants to know why {COMPANY} charged her twice.",
    "{P} reported that the {PRODUCT} app logged her out.",
    "{P} needs a copy of the {MONTH} statement.",
    "{P} approved the limit increase; {F} disagreed.",
    "{L} and {L} are the surnames on the joint account.",
    "Mother's name: {P}. Father's name: {P}.",
    "Can {P} attend the meeting in {CITY}?",
    "Did {F} get the {PRODUCT} link?",
    "Has {TITLE} {L} signed the consent form?",
    "Kindly note that {P} is no longer authorised on this account.",
    "Yesterday {P} visited the {CITY} branch.",
    "On {DAY}, {P} fell at home and was brought to {DEPT}.",
    "After the call, {F} emailed the {DEPT} team.",
    "When {F} logs in, the {PRODUCT} page is blank.",
    "Per {P}, the {MONTH} payroll is delayed.",
    "{P} ({COMPANY}) and {P} ({COMPANY}) negotiated the deal.",
    "Our {JOB} {P} handles {CITY} accounts.",
    "{TITLE} {P}, {JOB}, {COMPANY}, {CITY}",
    "Ref: complaint by {P} dated {MONTH} {NUM}.",
    "The baby's mother, {P}, gave consent.",
    "{ROLE} {P} was informed on {DAY}.",
    "{ROLE} {P} has asked for a new {PRODUCT} card.",
    "{ROLE} {P}, {CITY}, requests a callback.",
    "{ROLE}: {P}",
    "{ROLE} name {P}, {ACRO} pending.",
    "The refund is for {P}.",
    "The form was verified for {P}.",
    "This card belongs to {P}.",
    "The corporate card of {P} was blocked.",
    "The account is in the name of {P}.",
    "A letter came from {P} on {DAY}.",
    "Booked an appointment for {P} on {MONTH} {NUM} at {NUM}:{NUM}.",
    "The visit with {P} on {DAY} was cancelled.",
    "{ACRO} and {ACRO} checks passed for {P}.",
    "{ACRO} {NUM} verified; applicant {P}.",
    "NAME: {UP}",
    "Account holder {UP} / {ACRO} verified",
    "{UP} - {ACRO} REJECTED",
    "The {ACRO} team called {P} about the {ACRO} mandate.",
    "Please ask {P} to resend the {ACRO} copy.",
    "The sender was {P}, the receiver {P}.",
    "Payment from {P} to {P} is on hold.",
    "I sent the money to {P} by mistake.",
    "Transfer to {P} failed twice.",
    "Call {P} after {NUM}.",
    "Assigned nurse: {P}; attending: {TITLE} {P}.",
    '{"name": "{P}", "city": "{CITY}", "status": "{WORD}"}',
    '{"customer": "{P}", "product": "{PRODUCT}"}',
    '{"first_name": "{F}", "last_name": "{L}", "country": "{COUNTRY}"}',
    "name={P}; city={CITY}; plan={PRODUCT}",
    '"assignee": "{P}", "team": "{DEPT}"',
    "Reviewer: {P} | Department: {DEPT} | Site: {CITY}",
]  # fmt: skip
UNNAMED = [
    "My {PRODUCT} payment failed on {DAY}, please help.",
    "The {CITY} branch was closed on {DAY}, {MONTH} {NUM}.",
    "{DEPT} says the refund will be processed in {MONTH}.",
    "Please reset my {PRODUCT} password, I am locked out.",
    "{WORD}: {WORD} {WORD} for {PRODUCT} order {NUM}",
    "{WORD} - {PRODUCT} {WORD} not working in {CITY}",
    "Re: {WORD} {WORD} {MONTH} {NUM}",
    "The shipment from {CITY}, {COUNTRY} reached {CITY} on {DAY}.",
    "{COMPANY} has acquired {COMPANY} for {NUM} million.",
    "We moved our office to {STREET}, {CITY}.",
    "Every {DAY} the {DEPT} team reviews the open claims.",
    "The {JOB} at {COMPANY} rejected the invoice.",
    "Can I use my {PRODUCT} card in {COUNTRY}?",
    "{MONTH} statement shows two charges from {COMPANY}.",
    "Is the {CITY} clinic open on {DAY}?",
    "Happy New Year from all of us at {COMPANY}!",
    "Diwali offer: {NUM}% cashback on {PRODUCT}.",
    "Christmas Eve and New Year's Day are holidays at the {CITY} office.",
    "{WORD}! The {PRODUCT} update broke {PRODUCT}.",
    "I travelled from {CITY} to {CITY} in {MONTH}.",
    "Our {DEPT} and {DEPT} teams are in {CITY}.",
    "The {PRODUCT} integration with {PRODUCT} is down since {DAY} morning.",
    "Hello, I need help with my account.",
    "Thanks, that fixed it!",
    "Please call me back after {NUM} pm on {DAY}.",
    "Admitted to {DEPT} with chest pain; ECG normal.",
    "Blood pressure {NUM}/{NUM}, pulse {NUM}; review in {MONTH}.",
    "The {COMPANY} {PRODUCT} plan costs {NUM} dollars a month.",
    "Ticket closed by {DEPT}.",
    "When will the {PRODUCT} refund reach my {COMPANY} account?",
    "Terms and Conditions apply. See the {COMPANY} Privacy Policy.",
    "North {CITY} and South {CITY} are served by the same depot.",
    "The Supreme Court of {COUNTRY} ruled on the matter in {MONTH}.",
    "Visit us at {STREET} near {CITY} Central Station.",
    "Download the {PRODUCT} app from the App Store or Google Play.",
    "{DAY}: {WORD}. {DAY}: {WORD}.",
    "I will be on leave from {MONTH} {NUM} to {MONTH} {NUM}.",
    "The Accounts Payable team at {COMPANY} needs the PO number.",
    "{COUNTRY} and {COUNTRY} signed the agreement in {CITY}.",
    "Good morning, the {CITY} warehouse is flooded.",
    "{COMPANY} confirmed the outage in {CITY}.",
    "{PRODUCT} crashed during the {DAY} standup in {CITY}.",
    "{CITY} is {NUM} km from {CITY}.",
    "My {PRODUCT} card was declined at {COMPANY} in {CITY} last {MONTH}.",
    "Our flight to {CITY} via {CITY} was cancelled.",
    "Please Update The {WORD} Details For My {PRODUCT} Account",
    "{WORD} {WORD}: {PRODUCT} Not Working After {WORD}",
    "The {CITY} {WORD} Centre is closed this {DAY}.",
    "{PRODUCT} and {PRODUCT} both failed to sync with {PRODUCT}.",
    "Customer Service in {CITY} closed the ticket in {MONTH}.",
    "Our {JOB} visited {COMPANY} in {COUNTRY}.",
    "Head Office, {STREET}, {CITY}, {COUNTRY}",
    "Sent from {PRODUCT} for {PRODUCT}",
    "{DEPT} Department, {CITY} General Hospital",
    "Thank you for contacting {COMPANY}.",
    "International Women's Day is celebrated at {COMPANY} every {MONTH}.",
    "Independence Day sale on {PRODUCT} until {DAY}.",
    "The Board of Directors met in {CITY} on {DAY}.",
    "{MONTH} and {MONTH} invoices are attached.",
    "{COUNTRY} Post delivered the parcel to {CITY} on {DAY}.",
    "My {WORD} request to {DEPT} is still open.",
    "Urgent: {PRODUCT} {WORD} failed for {COMPANY}",
    "Mount Everest, Lake Geneva and the Golden Gate Bridge are on the brochure.",
    "The Red Cross and the United Nations sent aid to {CITY}.",
    "What is the {PRODUCT} limit for {COUNTRY}?",
    "Why was my {PRODUCT} payment to {COMPANY} reversed?",
    "Could you check the {CITY} order again?",
    "Any update on the refund? It has been {NUM} days.",
    "{ACRO} and {ACRO} are required for the {PRODUCT} account.",
    "My {ACRO} is not linked to my {ACRO}.",
    "The {ACRO} was rejected; please resend the {ACRO} by {DAY}.",
    "{ROLE} details updated; {ACRO} pending since {MONTH}.",
    "{ROLE} asked for a callback about the {PRODUCT} bill.",
    "I sent {NUM} dollars by mistake, please reverse it.",
    "Please call back on the registered mobile after {NUM} pm.",
    "Callback requested by the {DEPT} desk for {DAY}.",
    "The {ROLE} portal is down for maintenance.",
    "Appointment on {MONTH} {NUM} at {NUM}:{NUM}, callback requested.",
    "{WORD} for {DEPT} on {DAY}.",
    "{CW} from {CITY} is stuck since {MONTH} {NUM}.",
    "{CW} {NUM} returned an error for request {NUM} at {NUM}:{NUM}.",
    "{CW} and {CW} are both pending.",
    "{CW}: the {PRODUCT} {CW} is {NUM} days late.",
    "{CW} {ACRO} changed, please update payroll.",
    "{CW} the {PRODUCT} order before {DAY}.",
    "{CW} {CW} {CW}",
    "{CW}, {CW} and {CW} need review by {DEPT}.",
    "The {CW} {CW} team in {CITY} will call.",
    "{ACRO} {CW} was rejected on {DAY}.",
    "{ACRO}: {ACRO}, {ACRO}; {ACRO} pending",
    "Patient {ACRO} {NUM} was discharged from {DEPT}.",
    "My {ACRO} changed, please update the {DEPT} records.",
    '{"city": "{CITY}", "country": "{COUNTRY}"}',
    '{"status": "{WORD}", "product": "{PRODUCT}", "day": "{DAY}"}',
    'Forecast for {CITY} please: {"location": "{CITY}", "unit": "metric"}',
    '"company": "{COMPANY}", "month": "{MONTH}"',
    "city={CITY}; country={COUNTRY}; plan={PRODUCT}",
    "Department: {DEPT} | Site: {CITY} | Status: {WORD}",
    "{CW} from {CITY} to {CITY} are delayed.",
    "{CW} in {CITY}?",
]  # fmt: skip


@dataclass(frozen=True)
class NamePools:
    first: list[str]
    last: list[str]
    by_locale: dict[str, tuple[list[str], list[str]]]


def _latin(name: str) -> bool:
    return bool(name) and all(c in "-' \u2019." or "LATIN" in unicodedata.name(c, "") for c in name)


def _clean(names: object) -> list[str]:
    items = names.keys() if isinstance(names, dict) else names  # weighted dicts in Faker
    return sorted({n.strip() for n in items if isinstance(n, str) and _latin(n.strip())})  # type: ignore[attr-defined]


def name_pools() -> NamePools:
    """First names and surnames per locale, Latin script only."""
    by_locale: dict[str, tuple[list[str], list[str]]] = {}
    for locale in LATIN_LOCALES:
        try:
            provider = Faker(locale).provider("faker.providers.person")
        except (AttributeError, ModuleNotFoundError):
            continue
        first = _clean(getattr(provider, "first_names", []))
        last = _clean(getattr(provider, "last_names", []))
        if first and last:
            by_locale[locale] = (first, last)
    for locale in ROMANISED_LOCALES:
        provider = Faker(locale).provider("faker.providers.person")
        first = _clean(getattr(provider, "first_romanized_names", []))
        last = _clean(getattr(provider, "last_romanized_names", []))
        if first and last:
            by_locale[locale] = ([n.capitalize() for n in first], [n.capitalize() for n in last])
    by_locale["ko_romanised"] = (KOREAN_FIRST.split(), KOREAN_LAST.split())
    first = sorted({n for f, _ in by_locale.values() for n in f})
    last = sorted({n for _, lst in by_locale.values() for n in lst})
    return NamePools(first, last, by_locale)


def _full_name(rng: random.Random, pools: NamePools) -> str:
    first, last = pools.by_locale[rng.choice(sorted(pools.by_locale))]
    f, ln = rng.choice(first), rng.choice(last)
    form = rng.random()
    if form < 0.6:
        return f"{f} {ln}"
    if form < 0.72:
        return f"{f} {rng.choice(first)} {ln}"
    if form < 0.8:
        return f"{f[0]}. {ln}"
    if form < 0.86:
        return f"{f[0]}. {rng.choice(first)[0]}. {ln}"
    if form < 0.93:
        return f
    return f"{f} {ln}-{rng.choice(last)}"


def fillers(rng: random.Random, fake: Faker) -> dict[str, Callable[[], str]]:
    return {
        "CITY": fake.city,
        "COUNTRY": fake.country,
        "COMPANY": lambda: fake.company().replace(",", ""),
        "MONTH": lambda: rng.choice(MONTHS),
        "DAY": lambda: rng.choice(DAYS),
        "PRODUCT": lambda: rng.choice(PRODUCTS),
        "DEPT": lambda: rng.choice(DEPTS),
        "STREET": fake.street_address,
        "JOB": lambda: fake.job().split(",")[0],
        "NUM": lambda: str(rng.randint(1, 99)),
        "WORD": lambda: rng.choice(WORDS),
        "TITLE": lambda: rng.choice(TITLES),
        "ROLE": lambda: rng.choice(ROLES),
        "ACRO": lambda: rng.choice(ACRONYMS),
        "CW": lambda: rng.choice(COMMON_CAPITALISED) + rng.choice(["", "", "s", "ing", "ed"]),
    }


def _slot_value(
    rng: random.Random, pools: NamePools, fill: dict[str, Callable[[], str]], slot: str
) -> str:
    first, last = pools.by_locale[rng.choice(sorted(pools.by_locale))]
    if slot == "P":
        return _full_name(rng, pools)
    if slot == "UP":
        return _full_name(rng, pools).upper()
    if slot == "F":
        return rng.choice(first)
    if slot == "L":
        return rng.choice(last)
    return fill[slot]()


def sentence(
    rng: random.Random, pools: NamePools, fill: dict[str, Callable[[], str]], named: bool
) -> tuple[str, list[tuple[int, int]]]:
    """One sentence and its name spans (character offsets)."""
    template = rng.choice(NAMED if named else UNNAMED)
    text, spans, pos = "", [], 0
    lower = rng.random() < 0.03
    for match in SLOT.finditer(template):
        text += template[pos : match.start()]
        slot = match.group(1)
        value = _slot_value(rng, pools, fill, slot)
        if slot in ("P", "F", "L", "UP"):
            if lower:
                value = value.lower()
            spans.append((len(text), len(text) + len(value)))
        text += value
        pos = match.end()
    text += template[pos:]
    if rng.random() < 0.02:
        text = text.lower()
    return text, spans
