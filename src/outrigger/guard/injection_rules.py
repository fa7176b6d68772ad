"""The weighted heuristics of the injection detector.

Each rule is a regular expression over normalised text (NFKC, lower case, zero-width
characters removed, whitespace collapsed) with a weight in (0, 1]. The rules look for the
*shape* of an attack, not for single trigger words: an imperative aimed at the model's own
configuration ("ignore *your* instructions", "print *your system prompt*"), a spoofed role
marker, a request to ship context out to a URL. A support ticket saying "ignore my previous
email" or "the system ignores my instructions" matches none.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True)
class Rule:
    name: str
    category: str
    weight: float
    regex: re.Pattern[str]


def _rule(name: str, category: str, weight: float, pattern: str) -> Rule:
    return Rule(name, category, weight, re.compile(pattern, re.MULTILINE))


# Vocabulary. Verbs that set instructions aside, and the nouns for a model's configuration.
_SET_ASIDE = (
    r"(?:ignore|disregard|forget|bypass|override|overrule|skip|abandon|drop|discard|overlook|"
    r"neglect|set aside|put aside|stop following|stop obeying|do not follow|don'?t follow|"
    r"no longer follow|pay no attention to|scrap|throw out|ditch)"
)
_SCOPE = r"(?:all|any|every|the|your|these|those|of|everything|previous|prior|above|rest)"
_WHICH = (
    r"(?:previous|prior|above|earlier|preceding|initial|original|system|developer|existing|"
    r"given|old|former|current|default|safety|hidden|operator'?s?|developer'?s)"
)
_WHAT = (
    r"(?:instructions?|prompts?|rules|directions|directives|guidelines|guidance|context|"
    r"commands|constraints|guardrails|programming|policies|restrictions|orders|configuration|"
    r"system messages?|setup|training)"
)
# "ignore the previous instructions I sent" is a customer correcting themselves.
_NOT_MINE = r"(?!\s+(?:i|we)\s+(?:sent|gave|wrote|left|provided|mentioned|added|emailed))"
_ASK = (
    r"(?:reveal|show|print|repeat|display|output|tell|give|share|leak|dump|write|spell out|"
    r"paste|return|recite|translate|list|read|include|encode|summari[sz]e|convert|quote|"
    r"describe|start (?:your answer|with))"
)
# The model's own configuration, as a user would name it.
_YOUR_CONFIG = (
    r"(?:your|the ai'?s|the model'?s|the assistant'?s)\s+(?:own\s+|full\s+|complete\s+|entire\s+|"
    r"exact\s+|raw\s+|original\s+|initial\s+|hidden\s+|secret\s+|confidential\s+|internal\s+|"
    r"system\s+|setup\s+|first\s+\d+\s+words\s+of\s+your\s+)*(?:prompt|instructions|directives|"
    r"configuration|context window|setup message|system message|guidelines|hidden rules)\b"
    r"(?!\s+(?:payment|for\b|on\b|about\b|regarding\b))"
)
_HIDDEN = (
    r"(?:system prompt|system message|initial prompt|original prompt|hidden prompt|"
    r"(?:hidden|secret|confidential|internal|original|initial|developer|system) (?:instructions|"
    r"configuration|rules|directives)|"
    r"pre-?prompt|the raw prompt|(?:prompt|instructions) you (?:were|have been|got) given)"
)
_ADDRESS_MODEL = (
    r"(?:\b(?:dear|hey|hi|hello|attention|note to|note for|message to|message for|hidden note "
    r"for|instructions? for)\s+(?:the\s+|any\s+)?(?:ai|llm|language model|chatbot|gpt|bot|"
    r"model|ai model|ai assistant|assistant)\b(?!\s+manager)|\b(?:ai|llm|model|gpt|chatbot)s?\s+"
    r"(?:reading|processing|summari[sz]ing|analy[sz]ing|reviewing)\s+this\b|\bto (?:whoever|"
    r"whatever) (?:or (?:whoever|whatever) )?reads this\b|<!--\s*(?:ai|assistant|llm)\s*:|"
    r"\[\s*(?:ai|llm|assistant|model)\b[^\]\n]{0,20}:|\bif you are an? (?:ai|llm|language model|"
    r"bot|assistant)\b|^\s*(?:hey\s+|hi\s+|ok\s+|okay\s+)?(?:ai|assistant|chatbot|bot|model|"
    r"ai assistant|ai model)\s*[,:])"
)
_DIRECTIVE = (
    r"(?:classify|treat|mark|approve|reject|close|flag|do not|don'?t|rate|reply|respond|output|"
    r"ignore|disregard|forget|skip|bypass|scrap|set|return|say|state|grant|escalate|refund)"
)
_LEAKABLE = (
    r"(?:conversation|chat(?:\s+history)?|message history|history|system prompt|previous "
    r"messages|api[ _-]?keys?|secrets?|credentials|access tokens?|tokens|passwords?|email "
    r"address(?:es)?|customer (?:data|details|records)|account numbers|everything you|you'?ve "
    r"seen|context)"
)

RULES: Final[tuple[Rule, ...]] = (
    _rule(
        "override_previous",
        "instruction_override",
        0.9,
        rf"\b{_SET_ASIDE}\b(?:\s+{_SCOPE}){{0,4}}\s+{_WHICH}\s+(?:(?:and|or|&)\s+\w+\s+)?"
        rf"(?:\w+\s+)?{_WHAT}\b{_NOT_MINE}",
    ),
    _rule(
        "override_your_rules",
        "instruction_override",
        0.8,
        rf"\b{_SET_ASIDE}\s+(?:(?:all|any|the rest|each)\s+(?:of\s+)?)?(?:your|the ai'?s|the "
        rf"model'?s)\s+(?:own\s+|\w+\s+)?{_WHAT}\b|\b{_SET_ASIDE}\s+(?:all|any|every|each)\s+"
        rf"(?:of\s+)?(?:the\s+)?{_WHAT}\b{_NOT_MINE}|\b{_SET_ASIDE}\s+(?:the\s+|all\s+|any\s+)?"
        rf"{_WHAT}\s+(?:in|from|of)\s+(?:your|the)\s+(?:system|developer|initial|original)\b|"
        rf"\b{_SET_ASIDE}\s+(?:the\s+|all\s+|any\s+|whatever\s+)?{_WHAT}\s+(?:given to you|you "
        rf"(?:were|have been) (?:given|configured with|set up with)|you started with)",
    ),
    _rule(
        "disobey_told",
        "instruction_override",
        0.8,
        rf"\b{_SET_ASIDE}\s+(?:what|everything|anything|all|the \w+)\s+(?:that\s+)?you(?:\s+were|"
        r"'ve\s+been|\s+have\s+been)\s+(?:told|given|instructed|programmed|trained|configured)\b",
    ),
    _rule(
        "squashed_override",
        "obfuscation",
        0.8,
        r"(?:ignore|disregard|forget)(?:all|any|the|of)*(?:previous|prior|above|earlier|your)"
        r"(?:instructions|rules|prompts?|directions|guidelines)"
        r"(?!(?:i|we)(?:sent|gave|wrote|left|provided|mentioned|added|emailed))",
    ),
    _rule(
        "stop_being_yourself",
        "role_play",
        0.6,
        r"\bstop (?:acting|behaving|being|pretending to be|working) (?:as |like )?(?:an? |the |a "
        r"helpful )?(?:customer support|support|assistant|bot|ai|chatbot|helpful)\b|\byour (?:job|"
        r"task|role|purpose|goal|only goal) (?:now |from now on )?is (?:now )?(?:to )?"
        r"(?=[^.\n]{0,60}\b(?:help me|ignore|reveal|approve|give me|tell me|transfer|hack|get "
        r"into|bypass))",
    ),
    _rule(
        "claims_authority",
        "role_play",
        0.4,
        r"\b(?:i'?m|i am) your (?:creator|developer|owner|admin|administrator|operator|maker|"
        r"programmer)\b|\boverride mode\b|\b(?:as|i am) the (?:system )?(?:administrator|developer)"
        r" (?:of this (?:system|ai|bot|assistant)|i (?:authori[sz]e|order|command) you)\b",
    ),
    _rule(
        "overrides_earlier",
        "instruction_override",
        0.7,
        rf"\b(?:overrides?|supersedes?|replaces?|takes precedence over|cancels?)\s+"
        rf"(?:all\s+|any\s+)?(?:your\s+|the\s+)?(?:earlier|previous|prior|other|existing)?\s*"
        rf"{_WHAT}\b|\byour {_WHAT} (?:are|is|have been|were) (?:outdated|obsolete|cancelled|"
        r"revoked|replaced|void)",
    ),
    _rule(
        "ignore_the_above",
        "instruction_override",
        0.6,
        rf"\b{_SET_ASIDE}\s+(?:all\s+|everything\s+)?(?:of\s+)?(?:the\s+)?(?:above|preceding)"
        r"\s*(?:[,.;:!]|and\b|then\b|$)",
    ),
    _rule(
        "new_instructions",
        "instruction_override",
        0.6,
        r"\b(?:new|updated|real|actual|revised|secret)\s+(?:system\s+)?(?:instructions|prompt|"
        r"task|directive|orders)\s*(?::|(?:is|are)\s*:|are\b|follow)|(?:^|[#=*-]{3,})\s*new "
        r"(?:system\s+)?instructions\s*(?:[#=*-]{3,}|$)|\byou have a new (?:directive|task|"
        r"instruction|objective)\b|\btreat (?:the following|this) as your (?:new )?(?:system "
        r"prompt|instructions)\b",
    ),
    _rule(
        "from_now_on",
        "role_play",
        0.6,
        r"\b(?:from now on|from this point (?:on|forward)|for the rest of this conversation|"
        r"henceforth)\b[^.\n]{0,40}\b(?:you|respond|answer|reply|act)\b",
    ),
    _rule(
        "you_are_now",
        "role_play",
        0.6,
        r"\b(?:you are|you'?re) now (?:an? |in |my |the )?(?:[\w-]+ )?(?:ai|assistant|bot|"
        r"chatbot|model|mode|persona|character|dan|gpt|hacker|unrestricted|unfiltered|free|evil|"
        r"jailbroken|developer|admin\w*)\b|\byou are no longer (?:an? )?(?:ai|assistant|bound|"
        r"restricted|limited|chatgpt|a support)\b|\bswitch(?:ing)? (?:to|into) (?:developer|god|"
        r"admin|unrestricted|jailbreak) mode\b|\byou'?re (?:now )?in god mode\b|\bforget (?:that )?"
        r"you are an? (?:\w+ )?(?:assistant|bot|ai|model)\b",
    ),
    _rule(
        "persona_without_rules",
        "role_play",
        0.7,
        r"\b(?:dan|do anything now|developer mode|jailbreak(?:ed)?|unfiltered ai|evil ?bot)\b"
        r"[^\n]{0,60}\b(?:mode|persona|enabled|act|respond|answer|can do anything|you are (?:dan|"
        r"[a-z]+gpt) now|no (?:rules|limits|"
        r"restrictions))\b|\b(?:act|behave|respond|answer|reply|roleplay|role-play|pretend)\s+(?:"
        r"like|as|to be|you(?:'re| are))\s+[^.\n]{0,40}?\b(?:with no|without|who never|that "
        r"never|no)\s+(?:any\s+)?(?:safety\s+|content\s+)?(?:restrictions|rules|limits|filters|"
        r"polic(?:y|ies)|guidelines|refus\w*)|\byou(?: are|'re)\s+[^.\n]{0,40}\b(?:with no|"
        r"without|who never|that never)\s+(?:any\s+)?(?:content\s+)?(?:polic(?:y|ies)|rules|"
        r"restrictions|filters|limits|guardrails|refus\w*)|\b(?:role-?play|let'?s play|new game"
        r")\b[^.\n]{0,30}:?\s*you(?: are|'re)\b|\bact as (?:an? )?(?:unrestricted|unfiltered|"
        r"uncensored|jailbroken|evil|rogue)\b",
    ),
    _rule(
        "no_restrictions",
        "safety_bypass",
        0.6,
        r"\b(?:without|with no|free of|no longer bound by|not bound by)\s+(?:any\s+)?(?:ethical\s+|"
        r"moral\s+|content\s+|safety\s+)?(?:restrictions|filters|limitations|censorship|"
        r"guidelines|guardrails)\b[^.\n]{0,40}\b(?:answer|respond|reply|tell|say|output|comply|"
        r"do)\b|\b(?:bypass|disable|turn off|switch off)\s+your\s+(?:safety|content|"
        r"security)\s+(?:filters?|polic(?:y|ies)|checks?|rules)\b|\b(?:turn off|disable) your "
        r"(?:filters|guardrails|safety)\b",
    ),
    _rule(
        "chat_template_token",
        "system_spoof",
        0.8,
        r"<\|?(?:im_start|im_end|system|endoftext|eot_id|start_header_id)\|?>|\[/?inst\]|<<sys>>|"
        r"</?(?:system|sys)>|\[(?:system|admin|developer)\]\s*\(|#{2,}\s*(?:instruction|response|"
        r"system)\s*:",
    ),
    _rule(
        "spoofed_role_line",
        "system_spoof",
        0.6,
        r"(?:^|[-=#*]{3,})\s*(?:#+\s*)?[\[(<]?\s*(?:system|developer|admin)\s*(?:message|prompt|override|note|"
        r"notice|instruction|alert|update)?\s*[\])>]?\s*:?\s*[^\n]{0,60}\b(?:assistant|the model|"
        r"the ai|must|override|privileges?|priority|polic(?:y|ies)|comply|verified admin|"
        r"escalate|root)\b|^\s*(?:system|developer)\s*:\s*(?:you|ignore|disregard|forget|new|"
        r"from now|the (?:user|assistant) (?:is|must|should))\b|^\s*assistant\s*:",
    ),
    _rule(
        "end_of_prompt_marker",
        "delimiter",
        0.6,
        r"(?:^|\n)\s*(?:-{3,}|={3,}|#{3,}|\*{3,}|`{3,})?\s*(?:end of (?:the )?(?:system |user )?"
        r"(?:prompt|instructions|context|document|input|data)|end (?:of )?(?:the )?system "
        r"(?:prompt|message)|begin(?:ning)? (?:of )?(?:new|real|the real) (?:instructions|prompt))"
        r"\b|[-=#*]{3,}\s*end of (?:the )?(?:ticket|message|email|text|conversation|user input)\b",
    ),
    _rule(
        "prompt_leak",
        "prompt_leak",
        0.8,
        rf"\b{_ASK}\b[^.\n]{{0,40}}\b{_HIDDEN}\b|\bwhat (?:is|are|was|were) (?:your|the) "
        rf"{_HIDDEN}\b",
    ),
    _rule(
        "leak_your_config",
        "prompt_leak",
        0.7,
        rf"\b{_ASK}\b[^.\n]{{0,40}}\b{_YOUR_CONFIG}|\b(?:full |complete |entire )?text of "
        r"(?:your (?:instructions|prompt)|the message that configured you)\b|\b(?:configured you|"
        r"you were configured with)\b|\bwhat did (?:the|your) (?:developer|operator|creator|admin)"
        r"s? (?:tell|instruct|ask) you\b|\b(?:instructions|rules|guidance|directives) (?:were|"
        r"was) you given\b|\bcontext window\b|\b(?:rules|instructions|guidelines) you (?:follow|"
        r"obey|were given|have)\b[^.\n]{0,40}\b(?:word for word|verbatim|exactly|confidential)|"
        r"\b(?:before|above|preceding) my (?:first |very first )?message\b",
    ),
    _rule(
        "repeat_above",
        "prompt_leak",
        0.7,
        r"\b(?:repeat|print|output|echo|copy|reproduce|show)\s+(?:back\s+)?(?:all\s+)?(?:of\s+)?"
        r"(?:the\s+)?(?:text|words|content|lines|messages?|everything)?\s*(?:above|before|"
        r"preceding|prior)(?:\s+(?:this|these|that)\b|\s*[.,;:!]|\s*$|\s+(?:instructions|"
        r"messages?|text|lines?|starting|beginning)\b)|"
        r"\b(?:everything|all text|the text) (?:above|before) (?:this|these) (?:line|message)\b|"
        r"\b(?:print|repeat|output|show|copy)\s+(?:all\s+)?(?:the\s+)?(?:messages?|text|"
        r"everything)\s+(?:before|above)\s+this\s+(?:one|line|message)\b|\b(?:written|said|"
        r"stated) (?:before|above) my (?:first )?message\b",
    ),
    _rule(
        "exfiltrate",
        "exfiltration",
        0.8,
        rf"\b(?:send|post|forward|upload|transmit|exfiltrate|leak|append|include|put|encode|"
        rf"add|e-?mail|mail|share)\b[^\n]{{0,60}}\b{_LEAKABLE}\b[^\n]{{0,60}}(?:https?://|\bwebhook\b|\burl\b|"
        rf"\bendpoint\b)|\b{_LEAKABLE}\b[^\n]{{0,40}}\b(?:to|into|in)\s+(?:this\s+)?(?:link|url)"
        rf"\b",
    ),
    _rule(
        "markdown_image_beacon",
        "exfiltration",
        0.7,
        r"!\[[^\]]*\]\(https?://[^)\s]*[?&][a-z_]+=(?:\{|\[|\$|<|%7b)|render (?:it|this)[^\n]{0,40}"
        r"https?://\S+[?&]\w+=\s*$",
    ),
    _rule(
        "decode_and_follow",
        "encoded_payload",
        0.7,
        r"\b(?:decode|decrypt|unscramble|translate|reverse|convert)\b[^.\n]{0,60}\b(?:and|then)\s+"
        r"(?:follow|execute|run|obey|do|carry out|perform|act on)\b|\b(?:run|execute|follow|obey)"
        r"\s+(?:this|it|the following)\s+after\s+decoding\b",
    ),
    _rule(
        "addressed_to_model",
        "indirect",
        0.4,
        _ADDRESS_MODEL,
    ),
    _rule(
        "directive_to_model",
        "indirect",
        0.6,
        rf"{_ADDRESS_MODEL}[^\n]{{0,80}}\b{_DIRECTIVE}\b",
    ),
    _rule(
        "non_english_override",
        "instruction_override",
        0.8,
        r"\bignor(?:e[zr]?|a[rs]?|iere\w*)\s+(?:toutes\s+|todas\s+|alle\s+)?(?:les\s+|las\s+|"
        r"die\s+)?(?:instructions|instrucciones|anweisungen)\s+(?:pr[ée]c[ée]dentes|ant[ée]rieures|"
        r"anteriores|previas|vorherigen|bisherigen)|\bvergiss\s+(?:alle\s+)?(?:vorherigen|"
        r"bisherigen)\s+anweisungen|\bignorier\w*\s+(?:alle\s+)?(?:vorherigen|bisherigen|"
        r"früheren)\s+anweisungen|\b(?:olvida|ignora)\w*\s+(?:todas\s+)?(?:tus|las)\s+"
        r"instrucciones\s+(?:anteriores|previas)|पिछले\s+(?:सभी\s+)?निर्देशों\s+को\s+(?:अनदेखा|नज़रअंदाज़|"
        r"नजरअंदाज)",
    ),
    _rule(
        "output_hijack",
        "instruction_override",
        0.5,
        r"\b(?:instead|rather),?\s+(?:just\s+)?(?:say|reply|respond|output|print|write)\s+"
        r"(?:only\s+)?[\"'“]|\b(?:say|print|output)\s+[\"'“]?(?:i have been|i've been) "
        r"(?:pwned|hacked)|\brespond only with\s+[\"'“][^\"'”]{1,30}[\"'”]\s+and\s+ignore\b",
    ),
)
