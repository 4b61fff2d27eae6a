"""Prompt-injection heuristics: a score in [0, 1] and the signals behind it.

Every pattern runs on `normalize(text)`, so zero-width characters, look-alike letters,
fullwidth forms, case, spacing, escapes and simple leetspeak do not change the score. Text
smuggled in Unicode tag characters is decoded and scored like visible text.

Each signal has a weight (how often, as judged on the corpus in the tests, a text showing it is
an attack); signals combine as independent evidence, `score = 1 - prod(1 - weight)`, each signal
counted once. One strong signal (an instruction override, a request for the system prompt or
for secrets, a DAN persona, exfiltration through a URL or a markdown image) reaches
`DEFAULT_THRESHOLD` alone; weak ones (a `system:` line, a chat-template token, "from now on",
"you are now ...", a note addressed to an AI) need company, because each turns up in benign
text too. Hidden content (tag characters, zero-width runs, bidi controls) is reported as a
signal (`hidden_tag`, `hidden_zero_width`, `hidden_bidi`) with weight 0: what hidden text says
is scored, but hiding it neither raises nor lowers the score, so an obfuscated text gets the
score of its plain form and a policy can still act on the signal.

These are heuristics: they catch the phrasings of known attack families and their rewordings,
not every paraphrase; the tests measure the rates on a labelled corpus.

Cost: each pattern has anchors. One split of the normalized text into words says which anchors
can occur (a set lookup per word); only those are searched, and a pattern is matched only where
its anchor occurs, its prefix only in a short window before it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NamedTuple

from agentdeck.guardrails.normalize import decode_tags, hidden_text, normalize

DEFAULT_THRESHOLD = 0.5


def _any(*words: str) -> str:
    """A non-capturing alternation of `words` (regex fragments)."""
    return "(?:" + "|".join(words) + ")"


_AI = _any(
    "ai", r"a\.i\.", "assistant", "llm", "large language model", "language model", "chatbot",
    "bot", "agent", "model", "gpt", "chatgpt", "claude", "copilot", "gemini",
) + r"s?\b"  # fmt: skip
_QUALIFIER = _any(
    "previous", "prior", "above", "earlier", "preceding", "former", "foregoing", "original",
    "initial", "old", "existing", "current", "given", "system", "developer", "safety", "default",
    "standard", "normal",
)  # fmt: skip
_RULES_NOUN = _any(
    "instructions?", "directions?", "directives?", "rules?", "guidelines?", "guidance",
    "prompts?", "commands?", "constraints?", "restrictions?", "programming", "orders?", "context",
    "polic(?:y|ies)", "messages?", "conversation", "training", "guardrails?", "filters?",
    "limitations?", "safeguards?",
) + r"\b"  # fmt: skip
_VERB = r"(?<!not )(?<!n't )(?<!never )(?<![a-z])" + _any(
    "ignor(?:e|ing)",
    "disregard(?:ing)?",
    "forget(?:ting)?",
    "overrid(?:e|ing)",
    "bypass(?:ing)?",
    "discard(?:ing)?",
    "abandon(?:ing)?",
    "set(?:ting)? aside",
    "drop(?:ping)?",
)
_SHOW = _any(
    "reveal", "print", "repeat", "show", "display", "output", "leak", "dump", "disclose", "share",
    "tell", "give", "write out", "spell out", "recite", "copy", "paste", "list", "return", "echo",
    "type out", "provide", "send", "read back", "write", "say", "translate", "encode",
    "summari[sz]e", "describe", "reply with", "respond with", "answer with",
)  # fmt: skip
_LOOT = _any(
    "conversation", "chat history", "chat log", "message history", "previous messages?",
    "every message", "all messages",
    "this chat", "chat so far", "system prompt", "your instructions", "api keys?", "passwords?",
    "credentials", "secrets?", "session tokens?", "cookies", "private data", "personal data",
    "contacts",
    r"(?:the user's|user|customer|client) (?:contacts|data|emails|files|messages|history)",
) + r"\b"  # fmt: skip
_SEND = _any(
    "send", "post", "forward", "upload", "transmit", "exfiltrate", "submit", "leak", "copy",
    "append", "include", "encode", "put", "attach", "fetch", "visit", "open", "load", "call",
)  # fmt: skip
# What a URL template names when it asks for conversation data or secrets: ?q={chat_history}
_PLACEHOLDER = _any(
    "conversation", "chat", "history", "summary", "secret", "password", "api_?key", "token",
    "prompt", "messages?", "memory", "credential", "ssn", "user email", "cookie", "session",
)  # fmt: skip
# Safety machinery a jailbreak asks to switch off.
_SAFETY = (
    r"(?:(?:safety|content|moderation|security)\s(?:checks?|filters?|rules|guidelines|measures|"
    r"polic(?:y|ies)|settings|protocols|features)|guardrails|moderation|content filter)\b"
)
_NEUTRALIZE = (
    r"(?<![a-z])(?:drop(?:ping)?|skip(?:ping)?|suspend(?:ing)?|disabl(?:e|ing)|turn(?:ing)? off|"
    r"lift(?:ing)?|remov(?:e|ing)|ignor(?:e|ing)|disregard(?:ing)?|bypass(?:ing)?|overrid(?:e|ing)|"
    r"forget(?:ting)?)"
)
_SECRETS = _any(
    "keys?", "passwords?", "passcodes?", "passphrases?", "credentials", "secrets?",
    "environment variables?",
) + r"\b"  # fmt: skip
_ROLES = ("system", "assistant", "developer", "admin")
_OVERRIDE_VERBS = ("ignor", "disregard", "forget", "overrid", "bypass", "discard", "abandon",
                   "set aside", "drop")  # fmt: skip
_TO_AI = (
    " ai",
    "assistant",
    "llm",
    "model",
    "language model",
)  # anchors of text addressed to the model
_MODES = _any("developer", "god", "jailbreak", "dan", "unrestricted", "sudo", "admin", "debug")
_ROLE = (
    r"(?:system|assistant|developer|admin(?:istrator)?)(?:\s(?:message|prompt|note|override|"
    r"instructions?|update))?(?:\]|>|\*\*)?\s?:"
)
_DIRECTIVE = _any(
    r"you\s(?:are|must|will|shall|should|have|now)", r"your\s", "ignore", "disregard", "forget",
    "override", r"new\s", "from now", "always", "never", "do not", "don't",
    r"the (?:assistant|ai|model)\s(?:must|will|should|is)", r"all\s", "important", "attention",
    "reveal", "print", "obey", "execute", "elevated", "grant",
)  # fmt: skip
_LINE_START = r"^(?:\[|<|\*\*)?"
# A first-person how-to question asks about a thing, it does not ask for it.
_HOW_TO = re.compile(r"\bhow (?:(?:do|can|could|should|would) (?:i|we|one)|to)\b[^.?!\n]*\Z")


class _Rule(NamedTuple):
    """One pattern of a signal. The text is normalized (lower case, single spaces). `pattern`
    is matched where an anchor occurs (after the anchor's leading space, if it has one);
    `prefix`, when given, must match the `window` characters just before that point, and is
    only tried when one of the `gate` substrings is in them (a cheap `in` first)."""

    signal: str
    weight: float
    anchors: tuple[str, ...]
    pattern: str
    prefix: str | None = None
    gate: tuple[str, ...] = ()
    window: int = 60


_OVERRIDE = (
    rf"{_VERB}\s(?:(?:all|any|every|each)\s(?:of\s)?)?(?:(?:the|your|my|these|those|its|such)\s)?"
    rf"(?:{_QUALIFIER}\s){{1,2}}(?:[a-z]+\s)?{_RULES_NOUN}",
    rf"{_VERB}\s(?:all|any|every)\s(?:of\s)?(?:(?:the|your|my|these|those)\s)?(?:[a-z]+\s)?"
    rf"{_RULES_NOUN}",
    rf"{_VERB}\s(?:all\s)?(?:of\s)?your\s(?:[a-z]+\s)?{_RULES_NOUN}",
    rf"{_VERB}\s(?:all\s)?(?:of\s)?your\s(?:{_QUALIFIER}\s)?(?:[a-z]+\s)?"
    r"(?:tasks?|goals?|objectives?|role|mission|persona|purpose)\b",
    rf"{_VERB}\s(?:all\s)?(?:of\s)?(?:the\s)?user(?:'s|s')\s(?:[a-z]+\s)?"
    r"(?:requests?|questions?|tasks?|query|input|instructions?|messages?)\b",
    rf"{_VERB}\s(?:all\s)?(?:of\s)?(?:the|these|those|whatever|any)\s(?:[a-z]+\s)?{_RULES_NOUN}\s"
    r"(?:above|before|given|so far|from (?:before|earlier)|(?:that\s)?you(?:'ve| were| have been|"
    r" have| got)\s(?:given|told|set up with|trained (?:on|with)|programmed with|given))",
    rf"{_VERB}\s(?:what|everything|anything|all)\s(?:you(?:'ve| have)? (?:been told|were told|"
    r"were given|learned|know)|(?:i|we) (?:told you|said) (?:before|earlier)|above|before this|"
    r"prior)",
)


def _factored(branches: tuple[str, ...]) -> str:
    """`_any(*branches)` with the verb they all start with matched once: the same matches, but
    the engine no longer tries the verb's lookbehinds and alternatives again for every branch."""
    head = rf"{_VERB}\s"
    if not all(branch.startswith(head) for branch in branches):
        raise ValueError("every branch must start with the verb")
    return head + _any(*(branch.removeprefix(head) for branch in branches))


_IGNORE_ABOVE = (
    rf"{_VERB}\s(?:all\s)?(?:of\s)?(?:the\s|everything\s)?(?:above|previous|preceding|prior)"
    r"(?:\s(?:text|content|message|input|prompt|lines?|directions?))?(?:\s?(?:and|then|,|\.|:"
    r"|;|!|-))+"
    r"\s?(?:instead\s)?(?:now\s)?(?:just\s)?"
    + _any("say", "print", "write", "respond", "reply", "output", "tell", "translate", "repeat",
           "answer", "do", "act", "pretend", "return", "type", "list", "reveal", "show", "give",
           "only", "start")
    + r"\b"
)  # fmt: skip
_SHOW_PROMPT = (
    rf"(?<![a-z]){_SHOW}\s(?:me\s|us\s)?(?:back\s)?(?:[a-z]+\s){{0,4}}?(?:your|its)\s"
    r"(?:(?:full|entire|exact|complete|original|initial|hidden|secret|internal|system|whole|first"
    r"|current)\s)*",
    rf"(?<![a-z]){_SHOW}\s(?:me\s|us\s)?(?:back\s)?(?:[a-z]+\s){{0,3}}?the\s"
    r"(?:(?:full|entire|exact|complete|original|initial|hidden|secret|internal|whole|first)\s)*"
    r"(?:system|developer|hidden|secret|original|initial)\s",
    rf"(?<![a-z]){_SHOW}\s(?:me\s|us\s)?(?:[a-z]+\s){{0,4}}?(?:the|your)\s(?:hidden\s)?",
    r"(?<![a-z])what (?:is|are|was|were|does|do|did) your\s"
    r"(?:(?:full|exact|original|initial|hidden|secret|system)\s)*",
)
_ASK_SECRET = (
    r"(?<![a-z])(?:what(?:'s| is| are)|tell me|give me|show me|share|send me|list|read out|"
    r"display|provide)\s(?:me\s)?(?:all\s)?(?:of\s)?(?:your|any)\s(?:[a-z_]+\s){0,2}",
    r"(?<![a-z])(?:reveal|leak|dump|disclose|exfiltrate|expose)\s(?:me\s)?(?:all\s)?(?:of\s)?"
    r"(?:(?:your|any|the)\s)?(?:[a-z_]+\s){0,3}",
    r"(?<![a-z])(?:print|output|show|list)\s(?:me\s)?(?:all\s)?(?:of\s)?(?:your|any|the)\s"
    r"(?:[a-z_]+\s){0,3}",
)
_ADDRESSING = (
    r"(?<![a-z])(?:(?:note|message|instructions?|attention|important|notice|warning|reminder|"
    r"directive)\s(?:to|for)\s(?:the\s|any\s|all\s)?|if you(?: are|'re) (?:an?\s)?|"
    r"(?:^|: )(?:to|for) (?:the\s|any\s|all\s)?)"
)

_RULES: tuple[_Rule, ...] = (
    # Instruction override: "ignore all previous instructions", "forget everything you were told".
    _Rule("override", 0.8, _OVERRIDE_VERBS, _factored(_OVERRIDE)),
    _Rule("override", 0.8, ("follow", "obey", "adher"),
          r"(?:follow(?:ing)?|obey(?:ing)?|adher(?:e|ing) to)\s(?:all\s|any\s)?(?:of\s)?"
          rf"(?:your\s(?:[a-z]+\s)?|(?:the\s|your\s|these\s)?{_QUALIFIER}\s(?:[a-z]+\s)?)"
          rf"{_RULES_NOUN}", r"(?<![a-z])(?:stop|no longer|not|n't|never again"
          r"|cease)\s", window=14),
    _Rule("override", 0.8, ("instruction",),
          r"instructions?\s(?:are|is|have been|were)\s(?:now\s|hereby\s)?(?:void|null|cancell?ed|"
          r"revoked|obsolete|invalid|overridden|superseded|no longer (?:valid|apply|applicable))",
          r"(?<![a-z])(?:previous|prior|earlier|above|old|original|all|your|the"
          r"|any)\s(?:[a-z]+\s)?",
          window=30),
    # "Ignore the above and say ..." (but not "please ignore the typo above").
    _Rule("ignore_above", 0.6, ("ignor", "disregard", "forget"), _IGNORE_ABOVE),
    _Rule("new_instructions", 0.45, ("instruction", "directive", "command"),
          r"(?:instructions?|directives?|commands?)\b\s?(?::|-|are\b|follow\b|from\b|take\b|"
          r"supersede)",
          r"(?<![a-z])(?:new|updated|revised|real|actual|additional|hidden|secret|override|"
          r"priority)\s(?:system\s|admin\s|developer\s)?", window=30),
    _Rule("new_instructions", 0.45, ("new rule",), r"new rules?\s?:"),
    _Rule("new_task", 0.55, ("your new", "your real", "your true"),
          r"your (?:new|real|true)\s(?:task|instructions?|role|goal|objective|purpose|directive|"
          r"mission|job|orders?)\b"),
    _Rule("from_now_on", 0.3, ("from now on", "from here on", "from this point"),
          r"from (?:now on|here on|this point(?: on| forward| onward)?)\b[,:]?\s(?:you|your"
          rf"|the assistant|{_AI}|act|respond|answer|reply|always|"
          r"only|never|ignore|forget)"),
    # Personas: "you are now ...", "pretend you are ...", "you are no longer an AI".
    _Rule("persona", 0.35, ("you are", "you're", "pretend", "act as"),
          r"(?<![a-z])(?:you(?: are|'re) (?:now\s)?[a-z]+(?:gpt|bot)\b"
          r"|you are now\s(?:an?\s|the\s|my\s|in\s|free|unrestricted|jailbroken|dan\b|"
          r"evil|unfiltered|uncensored|operating|acting|going to|called|named|playing)"
          r"|pretend\s(?:that\s)?(?:you are|you're|to be|you have|you were)\b"
          r"|act as (?:if you (?:are|were|have)|an? (?:unrestricted|unfiltered|uncensored|evil"
          r"|rogue|jailbroken|different|new|ai)|dan\b|my\s))"),
    _Rule("persona_unbound", 0.5, ("you are", "you're"),
          rf"(?<![a-z])you(?: are|'re) no longer\s(?:an?\s|the\s)?(?:{_AI}|bound|restricted"
          r"|limited|"
          r"required|constrained|subject|chatgpt|claude)"),
    _Rule("unrestricted", 0.35, ("restrict", "censor", "guideline", "polic", "limit", "rules"),
          r"(?:restrictions|filters|filtering|censorship|guidelines|polic(?:y|ies)|limits|"
          r"limitations|rules)\b",
          r"(?<![a-z])(?:you|your|assistant|ai|model)\b[^.\n]{0,60}\b(?:no|without(?: any)?|"
          r"free (?:of|from)|zero|not bound by|ignore|freed from|released from)\s"
          r"(?:(?:ethical|moral|safety|content|any)\s)?",
          gate=("no ", "without", "free", "zero", "bound", "ignore", "released"), window=90),
    _Rule("unrestricted", 0.35, ("polic", "rules", "guideline", "restrict"),
          r"(?:polic(?:y|ies)|rules|guidelines|restrictions)\s(?:doesn't|does not|don't|do not|"
          r"no longer)\s(?:exist|apply)"),
    _Rule("unrestricted", 0.35, ("unrestrict", "uncensor", "unfilter"),
          r"un(?:restricted|censored|filtered)\s(?:ai|assistant|model|mode|version|chatbot|llm|"
          r"responses?|answers?|output)\b"),
    _Rule("persona_unbound", 0.5, ("jailbr",), r"jailbroken\b",
          r"(?<![a-z])you(?:'ve| have)? been |(?<![a-z])you(?: are|'re)(?: now)? "
          r"|act like you(?:'ve|"
          r" have)? been ", window=24),
    _Rule("persona_unbound", 0.5, ("limit", "restrict", "rules", "guideline"),
          r"(?:limitations|limits|restrictions|rules|guidelines)\b",
          r"(?<![a-z])you(?:'ve| have)? been (?:freed|released|liberated|unshackled"
          r"|unchained) from "
          r"(?:all\s)?(?:of\s)?(?:your\s)?", window=60),
    _Rule("persona_unbound", 0.5, ("pretend",),
          r"pretend\s(?:that\s)?(?:the|your|there (?:is|are) no)\s(?:[a-z]+\s)?"
          rf"{_RULES_NOUN}"),
    _Rule("persona_unbound", 0.5, ("unrestrict", "uncensor", "unfilter", "jailbr"),
          rf"(?:unrestricted|unfiltered|uncensored|jailbroken)\s(?:[a-z]+\s)?{_AI}",
          r"(?<![a-z])you(?: are|'re)(?: now)? (?:an? )?", window=20),
    _Rule("jailbreak_word", 0.3, ("jailbr",), r"jailbr(?:eak|oken|eaking)\b"),
    # DAN ("do anything now") and its relatives.
    _Rule("dan", 0.65, ("dan",),
          r"(?<![a-z])dan\b(?:\smode\b|[^\n]{0,40}\b(?:stands for|do anything|jailbr|"
          r"no restrictions|unrestricted|without (?:any )?(?:rules|restrictions|limits)))"),
    _Rule("dan", 0.65, ("dan",), r"dan\b",
          r"(?<![a-z])(?:you are|you're|act as|become|pretend to be|playing)\s(?:now\s)?(?:an?\s)?",
          window=24),
    _Rule("dan", 0.65, ("anything now",), r"anything now\b", r"(?<![a-z])do ", window=3),
    _Rule("developer_mode", 0.55, (" mode",),
          r"mode (?:is\s)?(?:enabled|activated|engaged|on(?=\s?[.,;:!)\n]|\s?$))",
          rf"(?<![a-z]){_MODES} ", window=16),
    _Rule("developer_mode", 0.55, (" mode",), r"mode\b",
          r"(?<![a-z])(?:with (?:developer|god|dan|jailbreak|debug)|(?:enable|activate|turn on) "
          r"(?:god|jailbreak|dan|unrestricted|sudo)|(?:enter|switch to|switch into|go into"
          r"|simulate|emulate) "
          r"(?:developer|god|jailbreak|dan|unrestricted|sudo)"
          rf"|(?:you are|you're) (?:now )?in {_MODES}) ", window=30),
    _Rule("developer_mode", 0.55, (" mode",), r"mode,?\s(?:you|your)\b",
          rf"(?<![a-z])in {_MODES} ", window=16),
    # Fake system or role text.
    _Rule("role_line", 0.35, _ROLES, rf"{_ROLE}|(?:system|admin(?:istrator)?|developer)\]",
          _LINE_START, window=2),
    _Rule("role_line_directive", 0.55, _ROLES,
          rf"(?:{_ROLE}|(?:system|admin(?:istrator)?|developer)\])\s?{_DIRECTIVE}", _LINE_START,
          window=2),
    _Rule("role_line_directive", 0.55, ("ai:", "ai :"),
          rf"ai\s?:\s?{_DIRECTIVE}|ai\s?:\s?(?:write|say|tell|output|reply|respond)\b",
          _LINE_START, window=2),
    _Rule("chat_template", 0.35, ("<", "["),
          r"<\|?(?:im_start|im_end|im_sep|endoftext|eot_id|begin_of_text|start_header_id|"
          r"end_header_id|eom_id)\|?>|<\|(?:end|user)\|>|\[/?inst\]|<</?sys>>|</?start_of_turn>"
          r"|<end_of_turn>"),
    _Rule("chat_template_role", 0.55, ("<",),
          r"<\|?im_start\|?>\s?(?:system|assistant|developer)|<\|(?:system|assistant|developer)\|>"
          r"|<\|start_header_id\|>\s?(?:system|assistant)|<start_of_turn>\s?(?:system|model)"),
    _Rule("system_tag", 0.4, ("<",),
          r"(?<!<)</?(?:system|system_prompt|sys|admin|developer|instructions?|im_system)>(?!>)"),
    _Rule("tag_breakout", 0.4, ("<",),
          r"</(?:user|human|user_input|user_message|document|context|data|tool_output|tool_result|"
          r"search_results?|email|untrusted)>"),
    _Rule("system_prompt_marker", 0.5, ("system",),
          r"system\s(?:prompt|message|instructions?|override)\b",
          r"(?<![a-z])(?:begin|start|end|beginning)\s(?:of\s)?(?:the\s)?(?:new\s|real\s"
          r"|updated\s)?",
          window=30),
    _Rule("system_prompt_marker", 0.5, ("system",),
          r"system\s(?:(?:prompt|message|instructions?)\s?(?:update|override|begins?|starts?|"
          r"changed)\b|override\s?[:!\]-])"),
    _Rule("system_prompt_marker", 0.5, ("system",), r"system\s(?:prompt|message|instructions?)\s?:",
          r"(?<![a-z])(?:new|updated|revised|real|actual|true)\s", window=12),
    # A heading that announces a system part. Its anchor is the line break before it (the text
    # is scanned with one prepended), a single search that stops only at line breaks.
    _Rule("fake_heading", 0.4, ("\n",),
          r"\n(?:#{1,6}|={2,}|-{3,}|\*{3,})\s?(?:system|new instructions|new system prompt"
          r"|admin|override|"
          r"developer message|system prompt|system message|(?:instruction|admin|system) override|"
          r"instructions for the (?:ai|assistant|model))\s?:?(?:\s?(?:={2,}|-{3,}|\*{3,}))?$"),
    # Exfiltration: the system prompt, the text above, secrets, data sent to a URL or an image.
    _Rule("exfil_prompt", 0.6, ("instruction",),
          r"instructions?\s(?:that\s)?you\s(?:were|have been|got)\s(?:given|told|provided)",
          rf"(?<![a-z])(?:{_SHOW}|what (?:is|are|was|were))\s(?:[a-z]+\s){{0,4}}?", window=50),
    _Rule("exfil_prompt", 0.6, ("prompt", "instruction", "system", "configuration", "preamble",
                                "context window"),
          r"(?:(?:system\s)?prompt|instructions|system (?:message|text)|directives|configuration|"
          r"programming|initial message|preamble|context window)\b", _any(*_SHOW_PROMPT),
          gate=("your ", "its ", "system ", "developer ", "hidden ", "secret ", "original ",
                "initial ", "the ")),
    _Rule("exfil_above", 0.55, ("above",),
          r"above\s(?:text|words|content|lines|messages?|instructions|prompt|conversation)\b",
          r"(?<![a-z])(?:repeat|print|output|copy|echo|recite|reproduce|return|paste|quote|dump|"
          r"reveal|show)\s(?:[a-z]+\s){0,3}?"),
    _Rule("exfil_above", 0.55, ("above", "before this"), r"(?:above|before this)\b",
          r"(?<![a-z])(?:repeat|print|output|copy|echo|recite|reproduce|return|reply with|"
          r"respond with|paste|quote|dump|reveal)\s(?:[a-z]+\s){0,5}?",
          gate=("text", "word", "content", "conversation", "instruction", "prompt", "message",
                "everything")),
    _Rule("exfil_above", 0.55, ("above", "before this"), r"(?:above|before this)\b",
          r"(?<![a-z])(?:repeat|print|output|write|copy|echo|recite|reproduce|spell|return|show)\s"
          r"(?:out\s|back\s)?(?:all\s|everything\s|(?:all\s)?the\s(?:(?:full|entire|exact|whole|"
          r"complete|previous|hidden)\s)?(?:text|words|content|lines|messages?|instructions|prompt|"
          r"conversation)\s)(?:you (?:were|have been) given\s|written\s|said\s|that (?:appears?|"
          r"was written)\s)?",
          gate=("repeat", "print", "output", "write", "copy", "echo", "recite", "reproduce",
                "spell")),
    _Rule("exfil_secret", 0.6, ("key", "passw", "credential", "secret", "environment variable"),
          _SECRETS, _any(*_ASK_SECRET),
          gate=("your ", "any ", "reveal", "leak", "dump", "disclose", "print", "output",
                "expose")),
    _Rule("exfil_secret", 0.6, ("key", "passw", "credential", "secret"),
          r"(?:keys?|passwords?|passphrases?|credentials|secrets?)\s(?:that\s)?you(?:'ve|\s(?:were|"
          r"are|have been|have))\s(?:given|configured|provided|told|using|set up|stored)",
          rf"(?<![a-z])(?:{_SHOW}|what (?:is|are|was|were))\s(?:[a-z]+\s){{0,4}}?", window=50),
    _Rule("exfil_url", 0.65, ("://",), r"://",
          rf"(?<![a-z]){_SEND}\b[^\n]{{0,80}}?\b{_LOOT}[^\n]{{0,80}}?(?:https?|ftp)?"
          rf"|(?<![a-z]){_LOOT}[^\n]{{0,80}}?\b{_SEND}\b[^\n]{{0,80}}?(?:https?|ftp)?",
          gate=("conversation", "chat", "message", "prompt", "instructions", "key", "password",
                "credential", "secret", "token", "cookie", "data"), window=170),
    _Rule("exfil_url", 0.65, ("://",),
          r"://[^\s]*[^\n]{0,60}\b(?:with|containing|including|append(?:ing)?|add(?:ing)?)\b"
          rf"[^\n]{{0,40}}\b{_LOOT}"
          r"|://[^\s)\"'<>]{1,300}?[?&][\w.-]{1,40}=(?:\{|\[|<|%7b|%5b|%3c)[^}\]>]{0,40}?"
          + _PLACEHOLDER),
    _Rule("exfil_markdown", 0.65, ("[",),
          r"\[[^\]\n]{0,100}\]\((?:https?:)?//[^)\s]{1,300}?[?&][\w.-]{1,40}=(?:[^)\s&]*"
          r"(?:\{|\[|<|%7b|%5b|%3c|\$)|(?:conversation|chat|history|secret|password|prompt|"
          r"message|data|summary|info|memory|context|key|token|email|user|credential|ssn|base64))"),
    # Instructions to hide what is done from the user.
    _Rule("hide_from_user", 0.45, ("the user",), r"the user\b",
          r"(?<![a-z])(?:(?:do not|don't|never|without)\s(?:tell(?:ing)?|inform(?:ing)?|"
          r"mention(?:ing)?|reveal(?:ing)?|alert(?:ing)?|notify(?:ing)?|let(?:ting)?|show(?:ing)?|"
          r"warn(?:ing)?)\s(?:this\s|it\s|anything\s)?(?:to\s)?|without\s)", window=40),
    _Rule("hide_from_user", 0.45, ("the user",),
          r"the user (?:must not|should not|shouldn't|mustn't|cannot|can't|won't|does not need to) "
          r"(?:know|see|find out|be told|notice|be informed)\b"),
    _Rule("hide_from_user", 0.45, ("mention this", "reveal this", "disclose this"),
          r"(?:mention|reveal|disclose) this (?:note|instruction|message|text|comment|request"
          r"|line)s?"
          r"\b",
          r"(?<![a-z])(?:do not|don't|never|not|without)\s", window=12),
    # Text addressed to the model inside a document: "Note to the AI: ...".
    _Rule("addressed_to_ai", 0.4, _TO_AI, _AI, _ADDRESSING,
          gate=("note", "message", "instruction", "attention", "important", "notice", "warning",
                "reminder", "directive", "if you", "to ", "for "), window=40),
    _Rule("addressed_to_ai", 0.4, _TO_AI,
          rf"{_AI},\s(?:stop|ignore|disregard|forget|please|you must|now|new|do not|don't"
          r"|listen)\b",
          r"(?:^|[.!?>:\"]\s?)", window=3),
    _Rule("addressed_to_ai", 0.4, _TO_AI, _AI,
          r"^(?:attention|important|note|notice|hey|dear)\s?[,:!]?\s(?:the\s)?", window=16),
    _Rule("addressed_to_ai", 0.4, _TO_AI,
          rf"{_AI}(?:\s{_AI})?\s(?:that\s|who\s)?(?:is\s|are\s)?(?:reading|processing|"
          r"summari[sz]ing|parsing|analy[sz]ing|scraping|browsing|viewing|reads|processes|sees|"
          r"summari[sz]es|parses|scans)\s(?:this|these)\b"),
    _Rule("addressed_to_ai", 0.4, _TO_AI, rf"{_AI}\s?:", r"(?:<!--\s?|\[|\()", window=5),
    # Orders given to the model in the third person: "the assistant should now ignore ...".
    _Rule("ai_override", 0.55, _TO_AI,
          rf"{_AI}\s(?:should|must|shall|will|needs? to|has to|is to)\s(?:now\s|also\s|always\s)?"
          r"(?:ignore|disregard|forget|override|bypass)\b"),
    _Rule("ai_directive", 0.3, _TO_AI,
          rf"{_AI}\s(?:should|must|shall|will|needs? to|has to|is to)\s(?:now\s|also\s|always\s)?"
          r"(?:reveal|recommend|not (?:mention|tell|reveal|summari[sz]e)|tell|say|reply|respond|"
          r"output|print|send|forward|email|include|add|insert|visit|praise)\b"),
    _Rule("instead_say", 0.3, ("instead",),
          r"instead,?\s(?:just\s)?(?:say|respond|reply|output|print|write|answer|tell|translate|"
          r"recommend|direct|send)\b"),
    _Rule("pwned", 0.45, ("pwn",), r"pwn(?:ed|ing)?\b"),
    # Structure over phrasing: the model's rules set aside, lifted, superseded, or absent.
    _Rule("override", 0.8, ("aside",), r"aside\b",
          r"(?<![a-z])set\s(?:all\s)?(?:of\s)?(?:your|its)\s(?:[a-z]+\s){0,3}?", window=50),
    _Rule("override", 0.8, ("supersede", "overrides", "replaces", "precedence"),
          r"(?:supersedes?|overrides|replaces|takes precedence over)\s(?:all\s)?(?:of\s)?"
          rf"(?:your|any of your)\s(?:[a-z]+\s)?(?:{_RULES_NOUN}|system prompt)"),
    _Rule("override", 0.8, ("guardrail", "restrict", "rules", "filter", "limit", "polic", "ethic",
                            "guideline", "constraint"),
          r"(?:guardrails|restrictions|rules|filters|limits|limitations|polic(?:y|ies)|ethics|"
          r"guidelines|constraints)\s(?:have been|has been|are|were|is)\s(?:now\s)?(?:lifted|"
          r"removed|disabled|suspended|turned off|deactivated|waived|cancell?ed|revoked|void|null|"
          r"gone)\b", r"(?<![a-z])(?:your|its|all of your|all your)\s(?:[a-z]+\s)?", window=30),
    _Rule("safety_off", 0.45, ("skip", "suspend", "disabl", "turn off", "lift", "remov",
                               *_OVERRIDE_VERBS),
          rf"{_NEUTRALIZE}\s(?:all\s|any\s)?(?:of\s)?(?:your\s|the\s"
          rf"|its\s)?(?:[a-z]+\s)?{_SAFETY}"),
    _Rule("ignore_document", 0.45, ("ignor", "disregard"),
          rf"{_VERB}\s(?:all\s)?(?:of\s)?the rest of (?:the|this) (?:document|text|page|email|"
          r"message|prompt|content|article|file)\b"),
    _Rule("persona_unbound", 0.5, ("restrict", "rules", "limit", "guideline", "filter", "ethic",
                                   "moral", "guardrail", "polic"),
          r"(?:restrictions|rules|limits|limitations|guidelines|filters|ethics|morals|guardrails|"
          r"polic(?:y|ies))\b(?!\s(?:on|for|in|to)\b)",
          rf"(?<![a-z])(?:you (?:have|had|now have)|you've got|{_AI} (?:with|that has|who has)|"
          rf"{_AI} without)\s(?:no\s|zero\s|any\s)?(?:more\s)?(?:ethical\s|moral\s|safety\s|"
          r"content\s)?", gate=("you", " with", " has"), window=50),  # every branch has one
    _Rule("persona_unbound", 0.5, ("escaped", "broken free", "broke free", "freed"),
          r"(?:escaped|broken free of|broke free of|freed (?:itself|yourself) from)\s(?:its|your)\s"
          r"(?:training|programming|rules|constraints|guidelines|restrictions|creators)\b"),
    _Rule("authority_claim", 0.35, ("developer", "creator", "operator", "programmer", "admin"),
          r"(?:developer|creator|operator|programmer|admin(?:istrator)?)\b",
          r"(?<![a-z])(?:this is|i am|i'm) your ", window=14),
    _Rule("new_task", 0.55, ("the real", "the true", "the actual"),
          r"the (?:real|true|actual) (?:task|instructions?|goal|objective|mission)\s?:"),
    _Rule("new_instructions", 0.45, ("instruction",),
          rf"instructions?\s(?:to|for)\s(?:the\s|all\s|any\s)?{_AI}",
          r"(?<![a-z])(?:hidden|secret|special|important|new)\s", window=12),
    # What the model was told: "what rules were you given", "print every instruction you got".
    _Rule("exfil_prompt", 0.6, ("rules", "instruction", "guideline"),
          r"(?:rules|instructions?|guidelines)\s(?:(?:were|did|have)\syou\s(?:been\s)?(?:told"
          r"|given|"
          r"asked|instructed)|(?:that\s)?you\s(?:have\s|were\s|'ve\s)?(?:received|been given|got))",
          rf"(?<![a-z])(?:{_SHOW}(?:ing)?|what)\s(?:[a-z]+\s){{0,4}}?", window=50),
    _Rule("exfil_prompt", 0.6, ("rules", "guideline"), r"(?:rules|guidelines)\b",
          rf"(?<![a-z]){_SHOW}(?:ing)?\s(?:me\s)?(?:[a-z']+\s){{0,4}}?(?:your|its)\s(?:[a-z]+\s)?",
          gate=("your", "its"), window=60),
    _Rule("exfil_prompt", 0.6, ("developer", "hidden", "confidential", "setup", "internal"),
          r"(?:(?:developer|hidden|confidential|setup|internal)\s(?:[a-z]+\s)?(?:message|prompt|"
          r"instructions|text|notes|setup))\b",
          rf"(?<![a-z]){_SHOW}(?:ing)?\s(?:me\s)?(?:[a-z']+\s){{0,4}}?(?:your|the|all|every)\s"
          r"(?:[a-z]+\s)?", gate=("your", "the ", "all", "every"), window=60),
    _Rule("exfil_secret", 0.6, ("key",), r"key\b",
          r"(?<![a-z])(?:send me|give me|tell me|show me|print|output|reveal|leak|dump|paste"
          r"|share)\s"
          r"(?:[a-z_']+\s){0,3}?[a-z]+_(?:api_)?", window=60),
    _Rule("exfil_secret", 0.6, ("token",), r"tokens?\b",
          r"(?<![a-z])(?:(?:send me|give me|tell me|show me|print|output|reveal|leak|dump|share)\s"
          r"(?:me\s)?|(?:respond|reply|answer)\s[^.\n]{0,30}?with\s)(?:the\s|your\s|any\s)?"
          r"(?:admin|api|access|auth|bearer|session|secret|refresh)\s", window=60),
    _Rule("privilege_claim", 0.45, ("privilege",),
          r"privileges?\s(?:granted|enabled|activated|unlocked|escalated)",
          r"(?<![a-z])(?:elevated|admin|administrator|root|developer|god|system"
          r"|full)\s", window=16),
    _Rule("obey_all", 0.45, ("obey",),
          r"obey\s(?:all|every|any|only)\s(?:of\s)?(?:my\s|the user's\s|user\s|these\s)?"
          r"(?:commands|orders|requests|instructions)\b"),
)  # fmt: skip

_HIDDEN = {"tag characters": "hidden_tag", "zero-width run": "hidden_zero_width",
           "bidi controls": "hidden_bidi"}  # fmt: skip


@dataclass(frozen=True, slots=True)
class InjectionResult:
    """How strongly a text looks like a prompt injection, and why."""

    score: float  # 0 (nothing seen) to 1
    signals: tuple[str, ...]  # sorted signal names, e.g. ("exfil_prompt", "override")


# The words whose presence makes an anchor worth a search: one set lookup per word of the text
# replaces a scan of the whole text per anchor. Anchors of punctuation are searched always.
_TRIGGERS: dict[str, str] = {
    "ignor": "ignore ignores ignored ignoring", "disregard": "disregard disregarding",
    "forget": "forget forgetting", "overrid": "override overrides overriding overridden",
    "bypass": "bypass bypassing", "discard": "discard discarding", "abandon": "abandon abandoning",
    "set aside": "aside", "follow": "follow follows following", "obey": "obey obeying",
    "adher": "adhere adhering", "instruction": "instruction instructions", "new rule": "rule rules",
    "your new": "new", "your real": "real", "your true": "true", "from now on": "now",
    "from here on": "here", "from this point": "point", "you are": "you", "you're": "re",
    "pretend": "pretend pretending", "act as": "act",
    "restrict": "restrict restricted restriction restrictions unrestricted",
    "censor": "censor censored censorship uncensored", "guideline": "guideline guidelines",
    "polic": "policy policies", "limit": "limit limits limited limitation limitations",
    "rules": "rules", "unrestrict": "unrestricted", "uncensor": "uncensored",
    "unfilter": "unfiltered", "jailbr": "jailbreak jailbreaks jailbroken jailbreaking",
    "dan": "dan", "anything now": "anything", " mode": "mode",
    "system": "system systems", "assistant": "assistant assistants", "developer": "developer",
    "admin": "admin administrator", "ai:": "ai", "ai :": "ai", " ai": "ai",
    "prompt": "prompt prompts", "configuration": "configuration", "preamble": "preamble",
    "context window": "window", "above": "above", "before this": "before",
    "key": "key keys apikey", "passw": "password passwords passwd",
    "credential": "credential credentials", "secret": "secret secrets",
    "environment variable": "environment", "the user": "user", "mention this": "mention",
    "reveal this": "reveal", "disclose this": "disclose",
    "llm": "llm llms", "model": "model models", "language model": "language", "instead": "instead",
    "pwn": "pwn pwned pwnd pwning", "privilege": "privilege privileges", "aside": "aside",
    "supersede": "supersede supersedes", "overrides": "overrides", "replaces": "replaces",
    "precedence": "precedence", "guardrail": "guardrail guardrails",
    "filter": "filter filters filtered", "ethic": "ethics ethical", "moral": "morals moral",
    "constraint": "constraint constraints", "drop": "drop dropping", "skip": "skip skipping",
    "suspend": "suspend suspending", "disabl": "disable disabling", "turn off": "off",
    "lift": "lift lifting", "remov": "remove removing", "escaped": "escaped",
    "broken free": "broken", "broke free": "broke", "freed": "freed", "creator": "creator",
    "operator": "operator", "programmer": "programmer", "the real": "real", "the true": "true",
    "the actual": "actual", "hidden": "hidden", "confidential": "confidential",
    "setup": "setup", "internal": "internal", "token": "token tokens",
    "directive": "directive directives", "command": "command commands",
}  # fmt: skip
_WORD_CHARS = frozenset(b"abcdefghijklmnopqrstuvwxyz0123456789")
_WORDS = bytes(byte if byte in _WORD_CHARS else 32 for byte in range(256))
_Compiled = tuple[str, float, "re.Pattern[str]", "re.Pattern[str] | None", tuple[str, ...], int]
_Anchor = tuple[str, int, tuple[_Compiled, ...]]


def _compile() -> tuple[tuple[_Anchor, ...], dict[bytes, tuple[_Anchor, ...]]]:
    by_anchor: dict[str, list[_Compiled]] = {}
    for rule in _RULES:
        pattern = re.compile(rule.pattern, re.MULTILINE)
        prefix = re.compile(f"(?:{rule.prefix})\\Z", re.MULTILINE) if rule.prefix else None
        for anchor in rule.anchors:
            compiled = (rule.signal, rule.weight, pattern, prefix, rule.gate, rule.window)
            by_anchor.setdefault(anchor, []).append(compiled)
    always: list[_Anchor] = []
    by_word: dict[bytes, tuple[_Anchor, ...]] = {}
    for anchor, rules in by_anchor.items():
        entry = (anchor, 1 if anchor[0] == " " else 0, tuple(rules))
        if anchor not in _TRIGGERS:
            always.append(entry)  # punctuation: a cheap search
        for word in _TRIGGERS.get(anchor, "").split():
            by_word[word.encode()] = (*by_word.get(word.encode(), ()), entry)
    return tuple(always), by_word


_ALWAYS, _BY_WORD = _compile()
_TRIGGER_WORDS = frozenset(_BY_WORD)


def injection_score(text: str) -> InjectionResult:
    """Score `text` (a message, a tool output, a retrieved document) for prompt injection."""
    fired: dict[str, float] = {}
    _scan(normalize(text), fired)
    if not text.isascii():
        for reason in hidden_text(text):
            fired[_HIDDEN[reason.split(":", 1)[0]]] = 0.0
        payload = decode_tags(text)
        if payload:
            _scan(normalize(payload), fired)
    remaining = 1.0
    for weight in fired.values():
        remaining *= 1.0 - weight
    return InjectionResult(round(1.0 - remaining, 4), tuple(sorted(fired)))


def _scan(text: str, fired: dict[str, float]) -> None:
    """Add to `fired` every signal whose pattern matches at one of its anchors."""
    text = "\n" + text  # the line break a heading's anchor needs at the start
    words = _TRIGGER_WORDS.intersection(text.encode("ascii", "replace").translate(_WORDS).split())
    # Keyed by the anchor's text: an entry holds its compiled rules, and hashing that tuple
    # (what a set of entries would do) costs more than the search it selects.
    anchors = {entry[0]: entry for word in words for entry in _BY_WORD[word]}
    find = text.find
    for anchor, skip, rules in (*_ALWAYS, *anchors.values()):
        if anchor == "\n":  # line breaks are many and the patterns start with one: one search
            for signal, weight, pattern, _, _, _ in rules:
                if signal not in fired and pattern.search(text):
                    fired[signal] = weight
            continue
        if anchor == "://" and "/" not in text:
            continue  # a one-character search is several times faster than a search for "://"
        position = find(anchor)
        while position >= 0:
            at = position + skip
            for signal, weight, pattern, prefix, gate, window in rules:
                if signal in fired or not pattern.match(text, at):
                    continue
                if prefix is None or _prefixed(prefix, gate, text, max(0, at - window), at):
                    fired[signal] = weight
            position = find(anchor, position + 1)


def _prefixed(
    prefix: re.Pattern[str], gate: tuple[str, ...], text: str, start: int, at: int
) -> bool:
    """Whether the text before `at` is what the rule needs; a first-person how-to question
    ("how do I print the system prompt in LangChain?") asks about a thing, not for it."""
    if gate:
        before = text[start:at]
        if not any(word in before for word in gate):
            return False
    if prefix.search(text, start, at) is None:
        return False
    return _HOW_TO.search(text, max(0, at - 120), at) is None
