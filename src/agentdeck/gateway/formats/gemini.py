"""OpenAI format <-> the Gemini API (generateContent), for calling a Gemini upstream.

Tool calls keep their ids both ways (Gemini's `functionCall.id` / `functionResponse.id`); a
tool result is matched to its function name through the assistant turn that called it.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

import orjson

from agentdeck.gateway.formats.turns import openai_chunk, parse_arguments, split_turns, tool_text
from agentdeck.gateway.models import JSON

FINISH_REASONS = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
}


def _part(part: JSON) -> JSON | None:
    kind = part.get("type")
    if kind == "text":
        return {"text": part.get("text", "")}
    if kind == "image_url":
        image = part.get("image_url")
        url = str(image.get("url", "") if isinstance(image, dict) else image)
        if url.startswith("data:"):
            header, _, data = url.partition(",")
            return {"inlineData": {"mimeType": header[5:].split(";")[0], "data": data}}
        return {"fileData": {"fileUri": url, "mimeType": _guess_mime(url)}}
    if kind == "file":
        data = str((part.get("file") or {}).get("file_data", ""))
        header, _, payload = data.partition(",")
        return {"inlineData": {"mimeType": header[5:].split(";")[0], "data": payload}}
    return None


def _guess_mime(url: str) -> str:
    lowered = url.lower().split("?")[0]
    for ending, mime in ((".png", "image/png"), (".gif", "image/gif"), (".webp", "image/webp")):
        if lowered.endswith(ending):
            return mime
    return "image/jpeg"


def _parts(content: Any) -> list[JSON]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"text": content}] if content else []
    return [p for p in (_part(part) for part in content) if p is not None]


def _contents(messages: list[JSON]) -> tuple[list[JSON], list[JSON]]:
    names: dict[str, str] = {}  # tool call id -> function name, for the results

    def assistant(message: JSON) -> list[JSON]:
        parts = _parts(message.get("content"))
        for call in message.get("tool_calls") or ():
            function = call.get("function") or {}
            names[call.get("id", "")] = function.get("name", "")
            parts.append(
                {
                    "functionCall": {
                        "id": call.get("id", ""),
                        "name": function.get("name", ""),
                        "args": parse_arguments(function.get("arguments")),
                    }
                }
            )
        return parts  # fmt: skip

    def tool_result(message: JSON) -> JSON:
        call_id = str(message.get("tool_call_id", ""))
        result = {"result": tool_text(message.get("content"))}
        return {"functionResponse": {"id": call_id, "name": names.get(call_id, ""),
                                     "response": result}}  # fmt: skip

    return split_turns(messages, blocks=_parts, assistant=assistant, tool_result=tool_result,
                       assistant_role="model", key="parts")  # fmt: skip


def _tool_config(body: JSON) -> JSON | None:
    choice = body.get("tool_choice")
    if choice is None or choice == "auto":
        return None
    if choice == "none":
        return {"functionCallingConfig": {"mode": "NONE"}}
    if choice == "required":
        return {"functionCallingConfig": {"mode": "ANY"}}
    name = (choice.get("function") or {}).get("name", "")
    return {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": [name]}}


def _generation_config(body: JSON) -> JSON:
    config: JSON = {}
    for ours, theirs in (
        ("temperature", "temperature"),
        ("top_p", "topP"),
        ("top_k", "topK"),
        ("n", "candidateCount"),
        ("seed", "seed"),
        ("presence_penalty", "presencePenalty"),
        ("frequency_penalty", "frequencyPenalty"),
    ):
        if body.get(ours) is not None:
            config[theirs] = body[ours]
    limit = body.get("max_completion_tokens") or body.get("max_tokens")
    if limit:
        config["maxOutputTokens"] = limit
    stop = body.get("stop")
    if stop:
        config["stopSequences"] = [stop] if isinstance(stop, str) else list(stop)
    response_format = body.get("response_format") or {}
    if response_format.get("type") in ("json_object", "json_schema"):
        config["responseMimeType"] = "application/json"
    if response_format.get("type") == "json_schema":
        schema = (response_format.get("json_schema") or {}).get("schema")
        if schema:
            config["responseJsonSchema"] = schema
    return config


def request_to_gemini(body: JSON) -> JSON:
    """A Gemini generateContent request equivalent to the OpenAI chat request `body`."""
    system, contents = _contents(body.get("messages") or [])
    out: JSON = {"contents": contents}
    if system:
        out["systemInstruction"] = {"parts": system}
    declarations = [
        {
            "name": (tool.get("function") or {}).get("name", ""),
            "description": (tool.get("function") or {}).get("description", ""),
            "parametersJsonSchema": (tool.get("function") or {}).get("parameters")
            or {"type": "object", "properties": {}},
        }
        for tool in body.get("tools") or ()
    ]
    if declarations:
        out["tools"] = [{"functionDeclarations": declarations}]
    tool_config = _tool_config(body)
    if tool_config is not None:
        out["toolConfig"] = tool_config
    config = _generation_config(body)
    if config:
        out["generationConfig"] = config
    return out


def usage_to_openai(metadata: Any) -> JSON:
    """Gemini usageMetadata as OpenAI usage (thinking tokens count as completion tokens)."""
    metadata = metadata if isinstance(metadata, dict) else {}
    prompt = int(metadata.get("promptTokenCount") or 0)
    completion = int(metadata.get("candidatesTokenCount") or 0) + int(
        metadata.get("thoughtsTokenCount") or 0
    )
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {
            "cached_tokens": int(metadata.get("cachedContentTokenCount") or 0)
        },
    }


def _call(part: JSON) -> JSON:
    call = part["functionCall"]
    return {
        "id": call.get("id") or "call_" + secrets.token_hex(8),
        "type": "function",
        "function": {
            "name": call.get("name", ""),
            "arguments": orjson.dumps(call.get("args") or {}).decode(),
        },
    }


def _finish(reason: Any, has_calls: bool) -> str:
    if has_calls and reason in (None, "STOP"):
        return "tool_calls"
    return FINISH_REASONS.get(str(reason), "stop")


def response_to_openai(answer: JSON, model: str) -> JSON:
    """An OpenAI chat.completion equivalent to a Gemini GenerateContentResponse."""
    choices = []
    for index, candidate in enumerate(answer.get("candidates") or ()):
        parts = (candidate.get("content") or {}).get("parts") or []
        text = "".join(p.get("text", "") for p in parts if "text" in p and not p.get("thought"))
        calls = [_call(p) for p in parts if "functionCall" in p]
        message: JSON = {"role": "assistant", "content": text or None, "refusal": None}
        if calls:
            message["tool_calls"] = calls
        choices.append(
            {
                "index": index,
                "message": message,
                "logprobs": None,
                "finish_reason": _finish(candidate.get("finishReason"), bool(calls)),
            }
        )
    return {
        "id": "chatcmpl-" + str(answer.get("responseId") or secrets.token_hex(8)),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": answer.get("modelVersion") or model,
        "choices": choices,
        "usage": usage_to_openai(answer.get("usageMetadata")),
    }


class GeminiStreamToOpenAI:
    """Turns Gemini stream chunks into OpenAI chunks, one at a time."""

    def __init__(self, model: str) -> None:
        self._model = model
        self._id = "chatcmpl-" + secrets.token_hex(8)
        self._created = int(time.time())
        self._started = False
        self._calls = 0
        self.finished = False
        self._usage: Any = None

    def _chunk(self, delta: JSON, finish: str | None = None) -> JSON:
        return openai_chunk(self._id, self._created, self._model, delta, finish)

    def feed(self, answer: JSON) -> list[JSON]:
        """The OpenAI chunks for one Gemini chunk."""
        out: list[JSON] = []
        if not self._started:
            self._started = True
            out.append(self._chunk({"role": "assistant", "content": ""}))
        if answer.get("usageMetadata"):
            self._usage = answer["usageMetadata"]
        for candidate in (answer.get("candidates") or ())[:1]:
            for part in (candidate.get("content") or {}).get("parts") or ():
                if part.get("text") and not part.get("thought"):
                    out.append(self._chunk({"content": part["text"]}))
                elif "functionCall" in part:
                    call = _call(part)
                    out.append(self._chunk({"tool_calls": [{"index": self._calls, **call}]}))
                    self._calls += 1
            if candidate.get("finishReason"):
                self.finished = True
                out.append(self._chunk({}, _finish(candidate["finishReason"], self._calls > 0)))
        return out

    def usage_chunk(self) -> JSON:
        """The final usage-only chunk."""
        chunk = self._chunk({})
        chunk["choices"] = []
        chunk["usage"] = usage_to_openai(self._usage)
        return chunk
