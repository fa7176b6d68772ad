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
from scripts.name_tagger_templates import NAMED, UNNAMED

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
