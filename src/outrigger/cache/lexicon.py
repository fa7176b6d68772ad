"""Word lists for the hit verifier: the distinctions a sentence embedding blurs.

Kept deliberately small and general (English). Each list says what it is for; a
deployment with its own jargon extends them through ``RuleVerifier(lexicon=...)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field


def _w(text: str) -> list[str]:
    """The words of a whitespace-separated list."""
    return text.split()


#: Words that negate ("not", "n't" after splitting, "without"); the verifier counts them, in
#: the whole text and per clause.
NEGATIONS = frozenset(
    _w("not no never n't cannot without none nobody nothing nowhere neither nor unable")
)

#: Directional prepositions: what follows is the source or the destination.
SOURCE_WORDS = frozenset({"from", "out_of", "off"})
DEST_WORDS = frozenset({"to", "into", "onto", "towards", "toward"})
#: A "to" after one of these is an infinitive, not a destination ("want to move").
INFINITIVE_BEFORE = frozenset(
    _w(
        "want wants wanted need needs needed like able going how trying try allowed have has had "
        "way wish plan planning possible ought used supposed due"
    )
)

#: Function words: differences made only of these change nothing that a cached answer
#: depends on. Negations, directions, comparators and question words are *not* here.
STOPWORDS = frozenset(
    _w("""a an the my your our their his her its this that these those i me we us you he she
    it they them mine yours is are was were be been being am do does did done doing can could
    would should will shall may might must have has had having of in on at for with by about
    as so and or but if then than just also still yet please kindly any some there here it's
    what's how's that's i'm i've i'd i'll you're get got getting go going s d ll ve re m
    what which who whom whose how hi hello thanks thank really very much""")
)

#: Units a number can carry; synonyms map to one name.
UNITS: dict[str, str] = {
    **dict.fromkeys(_w("$ usd dollar dollars buck bucks"), "usd"),
    **dict.fromkeys(_w("€ eur euro euros"), "eur"),
    **dict.fromkeys(_w("£ gbp sterling"), "gbp"),
    **dict.fromkeys(_w("₹ inr rupee rupees rs"), "inr"),
    **dict.fromkeys(_w("¥ jpy yen"), "jpy"),
    **dict.fromkeys(_w("kg kgs kilo kilos kilogram kilograms"), "kg"),
    **dict.fromkeys(_w("lb lbs pound pounds"), "lb"),
    **dict.fromkeys(_w("g gram grams"), "g"),
    **dict.fromkeys(_w("mg milligram milligrams"), "mg"),
    **dict.fromkeys(_w("ml milliliter milliliters millilitre millilitres"), "ml"),
    **dict.fromkeys(_w("km kilometer kilometers kilometre kilometres"), "km"),
    **dict.fromkeys(_w("mi mile miles"), "mile"),
    **dict.fromkeys(_w("ft foot feet"), "ft"),
    **dict.fromkeys(_w("% percent per_cent"), "%"),
    **dict.fromkeys(_w("min mins minute minutes"), "minute"),
    **dict.fromkeys(_w("h hr hrs hour hours"), "hour"),
    **dict.fromkeys(_w("day days"), "day"),
    **dict.fromkeys(_w("week weeks wk wks"), "week"),
    **dict.fromkeys(_w("month months mo"), "month"),
    **dict.fromkeys(_w("year years yr yrs"), "year"),
    **dict.fromkeys(_w("am a.m a.m."), "am"),
    **dict.fromkeys(_w("pm p.m p.m."), "pm"),
}
CURRENCY_SYMBOLS = {"$": "usd", "€": "eur", "£": "gbp", "₹": "inr", "¥": "jpy"}

NUMBER_WORDS: dict[str, int] = {
    w: i
    for i, w in enumerate(
        _w(
            "zero one two three four five six seven eight nine ten eleven twelve thirteen "
            "fourteen fifteen sixteen seventeen eighteen nineteen twenty"
        )
    )
} | {
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
    "hundred": 100,
    "thousand": 1000,
    "million": 1_000_000,
    "dozen": 12,
}
SCALE_SUFFIX = {"k": 1_000, "m": 1_000_000, "bn": 1_000_000_000}

#: When something is asked about: named days and months, relative days, parts of a day.
TEMPORAL: dict[str, str] = {
    **{d: d for d in _w("monday tuesday wednesday thursday friday saturday sunday")},
    **{d + "s": d for d in _w("monday tuesday wednesday thursday friday saturday sunday")},
    **dict(
        zip(
            _w("mon tue tues wed thu thur thurs fri sat sun"),
            _w(
                "monday tuesday tuesday wednesday thursday thursday thursday friday saturday sunday"
            ),
            strict=True,
        )
    ),
    **{
        m: m
        for m in _w(
            "january february march april june july august september october november december"
        )
    },
    **dict(
        zip(
            _w("jan feb mar apr jun jul aug sep sept oct nov dec"),
            _w(
                "january february march april june july august september september october "
                "november december"
            ),
            strict=True,
        )
    ),
    **{
        w: w
        for w in _w(
            "today tonight tomorrow yesterday weekend weekday weekdays morning "
            "afternoon evening night overnight noon midnight"
        )
    },
}
#: "last week", "next month": the word before a period, normalised.
RELATIVE = {
    "last": "last",
    "previous": "last",
    "past": "last",
    "prior": "last",
    "next": "next",
    "coming": "next",
    "following": "next",
    "this": "this",
    "current": "this",
}
PERIODS = frozenset(_w("week month year quarter weekend"))

#: "US dollars" and "Canadian dollars" are different currencies.
CURRENCY_QUALIFIERS: dict[str, str | None] = {
    "us": None,
    "u.s": None,
    "american": None,
    "canadian": "cad",
    "australian": "aud",
    "singapore": "sgd",
    "hong": "hkd",
    "kong": "hkd",
    "new": "nzd",
    "zealand": "nzd",
}
#: Abbreviations whose full stop does not end a sentence.
ABBREVIATIONS = frozenset(_w("dr mr mrs ms st no vs etc jr sr prof approx dept"))

#: Verbs, to tell an infinitive "to" ("to pay") from a destination ("to my landlord"); the
#: action words of ``CONTRASTS`` and ``SYNONYMS`` are added to it.
VERBS = frozenset(
    _w("""be have do get make go know see pay send move change add use find take give keep
    check set ask buy call contact talk speak report claim apply order track ship deliver
    receive request let show help update transfer sign register visit arrive reach wait
    view leave pick settle switch attach upload print collect fix notify tell provide
    redirect create come keep avoid eat fast travel file""")
)
#: Past forms no suffix rule finds ("left" is missing on purpose: it is also a side).
IRREGULAR: dict[str, str] = {
    "sent": "send",
    "paid": "pay",
    "got": "get",
    "gotten": "get",
    "made": "make",
    "took": "take",
    "taken": "take",
    "gave": "give",
    "given": "give",
    "came": "come",
    "fell": "fall",
    "fallen": "fall",
    "stole": "steal",
    "stolen": "steal",
    "bought": "buy",
    "sold": "sell",
    "held": "hold",
    "began": "begin",
    "begun": "begin",
    "found": "find",
    "kept": "keep",
    "lost": "lose",
    "told": "tell",
    "went": "go",
    "gone": "go",
    "withdrew": "withdraw",
    "withdrawn": "withdraw",
    "froze": "freeze",
    "frozen": "freeze",
    "broke": "break",
    "broken": "break",
    "won": "win",
    "drove": "drive",
    "driven": "drive",
}

#: Words that frame a request rather than say what it is about ("is it possible to",
#: "what's the way to", "I'd like to"): a substitution made only of these changes nothing.
FRAMING = frozenset(
    _w(
        "possible able allowed okay ok way need needs want wants like wondering wonder know "
        "tell help process steps best easiest please someone somebody anyone anybody there"
    )
)

#: Personal pronouns by person: "the other driver" -> "I" is a change of who acted.
PERSONS: dict[str, str] = {
    **dict.fromkeys(_w("i me my mine myself"), "<1st>"),
    **dict.fromkeys(_w("we us our ours ourselves"), "<1st-plural>"),
    **dict.fromkeys(_w("you your yours yourself"), "<2nd>"),
    **dict.fromkeys(_w("he him his himself"), "<he>"),
    **dict.fromkeys(_w("she her hers herself"), "<she>"),
    **dict.fromkeys(_w("they them their theirs themselves"), "<they>"),
}

#: Question words: they frame a request, they are not what it is about.
QUESTION_WORDS = frozenset(_w("why when where who how what which"))
#: Words that ask for a reason ("why", "explain your reasoning"): a request with one of
#: them wants another answer than the same request without. Not "reason" (a transfer's
#: reason is given, not asked for) nor "justify".
REASON_WORDS = frozenset(_w("why reasoning"))


def _groups(text: str) -> tuple[frozenset[str], ...]:
    return tuple(frozenset(g.split()) for g in text.strip().split("\n") if g.strip())


#: Mutually exclusive alternatives: a text naming one member and another naming a
#: different one of the same group ask different things ("credit" vs "debit" card).
CONTRASTS = _groups(
    """
    savings checking brokerage business student joint
    credit debit prepaid
    open close
    block unblock
    activate deactivate
    increase decrease
    add remove
    start stop
    approve reject
    accept reject
    deposit withdraw
    upgrade downgrade
    include exclude
    cancel confirm reschedule renew schedule appeal
    send receive
    buy sell
    consolidate split
    repair replace
    speed delay
    inpatient outpatient
    left right
    upper lower
    before after
    over under
    minimum maximum
    earliest latest
    morning afternoon evening night
    express standard economy priority
    same-day next-day overnight
    air ocean road rail
    flood fire hail theft wind earthquake water
    dental vision medical
    comprehensive collision liability gap
    auto home renters life travel pet health
    cardiology oncology neurology dermatology radiology orthopedics pediatrics urology
    pharmacy lab clinic
    flu tetanus covid measles hepatitis shingles hpv
    urgent emergency
    mortgage car
    luggage flight
    with instead except besides
    """
)

#: Words that mean the same for the verifier; each maps to the group's first word.
SYNONYMS: dict[str, str] = {
    w: group.split()[0]
    for group in """
    block freeze lock
    unblock unfreeze unlock
    increase raise boost higher
    decrease lower reduce
    remove delete drop
    cancel call_off
    pickup collection pick_up
    other another different alternative
    text sms
    online internet web
    app application
    register sign_up enrol enroll
    set_up setup create
    reject deny decline refuse
    approve grant
    checking current
    checkbook chequebook cheque_book check_book
    cheque check
    parcel package shipment consignment box
    car auto vehicle
    home homeowners homeowner household
    motorcycle motorbike
    physio physiotherapy physiotherapist
    doctor dr physician
    bill invoice
    photo picture image
    shop store
    lab laboratory
    send ship dispatch
    file submit lodge
    start begin
    stop end halt
    withdraw withdrawal
    deposit
    reschedule rebook
    schedule book arrange
    exclude excluded
    include covered cover
    ocean sea
    air plane
    over above exceeding more greater
    under below less fewer
    """.strip().split("\n")
    for w in group.split()
}


@dataclass(frozen=True)
class Lexicon:
    """The lists one verifier uses; pass a modified copy to extend them, e.g.
    ``Lexicon(contrasts=(*CONTRASTS, frozenset({"gold", "platinum"})))``."""

    negations: frozenset[str] = NEGATIONS
    stopwords: frozenset[str] = STOPWORDS
    contrasts: tuple[frozenset[str], ...] = CONTRASTS
    synonyms: dict[str, str] = field(default_factory=lambda: dict(SYNONYMS))
    verbs: frozenset[str] = VERBS
    irregular: dict[str, str] = field(default_factory=lambda: dict(IRREGULAR))
