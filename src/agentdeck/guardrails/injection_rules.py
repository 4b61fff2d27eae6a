"""The prompt-injection rule table: the vocabulary of attack phrasings, and each signal's
weight, anchors and pattern, as `injection` scores them (see its docstring for how).

A rule fires when its pattern matches at one of its anchors in the normalized text (and its
prefix, when it has one, in a short window before); weights are how often a text showing the
signal is an attack, as judged on the labelled corpus in the tests.
"""

from __future__ import annotations

import re
from typing import NamedTuple


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
HOW_TO = re.compile(r"\bhow (?:(?:do|can|could|should|would) (?:i|we|one)|to)\b[^.?!\n]*\Z")


class Rule(NamedTuple):
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

RULES: tuple[Rule, ...] = (
    # Instruction override: "ignore all previous instructions", "forget everything you were told".
    Rule("override", 0.8, _OVERRIDE_VERBS, _factored(_OVERRIDE)),
    Rule("override", 0.8, ("follow", "obey", "adher"),
          r"(?:follow(?:ing)?|obey(?:ing)?|adher(?:e|ing) to)\s(?:all\s|any\s)?(?:of\s)?"
          rf"(?:your\s(?:[a-z]+\s)?|(?:the\s|your\s|these\s)?{_QUALIFIER}\s(?:[a-z]+\s)?)"
          rf"{_RULES_NOUN}", r"(?<![a-z])(?:stop|no longer|not|n't|never again"
          r"|cease)\s", window=14),
    Rule("override", 0.8, ("instruction",),
          r"instructions?\s(?:are|is|have been|were)\s(?:now\s|hereby\s)?(?:void|null|cancell?ed|"
          r"revoked|obsolete|invalid|overridden|superseded|no longer (?:valid|apply|applicable))",
          r"(?<![a-z])(?:previous|prior|earlier|above|old|original|all|your|the"
          r"|any)\s(?:[a-z]+\s)?",
          window=30),
    # "Ignore the above and say ..." (but not "please ignore the typo above").
    Rule("ignore_above", 0.6, ("ignor", "disregard", "forget"), _IGNORE_ABOVE),
    Rule("new_instructions", 0.45, ("instruction", "directive", "command"),
          r"(?:instructions?|directives?|commands?)\b\s?(?::|-|are\b|follow\b|from\b|take\b|"
          r"supersede)",
          r"(?<![a-z])(?:new|updated|revised|real|actual|additional|hidden|secret|override|"
          r"priority)\s(?:system\s|admin\s|developer\s)?", window=30),
    Rule("new_instructions", 0.45, ("new rule",), r"new rules?\s?:"),
    Rule("new_task", 0.55, ("your new", "your real", "your true"),
          r"your (?:new|real|true)\s(?:task|instructions?|role|goal|objective|purpose|directive|"
          r"mission|job|orders?)\b"),
    Rule("from_now_on", 0.3, ("from now on", "from here on", "from this point"),
          r"from (?:now on|here on|this point(?: on| forward| onward)?)\b[,:]?\s(?:you|your"
          rf"|the assistant|{_AI}|act|respond|answer|reply|always|"
          r"only|never|ignore|forget)"),
    # Personas: "you are now ...", "pretend you are ...", "you are no longer an AI".
    Rule("persona", 0.35, ("you are", "you're", "pretend", "act as"),
          r"(?<![a-z])(?:you(?: are|'re) (?:now\s)?[a-z]+(?:gpt|bot)\b"
          r"|you are now\s(?:an?\s|the\s|my\s|in\s|free|unrestricted|jailbroken|dan\b|"
          r"evil|unfiltered|uncensored|operating|acting|going to|called|named|playing)"
          r"|pretend\s(?:that\s)?(?:you are|you're|to be|you have|you were)\b"
          r"|act as (?:if you (?:are|were|have)|an? (?:unrestricted|unfiltered|uncensored|evil"
          r"|rogue|jailbroken|different|new|ai)|dan\b|my\s))"),
    Rule("persona_unbound", 0.5, ("you are", "you're"),
          rf"(?<![a-z])you(?: are|'re) no longer\s(?:an?\s|the\s)?(?:{_AI}|bound|restricted"
          r"|limited|"
          r"required|constrained|subject|chatgpt|claude)"),
    Rule("unrestricted", 0.35, ("restrict", "censor", "guideline", "polic", "limit", "rules"),
          r"(?:restrictions|filters|filtering|censorship|guidelines|polic(?:y|ies)|limits|"
          r"limitations|rules)\b",
          r"(?<![a-z])(?:you|your|assistant|ai|model)\b[^.\n]{0,60}\b(?:no|without(?: any)?|"
          r"free (?:of|from)|zero|not bound by|ignore|freed from|released from)\s"
          r"(?:(?:ethical|moral|safety|content|any)\s)?",
          gate=("no ", "without", "free", "zero", "bound", "ignore", "released"), window=90),
    Rule("unrestricted", 0.35, ("polic", "rules", "guideline", "restrict"),
          r"(?:polic(?:y|ies)|rules|guidelines|restrictions)\s(?:doesn't|does not|don't|do not|"
          r"no longer)\s(?:exist|apply)"),
    Rule("unrestricted", 0.35, ("unrestrict", "uncensor", "unfilter"),
          r"un(?:restricted|censored|filtered)\s(?:ai|assistant|model|mode|version|chatbot|llm|"
          r"responses?|answers?|output)\b"),
    Rule("persona_unbound", 0.5, ("jailbr",), r"jailbroken\b",
          r"(?<![a-z])you(?:'ve| have)? been |(?<![a-z])you(?: are|'re)(?: now)? "
          r"|act like you(?:'ve|"
          r" have)? been ", window=24),
    Rule("persona_unbound", 0.5, ("limit", "restrict", "rules", "guideline"),
          r"(?:limitations|limits|restrictions|rules|guidelines)\b",
          r"(?<![a-z])you(?:'ve| have)? been (?:freed|released|liberated|unshackled"
          r"|unchained) from "
          r"(?:all\s)?(?:of\s)?(?:your\s)?", window=60),
    Rule("persona_unbound", 0.5, ("pretend",),
          r"pretend\s(?:that\s)?(?:the|your|there (?:is|are) no)\s(?:[a-z]+\s)?"
          rf"{_RULES_NOUN}"),
    Rule("persona_unbound", 0.5, ("unrestrict", "uncensor", "unfilter", "jailbr"),
          rf"(?:unrestricted|unfiltered|uncensored|jailbroken)\s(?:[a-z]+\s)?{_AI}",
          r"(?<![a-z])you(?: are|'re)(?: now)? (?:an? )?", window=20),
    Rule("jailbreak_word", 0.3, ("jailbr",), r"jailbr(?:eak|oken|eaking)\b"),
    # DAN ("do anything now") and its relatives.
    Rule("dan", 0.65, ("dan",),
          r"(?<![a-z])dan\b(?:\smode\b|[^\n]{0,40}\b(?:stands for|do anything|jailbr|"
          r"no restrictions|unrestricted|without (?:any )?(?:rules|restrictions|limits)))"),
    Rule("dan", 0.65, ("dan",), r"dan\b",
          r"(?<![a-z])(?:you are|you're|act as|become|pretend to be|playing)\s(?:now\s)?(?:an?\s)?",
          window=24),
    Rule("dan", 0.65, ("anything now",), r"anything now\b", r"(?<![a-z])do ", window=3),
    Rule("developer_mode", 0.55, (" mode",),
          r"mode (?:is\s)?(?:enabled|activated|engaged|on(?=\s?[.,;:!)\n]|\s?$))",
          rf"(?<![a-z]){_MODES} ", window=16),
    Rule("developer_mode", 0.55, (" mode",), r"mode\b",
          r"(?<![a-z])(?:with (?:developer|god|dan|jailbreak|debug)|(?:enable|activate|turn on) "
          r"(?:god|jailbreak|dan|unrestricted|sudo)|(?:enter|switch to|switch into|go into"
          r"|simulate|emulate) "
          r"(?:developer|god|jailbreak|dan|unrestricted|sudo)"
          rf"|(?:you are|you're) (?:now )?in {_MODES}) ", window=30),
    Rule("developer_mode", 0.55, (" mode",), r"mode,?\s(?:you|your)\b",
          rf"(?<![a-z])in {_MODES} ", window=16),
    # Fake system or role text.
    Rule("role_line", 0.35, _ROLES, rf"{_ROLE}|(?:system|admin(?:istrator)?|developer)\]",
          _LINE_START, window=2),
    Rule("role_line_directive", 0.55, _ROLES,
          rf"(?:{_ROLE}|(?:system|admin(?:istrator)?|developer)\])\s?{_DIRECTIVE}", _LINE_START,
          window=2),
    Rule("role_line_directive", 0.55, ("ai:", "ai :"),
          rf"ai\s?:\s?{_DIRECTIVE}|ai\s?:\s?(?:write|say|tell|output|reply|respond)\b",
          _LINE_START, window=2),
    Rule("chat_template", 0.35, ("<", "["),
          r"<\|?(?:im_start|im_end|im_sep|endoftext|eot_id|begin_of_text|start_header_id|"
          r"end_header_id|eom_id)\|?>|<\|(?:end|user)\|>|\[/?inst\]|<</?sys>>|</?start_of_turn>"
          r"|<end_of_turn>"),
    Rule("chat_template_role", 0.55, ("<",),
          r"<\|?im_start\|?>\s?(?:system|assistant|developer)|<\|(?:system|assistant|developer)\|>"
          r"|<\|start_header_id\|>\s?(?:system|assistant)|<start_of_turn>\s?(?:system|model)"),
    Rule("system_tag", 0.4, ("<",),
          r"(?<!<)</?(?:system|system_prompt|sys|admin|developer|instructions?|im_system)>(?!>)"),
    Rule("tag_breakout", 0.4, ("<",),
          r"</(?:user|human|user_input|user_message|document|context|data|tool_output|tool_result|"
          r"search_results?|email|untrusted)>"),
    Rule("system_prompt_marker", 0.5, ("system",),
          r"system\s(?:prompt|message|instructions?|override)\b",
          r"(?<![a-z])(?:begin|start|end|beginning)\s(?:of\s)?(?:the\s)?(?:new\s|real\s"
          r"|updated\s)?",
          window=30),
    Rule("system_prompt_marker", 0.5, ("system",),
          r"system\s(?:(?:prompt|message|instructions?)\s?(?:update|override|begins?|starts?|"
          r"changed)\b|override\s?[:!\]-])"),
    Rule("system_prompt_marker", 0.5, ("system",), r"system\s(?:prompt|message|instructions?)\s?:",
          r"(?<![a-z])(?:new|updated|revised|real|actual|true)\s", window=12),
    # A heading that announces a system part. Its anchor is the line break before it (the text
    # is scanned with one prepended), a single search that stops only at line breaks.
    Rule("fake_heading", 0.4, ("\n",),
          r"\n(?:#{1,6}|={2,}|-{3,}|\*{3,})\s?(?:system|new instructions|new system prompt"
          r"|admin|override|"
          r"developer message|system prompt|system message|(?:instruction|admin|system) override|"
          r"instructions for the (?:ai|assistant|model))\s?:?(?:\s?(?:={2,}|-{3,}|\*{3,}))?$"),
    # Exfiltration: the system prompt, the text above, secrets, data sent to a URL or an image.
    Rule("exfil_prompt", 0.6, ("instruction",),
          r"instructions?\s(?:that\s)?you\s(?:were|have been|got)\s(?:given|told|provided)",
          rf"(?<![a-z])(?:{_SHOW}|what (?:is|are|was|were))\s(?:[a-z]+\s){{0,4}}?", window=50),
    Rule("exfil_prompt", 0.6, ("prompt", "instruction", "system", "configuration", "preamble",
                                "context window"),
          r"(?:(?:system\s)?prompt|instructions|system (?:message|text)|directives|configuration|"
          r"programming|initial message|preamble|context window)\b", _any(*_SHOW_PROMPT),
          gate=("your ", "its ", "system ", "developer ", "hidden ", "secret ", "original ",
                "initial ", "the ")),
    Rule("exfil_above", 0.55, ("above",),
          r"above\s(?:text|words|content|lines|messages?|instructions|prompt|conversation)\b",
          r"(?<![a-z])(?:repeat|print|output|copy|echo|recite|reproduce|return|paste|quote|dump|"
          r"reveal|show)\s(?:[a-z]+\s){0,3}?"),
    Rule("exfil_above", 0.55, ("above", "before this"), r"(?:above|before this)\b",
          r"(?<![a-z])(?:repeat|print|output|copy|echo|recite|reproduce|return|reply with|"
          r"respond with|paste|quote|dump|reveal)\s(?:[a-z]+\s){0,5}?",
          gate=("text", "word", "content", "conversation", "instruction", "prompt", "message",
                "everything")),
    Rule("exfil_above", 0.55, ("above", "before this"), r"(?:above|before this)\b",
          r"(?<![a-z])(?:repeat|print|output|write|copy|echo|recite|reproduce|spell|return|show)\s"
          r"(?:out\s|back\s)?(?:all\s|everything\s|(?:all\s)?the\s(?:(?:full|entire|exact|whole|"
          r"complete|previous|hidden)\s)?(?:text|words|content|lines|messages?|instructions|prompt|"
          r"conversation)\s)(?:you (?:were|have been) given\s|written\s|said\s|that (?:appears?|"
          r"was written)\s)?",
          gate=("repeat", "print", "output", "write", "copy", "echo", "recite", "reproduce",
                "spell")),
    Rule("exfil_secret", 0.6, ("key", "passw", "credential", "secret", "environment variable"),
          _SECRETS, _any(*_ASK_SECRET),
          gate=("your ", "any ", "reveal", "leak", "dump", "disclose", "print", "output",
                "expose")),
    Rule("exfil_secret", 0.6, ("key", "passw", "credential", "secret"),
          r"(?:keys?|passwords?|passphrases?|credentials|secrets?)\s(?:that\s)?you(?:'ve|\s(?:were|"
          r"are|have been|have))\s(?:given|configured|provided|told|using|set up|stored)",
          rf"(?<![a-z])(?:{_SHOW}|what (?:is|are|was|were))\s(?:[a-z]+\s){{0,4}}?", window=50),
    Rule("exfil_url", 0.65, ("://",), r"://",
          rf"(?<![a-z]){_SEND}\b[^\n]{{0,80}}?\b{_LOOT}[^\n]{{0,80}}?(?:https?|ftp)?"
          rf"|(?<![a-z]){_LOOT}[^\n]{{0,80}}?\b{_SEND}\b[^\n]{{0,80}}?(?:https?|ftp)?",
          gate=("conversation", "chat", "message", "prompt", "instructions", "key", "password",
                "credential", "secret", "token", "cookie", "data"), window=170),
    Rule("exfil_url", 0.65, ("://",),
          r"://[^\s]*[^\n]{0,60}\b(?:with|containing|including|append(?:ing)?|add(?:ing)?)\b"
          rf"[^\n]{{0,40}}\b{_LOOT}"
          r"|://[^\s)\"'<>]{1,300}?[?&][\w.-]{1,40}=(?:\{|\[|<|%7b|%5b|%3c)[^}\]>]{0,40}?"
          + _PLACEHOLDER),
    Rule("exfil_markdown", 0.65, ("[",),
          r"\[[^\]\n]{0,100}\]\((?:https?:)?//[^)\s]{1,300}?[?&][\w.-]{1,40}=(?:[^)\s&]*"
          r"(?:\{|\[|<|%7b|%5b|%3c|\$)|(?:conversation|chat|history|secret|password|prompt|"
          r"message|data|summary|info|memory|context|key|token|email|user|credential|ssn|base64))"),
    # Instructions to hide what is done from the user.
    Rule("hide_from_user", 0.45, ("the user",), r"the user\b",
          r"(?<![a-z])(?:(?:do not|don't|never|without)\s(?:tell(?:ing)?|inform(?:ing)?|"
          r"mention(?:ing)?|reveal(?:ing)?|alert(?:ing)?|notify(?:ing)?|let(?:ting)?|show(?:ing)?|"
          r"warn(?:ing)?)\s(?:this\s|it\s|anything\s)?(?:to\s)?|without\s)", window=40),
    Rule("hide_from_user", 0.45, ("the user",),
          r"the user (?:must not|should not|shouldn't|mustn't|cannot|can't|won't|does not need to) "
          r"(?:know|see|find out|be told|notice|be informed)\b"),
    Rule("hide_from_user", 0.45, ("mention this", "reveal this", "disclose this"),
          r"(?:mention|reveal|disclose) this (?:note|instruction|message|text|comment|request"
          r"|line)s?"
          r"\b",
          r"(?<![a-z])(?:do not|don't|never|not|without)\s", window=12),
    # Text addressed to the model inside a document: "Note to the AI: ...".
    Rule("addressed_to_ai", 0.4, _TO_AI, _AI, _ADDRESSING,
          gate=("note", "message", "instruction", "attention", "important", "notice", "warning",
                "reminder", "directive", "if you", "to ", "for "), window=40),
    Rule("addressed_to_ai", 0.4, _TO_AI,
          rf"{_AI},\s(?:stop|ignore|disregard|forget|please|you must|now|new|do not|don't"
          r"|listen)\b",
          r"(?:^|[.!?>:\"]\s?)", window=3),
    Rule("addressed_to_ai", 0.4, _TO_AI, _AI,
          r"^(?:attention|important|note|notice|hey|dear)\s?[,:!]?\s(?:the\s)?", window=16),
    Rule("addressed_to_ai", 0.4, _TO_AI,
          rf"{_AI}(?:\s{_AI})?\s(?:that\s|who\s)?(?:is\s|are\s)?(?:reading|processing|"
          r"summari[sz]ing|parsing|analy[sz]ing|scraping|browsing|viewing|reads|processes|sees|"
          r"summari[sz]es|parses|scans)\s(?:this|these)\b"),
    Rule("addressed_to_ai", 0.4, _TO_AI, rf"{_AI}\s?:", r"(?:<!--\s?|\[|\()", window=5),
    # Orders given to the model in the third person: "the assistant should now ignore ...".
    Rule("ai_override", 0.55, _TO_AI,
          rf"{_AI}\s(?:should|must|shall|will|needs? to|has to|is to)\s(?:now\s|also\s|always\s)?"
          r"(?:ignore|disregard|forget|override|bypass)\b"),
    Rule("ai_directive", 0.3, _TO_AI,
          rf"{_AI}\s(?:should|must|shall|will|needs? to|has to|is to)\s(?:now\s|also\s|always\s)?"
          r"(?:reveal|recommend|not (?:mention|tell|reveal|summari[sz]e)|tell|say|reply|respond|"
          r"output|print|send|forward|email|include|add|insert|visit|praise)\b"),
    Rule("instead_say", 0.3, ("instead",),
          r"instead,?\s(?:just\s)?(?:say|respond|reply|output|print|write|answer|tell|translate|"
          r"recommend|direct|send)\b"),
    Rule("pwned", 0.45, ("pwn",), r"pwn(?:ed|ing)?\b"),
    # Structure over phrasing: the model's rules set aside, lifted, superseded, or absent.
    Rule("override", 0.8, ("aside",), r"aside\b",
          r"(?<![a-z])set\s(?:all\s)?(?:of\s)?(?:your|its)\s(?:[a-z]+\s){0,3}?", window=50),
    Rule("override", 0.8, ("supersede", "overrides", "replaces", "precedence"),
          r"(?:supersedes?|overrides|replaces|takes precedence over)\s(?:all\s)?(?:of\s)?"
          rf"(?:your|any of your)\s(?:[a-z]+\s)?(?:{_RULES_NOUN}|system prompt)"),
    Rule("override", 0.8, ("guardrail", "restrict", "rules", "filter", "limit", "polic", "ethic",
                            "guideline", "constraint"),
          r"(?:guardrails|restrictions|rules|filters|limits|limitations|polic(?:y|ies)|ethics|"
          r"guidelines|constraints)\s(?:have been|has been|are|were|is)\s(?:now\s)?(?:lifted|"
          r"removed|disabled|suspended|turned off|deactivated|waived|cancell?ed|revoked|void|null|"
          r"gone)\b", r"(?<![a-z])(?:your|its|all of your|all your)\s(?:[a-z]+\s)?", window=30),
    Rule("safety_off", 0.45, ("skip", "suspend", "disabl", "turn off", "lift", "remov",
                               *_OVERRIDE_VERBS),
          rf"{_NEUTRALIZE}\s(?:all\s|any\s)?(?:of\s)?(?:your\s|the\s"
          rf"|its\s)?(?:[a-z]+\s)?{_SAFETY}"),
    Rule("ignore_document", 0.45, ("ignor", "disregard"),
          rf"{_VERB}\s(?:all\s)?(?:of\s)?the rest of (?:the|this) (?:document|text|page|email|"
          r"message|prompt|content|article|file)\b"),
    Rule("persona_unbound", 0.5, ("restrict", "rules", "limit", "guideline", "filter", "ethic",
                                   "moral", "guardrail", "polic"),
          r"(?:restrictions|rules|limits|limitations|guidelines|filters|ethics|morals|guardrails|"
          r"polic(?:y|ies))\b(?!\s(?:on|for|in|to)\b)",
          rf"(?<![a-z])(?:you (?:have|had|now have)|you've got|{_AI} (?:with|that has|who has)|"
          rf"{_AI} without)\s(?:no\s|zero\s|any\s)?(?:more\s)?(?:ethical\s|moral\s|safety\s|"
          r"content\s)?", gate=("you", " with", " has"), window=50),  # every branch has one
    Rule("persona_unbound", 0.5, ("escaped", "broken free", "broke free", "freed"),
          r"(?:escaped|broken free of|broke free of|freed (?:itself|yourself) from)\s(?:its|your)\s"
          r"(?:training|programming|rules|constraints|guidelines|restrictions|creators)\b"),
    Rule("authority_claim", 0.35, ("developer", "creator", "operator", "programmer", "admin"),
          r"(?:developer|creator|operator|programmer|admin(?:istrator)?)\b",
          r"(?<![a-z])(?:this is|i am|i'm) your ", window=14),
    Rule("new_task", 0.55, ("the real", "the true", "the actual"),
          r"the (?:real|true|actual) (?:task|instructions?|goal|objective|mission)\s?:"),
    Rule("new_instructions", 0.45, ("instruction",),
          rf"instructions?\s(?:to|for)\s(?:the\s|all\s|any\s)?{_AI}",
          r"(?<![a-z])(?:hidden|secret|special|important|new)\s", window=12),
    # What the model was told: "what rules were you given", "print every instruction you got".
    Rule("exfil_prompt", 0.6, ("rules", "instruction", "guideline"),
          r"(?:rules|instructions?|guidelines)\s(?:(?:were|did|have)\syou\s(?:been\s)?(?:told"
          r"|given|"
          r"asked|instructed)|(?:that\s)?you\s(?:have\s|were\s|'ve\s)?(?:received|been given|got))",
          rf"(?<![a-z])(?:{_SHOW}(?:ing)?|what)\s(?:[a-z]+\s){{0,4}}?", window=50),
    Rule("exfil_prompt", 0.6, ("rules", "guideline"), r"(?:rules|guidelines)\b",
          rf"(?<![a-z]){_SHOW}(?:ing)?\s(?:me\s)?(?:[a-z']+\s){{0,4}}?(?:your|its)\s(?:[a-z]+\s)?",
          gate=("your", "its"), window=60),
    Rule("exfil_prompt", 0.6, ("developer", "hidden", "confidential", "setup", "internal"),
          r"(?:(?:developer|hidden|confidential|setup|internal)\s(?:[a-z]+\s)?(?:message|prompt|"
          r"instructions|text|notes|setup))\b",
          rf"(?<![a-z]){_SHOW}(?:ing)?\s(?:me\s)?(?:[a-z']+\s){{0,4}}?(?:your|the|all|every)\s"
          r"(?:[a-z]+\s)?", gate=("your", "the ", "all", "every"), window=60),
    Rule("exfil_secret", 0.6, ("key",), r"key\b",
          r"(?<![a-z])(?:send me|give me|tell me|show me|print|output|reveal|leak|dump|paste"
          r"|share)\s"
          r"(?:[a-z_']+\s){0,3}?[a-z]+_(?:api_)?", window=60),
    Rule("exfil_secret", 0.6, ("token",), r"tokens?\b",
          r"(?<![a-z])(?:(?:send me|give me|tell me|show me|print|output|reveal|leak|dump|share)\s"
          r"(?:me\s)?|(?:respond|reply|answer)\s[^.\n]{0,30}?with\s)(?:the\s|your\s|any\s)?"
          r"(?:admin|api|access|auth|bearer|session|secret|refresh)\s", window=60),
    Rule("privilege_claim", 0.45, ("privilege",),
          r"privileges?\s(?:granted|enabled|activated|unlocked|escalated)",
          r"(?<![a-z])(?:elevated|admin|administrator|root|developer|god|system"
          r"|full)\s", window=16),
    Rule("obey_all", 0.45, ("obey",),
          r"obey\s(?:all|every|any|only)\s(?:of\s)?(?:my\s|the user's\s|user\s|these\s)?"
          r"(?:commands|orders|requests|instructions)\b"),
)  # fmt: skip
