"""Gemini ``generateContent`` as a wire format (default plugin): error shape and the IR codecs.

The stream decoder and encoder, and the vocabulary both halves share (field names, finish
reasons, usage, errors), live in :mod:`omniroute.formats.gemini_stream`.

Translation choices, beyond the one-to-one mappings:

* The model is in the URL, so a body has no ``model``: ``parse_request`` reads one only if the
  body has it (the front door fills ``Request.model`` from the path); ``render_request`` and
  ``passthrough_request`` never add one.
* Every field is read under both spellings (camelCase REST, snake_case proto3 JSON); bodies
  are written in camelCase.
* Gemini's call ids are optional. Parsed calls keep theirs, else get ``call_<name>_<n>`` (n
  counts the request's calls); a result without an id answers the earliest unanswered call of
  its name in the latest turn that has one. Rendered requests carry no ids (the ``v1`` API and
  Code Assist reject ``id`` on ``functionCall``/``functionResponse``; Gemini pairs by name and
  order): results carry the function's name (``ToolResultPart.name``, else the name of the
  call with that id) and lead their user turn in the order of the calls. Responses carry the
  ids (clients answer with them), except ids made up while parsing a Gemini answer.
* Roles alternate (the API rejects consecutive same-role contents): such turns merge.
* ``thoughtSignature`` on a function call is ``ToolCallPart.signature`` and is echoed back.
  Calls without one (made by another provider) get ``skip_thought_signature_validator``, the
  value Google documents for histories it did not produce, unless a call of the same turn has
  a real signature (Gemini signs only the first of parallel calls). A signature on a text part
  rides in that part's extras. Thinking is not sent back to Gemini: thought text is not
  needed, and the signatures Gemini checks are on function calls.
* Tool schemas go out as ``parametersJsonSchema`` (full JSON Schema: ``anyOf``, ``$ref``,
  ``additionalProperties`` are accepted there, while ``parameters`` takes only Google's OpenAPI
  subset) without ``$schema`` (rejected); a bare object schema with no properties is left out.
  A Gemini ``parameters`` schema is read as JSON Schema (lowercase types, ``nullable`` as a
  ``null`` type) and kept in the tool's extras, so it renders back as it came.
* A function's ``response`` object is its result's JSON text (``{"error": ...}`` alone is an
  error). Rendered, JSON-object text is the response itself; other text becomes
  ``{"output": text}`` (``{"error": text}`` for errors), the keys Gemini documents; images in
  results follow the results as ``inlineData`` parts.
* Images: ``inlineData`` ``image/*`` ↔ inline ``ImagePart``; ``fileData`` ↔ ``ImagePart(url)``
  (a missing MIME type is guessed from the extension; data URLs go inline). Other inline or
  file data and unknown parts (``executableCode``, ...) stay, with their position, in the
  message's ``extras["gemini_unknown"]``; only Gemini renders them back.
* Reasoning: ``thinkingBudget`` 0 is reasoning disabled, -1 (dynamic) reasoning on without a
  budget, N a budget (and its nearest effort); ``thinkingLevel`` is an effort. Rendered as
  ``{"thinkingBudget": budget_for(...), "includeThoughts": true}`` (the budget clamped to
  512..24576, which every thinking model takes); disabled as ``{"thinkingBudget": 0}``, except
  on Pro and Gemini 3 models, which cannot turn thinking off (thinkingConfig is left out).
* At most 5 stop sequences (Gemini's limit; more are dropped with a warning).
* ``response_format``: ``json_object`` → ``responseMimeType: application/json``;
  ``json_schema`` adds ``responseJsonSchema``. ``responseSchema`` (OpenAPI subset) is read too.
* Fields the IR cannot hold (``safetySettings``, ``cachedContent``, ``candidateCount``, ...)
  travel in ``extras["gemini"]`` at their own paths and are merged back under the rendered
  fields; non-function tools (``googleSearch``, ...) in ``extras["gemini_tools"]``.
* Responses: candidate 0 only; ``STOP`` with function calls is ``tool_use``; a prompt blocked
  before any candidate is ``content_filter``. A Code Assist envelope (``{"response": {...}}``)
  is unwrapped (never written: the Code Assist provider wraps its own requests).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

import orjson

from omniroute.errors import BadRequest, GatewayError
from omniroute.formats import ir
from omniroute.formats.base import Format, joined_text, with_part
from omniroute.formats.gemini_signatures import from_gemini, to_gemini
from omniroute.formats.gemini_stream import (
    FINISH_TO_GEMINI,
    FRAME_END,
    USAGE_FIELDS,
    GeminiStreamDecoder,
    GeminiStreamEncoder,
    call_args,
    camel,
    error_object,
    first_candidate,
    new_call_id,
    new_response_id,
    stop_reason,
    unwrap,
    usage_from_gemini,
    usage_to_gemini,
    value_of,
)
from omniroute.hookspecs import hookimpl

logger = logging.getLogger(__name__)

#: The signature Google documents for function calls it did not produce (other models' turns).
SKIP_SIGNATURE = "skip_thought_signature_validator"
MAX_STOP_SEQUENCES = 5
MIN_THINKING_BUDGET, MAX_THINKING_BUDGET = 512, 24576

_REQUEST_FIELDS = ("model", "contents", "systemInstruction", "tools", "toolConfig")
# fmt: off
_GENERATION_FIELDS = (
    "maxOutputTokens", "temperature", "topP", "topK", "stopSequences", "responseMimeType",
    "responseSchema", "responseJsonSchema", "thinkingConfig",
)
_DECLARATION_FIELDS = ("name", "description", "parameters", "parametersJsonSchema")
_RESPONSE_FIELDS = ("candidates", "usageMetadata", "modelVersion", "responseId")
_CANDIDATE_FIELDS = ("content", "finishReason", "index")
_SCHEMA_MAPS = ("properties", "$defs", "definitions", "patternProperties")
_SUBSCHEMAS = ("items", "anyOf", "oneOf", "allOf", "not", "additionalProperties")
_BARE_OBJECT_KEYS = frozenset({"type", "properties", "required", "additionalProperties"})
_EFFORTS = ("minimal", "low", "medium", "high")
_IMAGE_TYPES = {
    ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif",
    ".webp": "image/webp", ".heic": "image/heic", ".heif": "image/heif",
}
# fmt: on


class GeminiFormat(Format):
    """``models/{model}:generateContent``: errors are google.rpc.Status objects,
    ``{"error": {"code": <HTTP status>, "message", "status": "RESOURCE_EXHAUSTED", ...}}``."""

    id = "gemini"
    name = "Gemini generateContent"
    translates = True

    def error_object(self, err: GatewayError) -> dict[str, Any]:
        """The inner error object, shared by plain answers and stream events."""
        return error_object(err)

    def error_body(self, err: GatewayError) -> bytes:
        return orjson.dumps({"error": error_object(err)})

    def stream_error_event(self, err: GatewayError) -> bytes:
        # google-genai raises ClientError/ServerError (by ``code``) on a data chunk whose JSON
        # starts with ``{"error":``; CRLF framing as Google sends it.
        return b"data: " + orjson.dumps({"error": error_object(err)}) + FRAME_END

    def passthrough_request(
        self, body: dict[str, Any], model: str, *, stream_usage: bool
    ) -> dict[str, Any]:
        """The client's body unchanged (a copy): the model is in the URL, and Gemini always
        reports usage on streams."""
        return dict(body)

    def parse_request(self, body: dict[str, Any]) -> ir.Request:
        """A ``generateContent`` body (either spelling) → IR; see the module docstring."""
        contents = value_of(body, "contents")
        if not isinstance(contents, list):
            raise BadRequest("contents: an array of contents is required", param="contents")
        residue = _residue(body, (*_REQUEST_FIELDS, "generationConfig"))
        request = ir.Request(model=str(body.get("model") or ""))
        request.system = _parse_system(value_of(body, "systemInstruction"))
        request.messages = _parse_contents(contents)
        _parse_tools(value_of(body, "tools"), request)
        _parse_tool_config(value_of(body, "toolConfig"), request, residue)
        _parse_generation_config(value_of(body, "generationConfig"), request, residue)
        if residue:
            request.extras["gemini"] = residue
        return request

    def render_request(self, request: ir.Request) -> dict[str, Any]:
        """IR → a ``generateContent`` body the real API accepts (no ``model``: it goes in the
        URL); see the module docstring."""
        body: dict[str, Any] = {"contents": _render_contents(request.messages)}
        system = [{"text": part.text} for part in request.system if part.text]
        if system:
            body["systemInstruction"] = {"parts": system}
        tools = _render_tools(request)
        if tools:
            body["tools"] = tools
        if request.tools and request.tool_choice is not None:
            body["toolConfig"] = {"functionCallingConfig": _render_choice(request.tool_choice)}
        config = _render_generation_config(request)
        if config:
            body["generationConfig"] = config
        _merge(body, request.extras.get("gemini") or {})
        return body

    def parse_response(self, body: dict[str, Any]) -> ir.Response:
        """A ``GenerateContentResponse`` (or Code Assist envelope) → IR, candidate 0."""
        body = unwrap(body)
        candidate = first_candidate(value_of(body, "candidates"))
        ids = _CallIds(fresh=True)
        parts: list[ir.Part] = []
        unknown: list[list[Any]] = []
        raw_parts = value_of(value_of(candidate, "content"), "parts")
        for pos, raw in enumerate(raw_parts if isinstance(raw_parts, list) else ()):
            part = _parse_part(raw, ids) if isinstance(raw, dict) else None
            if part is None:
                logger.warning("gemini: a response part has no IR equivalent; only Gemini keeps it")
                unknown.append([pos, raw])
            elif not _is_empty_text(part):
                parts.append(part)
        finish = value_of(candidate, "finishReason")
        reason = stop_reason(finish, any(isinstance(p, ir.ToolCallPart) for p in parts))
        if candidate is None and value_of(value_of(body, "promptFeedback"), "blockReason"):
            reason = "content_filter"
        meta = value_of(body, "usageMetadata")
        response = ir.Response(
            id=str(value_of(body, "responseId") or ""),
            model=str(value_of(body, "modelVersion") or ""),
            parts=parts,
            stop_reason=reason,
            usage=usage_from_gemini(meta),
        )
        extras = {
            "gemini": _residue(body, _RESPONSE_FIELDS),
            "gemini_candidate": _residue(candidate or {}, _CANDIDATE_FIELDS),
            "gemini_usage": _residue(meta if isinstance(meta, dict) else {}, USAGE_FIELDS),
            "gemini_unknown": unknown,
        }
        if finish and FINISH_TO_GEMINI.get(reason) != finish:
            extras["gemini_finish_reason"] = finish
        response.extras.update({key: value for key, value in extras.items() if value})
        return response

    def render_response(
        self, response: ir.Response, client_request: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """IR → a ``GenerateContentResponse``; fields kept at parse time are restored. Thought
        parts are left out unless the client asked for them, as in :meth:`stream_encoder`."""
        thoughts = _wants_thoughts(client_request)
        parts = [
            rendered
            for part in response.parts
            if (thoughts or not isinstance(part, ir.ThinkingPart))
            and (rendered := _render_response_part(part)) is not None
        ]
        extras = response.extras
        candidate: dict[str, Any] = {
            "content": {"parts": _restore(parts, extras.get("gemini_unknown")), "role": "model"},
            "finishReason": extras.get("gemini_finish_reason")
            or FINISH_TO_GEMINI.get(response.stop_reason, "STOP"),
            "index": 0,
        }
        _merge(candidate, extras.get("gemini_candidate") or {})
        usage = usage_to_gemini(response.usage)
        _merge(usage, extras.get("gemini_usage") or {})
        body: dict[str, Any] = {
            "candidates": [candidate],
            "usageMetadata": usage,
            "modelVersion": response.model,
            "responseId": response.id or new_response_id(),
        }
        _merge(body, extras.get("gemini") or {})
        return body

    def stream_decoder(self) -> GeminiStreamDecoder:
        """A decoder for one ``streamGenerateContent?alt=sse`` stream."""
        return GeminiStreamDecoder()

    def stream_encoder(
        self, model: str, client_request: dict[str, Any] | None = None
    ) -> GeminiStreamEncoder:
        """Thought parts go out only when the client asked for them (``includeThoughts``), as
        Gemini does; without a client request (tests, the translator) they always go out."""
        return GeminiStreamEncoder(model, include_thoughts=_wants_thoughts(client_request))

    def with_system_prompt(self, body: dict[str, Any], text: str, position: str) -> dict[str, Any]:
        """A text part in ``systemInstruction`` (under whichever spelling the client used)."""
        key = _spelling(body, "systemInstruction", "system_instruction")
        system = body.get(key)
        if isinstance(system, dict) and isinstance(system.get("parts"), list):
            parts = with_part(system["parts"], {"text": text}, position)
            return {**body, key: {**system, "parts": parts}}
        if isinstance(system, str):
            return {**body, key: joined_text(system, text, position)}
        return {**body, key: {"parts": [{"text": text}]}}

    def with_default_thinking(self, body: dict[str, Any], budget: int) -> dict[str, Any]:
        """``generationConfig.thinkingConfig.thinkingBudget``, unless the client set a
        ``thinkingConfig``."""
        key = _spelling(body, "generationConfig", "generation_config")
        config = body.get(key)
        config = config if isinstance(config, dict) else {}
        if value_of(config, "thinkingConfig") is not None:
            return body
        return {**body, key: {**config, "thinkingConfig": {"thinkingBudget": budget}}}


def _spelling(body: dict[str, Any], camel_key: str, snake_key: str) -> str:
    """The camelCase key, or the snake_case one when that is the one the client used."""
    return snake_key if camel_key not in body and snake_key in body else camel_key


@hookimpl
def register_formats(register: Callable[[Format], None]) -> None:
    """Register the Gemini generateContent format."""
    register(GeminiFormat())


# -- helpers ------------------------------------------------------------------------------------


def _wants_thoughts(client_request: dict[str, Any] | None) -> bool:
    """Whether the client asked for thought parts (always, without a client request)."""
    if client_request is None:
        return True
    config = value_of(value_of(client_request, "generationConfig"), "thinkingConfig")
    return value_of(config, "includeThoughts") is True


def _residue(obj: dict[str, Any], consumed: Iterable[str]) -> dict[str, Any]:
    """The fields of ``obj`` the IR did not take, under their camelCase names."""
    own = set(consumed)
    return {camel(key): value for key, value in obj.items() if camel(key) not in own}


def _merge(body: dict[str, Any], residue: dict[str, Any]) -> None:
    """Put fields kept at parse time back; what was rendered from the IR wins."""
    for key, value in residue.items():
        mine = body.get(key)
        if isinstance(mine, dict) and isinstance(value, dict):
            _merge(mine, value)
        elif key not in body:
            body[key] = value


def _restore(items: list[Any], unknown: list[list[Any]] | None) -> list[Any]:
    """Put the ``[position, item]`` pairs kept at parse time back where they were."""
    if not unknown:
        return items
    items = list(items)
    for pos, item in sorted(unknown, key=lambda pair: pair[0]):
        items.insert(min(int(pos), len(items)), item)
    return items


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def _number(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def _is_empty_text(part: ir.Part) -> bool:
    return isinstance(part, ir.TextPart) and not part.text and not part.extras


# -- request parsing ----------------------------------------------------------------------------


class _Call:
    __slots__ = ("answered", "id", "name", "turn")

    def __init__(self, id: str, name: str, turn: int) -> None:
        self.id, self.name, self.turn, self.answered = id, name, turn, False


class _CallIds:
    """Ids for the function calls of one body and the results that answer them.

    In requests a call without an id gets ``call_<name>_<n>`` (stable across re-parses of the
    same history); in responses (``fresh``) a random one, unique across turns as Anthropic
    requires of tool use ids."""

    __slots__ = ("_calls", "_count", "_fresh", "turn")

    def __init__(self, *, fresh: bool = False) -> None:
        self._calls: list[_Call] = []
        self._count = 0
        self._fresh = fresh
        self.turn = 0

    def _new(self, name: str) -> str:
        self._count += 1
        return new_call_id() if self._fresh else f"call_{name}_{self._count - 1}"

    def call(self, name: str, given: Any) -> tuple[str, bool]:
        """The id of a call, and whether it was made up."""
        made_up = not (isinstance(given, str) and given)
        call_id = self._new(name) if made_up else str(given)
        self._calls.append(_Call(call_id, name, self.turn))
        return call_id, made_up

    def result(self, name: str, given: Any) -> str:
        if isinstance(given, str) and given:
            for call in self._calls:
                if call.id == given:
                    call.answered = True
            return given
        waiting = [c for c in self._calls if not c.answered and c.name == name]
        if not waiting:
            return self._new(name)
        latest = max(c.turn for c in waiting)
        call = next(c for c in waiting if c.turn == latest)
        call.answered = True
        return call.id


def _parse_system(system: Any) -> list[ir.TextPart]:
    if system is None or system == "":
        return []
    if isinstance(system, str):
        return [ir.TextPart(system)]
    parts = value_of(system, "parts")
    if not isinstance(parts, list):
        raise BadRequest(
            "systemInstruction: a content with an array of parts is required",
            param="systemInstruction",
        )
    texts = []
    for part in parts:
        text = part.get("text") if isinstance(part, dict) else None
        if isinstance(text, str):
            if text:
                texts.append(ir.TextPart(text))
        else:
            logger.warning("gemini: systemInstruction: dropping a part that is not text")
    return texts


def _parse_contents(contents: list[Any]) -> list[ir.Message]:
    ids = _CallIds()
    messages = []
    for i, content in enumerate(contents):
        where = f"contents[{i}]"
        if not isinstance(content, dict):
            raise BadRequest(f"{where}: a content must be an object", param=where)
        role = content.get("role") or "user"
        # ``function`` is the role older clients give to function responses.
        if role not in ("user", "model", "function"):
            raise BadRequest(f"{where}.role: must be 'user' or 'model'", param=where)
        parts = value_of(content, "parts")
        if not isinstance(parts, list):
            raise BadRequest(f"{where}.parts: an array of parts is required", param=where)
        message = ir.Message("assistant" if role == "model" else "user")
        ids.turn = i
        unknown = []
        for pos, raw in enumerate(parts):
            if not isinstance(raw, dict):
                raise BadRequest(f"{where}.parts[{pos}]: a part must be an object", param=where)
            part = _parse_part(raw, ids)
            if part is None:
                logger.warning(
                    "gemini: %s.parts[%d] (%s) has no IR equivalent; only Gemini keeps it",
                    where,
                    pos,
                    ", ".join(sorted(raw)),
                )
                unknown.append([pos, raw])
            elif not _is_empty_text(part):
                message.parts.append(part)
        if unknown:
            message.extras["gemini_unknown"] = unknown
        messages.append(message)
    return messages


def _parse_part(part: dict[str, Any], ids: _CallIds) -> ir.Part | None:
    signature = value_of(part, "thoughtSignature")
    signature = from_gemini(signature) if isinstance(signature, str) and signature else None
    call = value_of(part, "functionCall")
    if isinstance(call, dict):
        name = str(call.get("name") or "")
        call_id, made_up = ids.call(name, value_of(call, "id"))
        args = call.get("args")
        return ir.ToolCallPart(
            id=call_id,
            name=name,
            arguments=_dumps(args if isinstance(args, dict) else {}),
            signature=signature,
            extras={"gemini_generated_id": True} if made_up else {},
        )
    result = value_of(part, "functionResponse")
    if isinstance(result, dict):
        return _parse_function_response(result, ids)
    text = part.get("text")
    if isinstance(text, str):
        if part.get("thought") is True:
            return ir.ThinkingPart(text=text, signature=signature)
        return ir.TextPart(text, {"thoughtSignature": signature} if signature else {})
    return _parse_media(part)


def _parse_function_response(result: dict[str, Any], ids: _CallIds) -> ir.ToolResultPart:
    name = str(result.get("name") or "")
    response = result.get("response")
    content: list[ir.TextPart | ir.ImagePart] = []
    if response is not None:
        content.append(ir.TextPart(_dumps(response)))
    media = value_of(result, "parts")
    for item in media if isinstance(media, list) else ():
        image = _parse_media(item) if isinstance(item, dict) else None
        if image is not None:
            content.append(image)
    return ir.ToolResultPart(
        tool_call_id=ids.result(name, value_of(result, "id")),
        content=content,
        is_error=isinstance(response, dict) and list(response) == ["error"],
        name=name or None,
    )


def _parse_media(part: dict[str, Any]) -> ir.ImagePart | None:
    """An image given inline or by URI; None for anything else (audio, PDF, code, ...)."""
    inline = value_of(part, "inlineData")
    if isinstance(inline, dict):
        mime, data = value_of(inline, "mimeType"), inline.get("data")
        if isinstance(mime, str) and mime.startswith("image/") and isinstance(data, str):
            return ir.ImagePart(data=data, media_type=mime)
        return None
    file = value_of(part, "fileData")
    if isinstance(file, dict):
        uri, mime = value_of(file, "fileUri"), value_of(file, "mimeType")
        if isinstance(uri, str) and uri and (mime is None or str(mime).startswith("image/")):
            return ir.ImagePart(url=uri, media_type=mime)
    return None


def _parse_tools(tools: Any, request: ir.Request) -> None:
    if tools is None:
        return
    if not isinstance(tools, list):
        raise BadRequest("tools: an array is required", param="tools")
    others = []
    for pos, tool in enumerate(tools):
        if not isinstance(tool, dict):
            raise BadRequest(f"tools[{pos}]: a tool must be an object", param="tools")
        declarations = value_of(tool, "functionDeclarations")
        for declaration in declarations if isinstance(declarations, list) else ():
            if isinstance(declaration, dict):
                request.tools.append(_parse_declaration(declaration))
        rest = _residue(tool, ("functionDeclarations",))
        if rest:
            others.append(rest)
    if others:
        logger.warning("gemini: tools other than functions have no IR equivalent")
        request.extras["gemini_tools"] = others


def _parse_declaration(declaration: dict[str, Any]) -> ir.Tool:
    description = declaration.get("description")
    tool = ir.Tool(
        name=str(declaration.get("name") or ""),
        description=description if isinstance(description, str) else None,
    )
    json_schema = value_of(declaration, "parametersJsonSchema")
    parameters = declaration.get("parameters")
    if isinstance(json_schema, dict):
        tool.parameters = json_schema
    elif isinstance(parameters, dict):
        tool.parameters = _from_openapi(parameters)
        tool.extras["gemini_parameters"] = parameters
    rest = _residue(declaration, _DECLARATION_FIELDS)
    if rest:
        tool.extras["gemini"] = rest
    return tool


def _from_openapi(schema: Any) -> Any:
    """Google's OpenAPI-subset ``Schema`` → JSON Schema: lowercase types, ``nullable`` as a
    ``null`` type, Gemini's own ``propertyOrdering`` left out."""
    if isinstance(schema, list):
        return [_from_openapi(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        key = camel(key)
        if key in ("nullable", "propertyOrdering"):
            continue
        if key == "type" and isinstance(value, str):
            if value.upper() != "TYPE_UNSPECIFIED":
                out[key] = value.lower()
        elif key in _SCHEMA_MAPS and isinstance(value, dict):
            out[key] = {name: _from_openapi(sub) for name, sub in value.items()}
        elif key in _SUBSCHEMAS:
            out[key] = _from_openapi(value)
        else:
            out[key] = value
    nullable = schema.get("nullable") is True
    if nullable and isinstance(out.get("type"), str):
        out["type"] = [out["type"], "null"]
    return out


def _parse_tool_config(config: Any, request: ir.Request, residue: dict[str, Any]) -> None:
    if not isinstance(config, dict):
        return
    rest = _residue(config, ("functionCallingConfig",))
    calling = value_of(config, "functionCallingConfig")
    if isinstance(calling, dict):
        mode = str(value_of(calling, "mode") or "").upper()
        names = value_of(calling, "allowedFunctionNames")
        names = [n for n in names if isinstance(n, str)] if isinstance(names, list) else []
        consumed = ["mode"]
        if mode in ("AUTO", "VALIDATED"):  # VALIDATED: call or answer, calls schema-checked
            request.tool_choice = ir.ToolChoice("auto")
        elif mode == "NONE":
            request.tool_choice = ir.ToolChoice("none")
        elif mode == "ANY" and len(names) == 1:
            request.tool_choice = ir.ToolChoice("tool", names[0])
            consumed.append("allowedFunctionNames")
        elif mode == "ANY":
            request.tool_choice = ir.ToolChoice("required")
        calling_rest = _residue(calling, consumed)
        if calling_rest:
            rest["functionCallingConfig"] = calling_rest
    if rest:
        residue["toolConfig"] = rest


def _parse_generation_config(config: Any, request: ir.Request, residue: dict[str, Any]) -> None:
    if not isinstance(config, dict):
        return
    rest = _residue(config, _GENERATION_FIELDS)
    max_tokens = value_of(config, "maxOutputTokens")
    if isinstance(max_tokens, int) and not isinstance(max_tokens, bool):
        request.max_tokens = max_tokens
    request.temperature = _number(value_of(config, "temperature"))
    request.top_p = _number(value_of(config, "topP"))
    top_k = _number(value_of(config, "topK"))
    request.top_k = int(top_k) if top_k is not None else None
    stop = value_of(config, "stopSequences")
    if isinstance(stop, list):
        request.stop = [s for s in stop if isinstance(s, str)]
    mime = value_of(config, "responseMimeType")
    schema = value_of(config, "responseJsonSchema")
    legacy = value_of(config, "responseSchema")
    if mime == "application/json":
        if isinstance(schema, dict):
            request.response_format = ir.ResponseFormat("json_schema", schema=schema)
        elif isinstance(legacy, dict):
            request.response_format = ir.ResponseFormat("json_schema", _from_openapi(legacy))
        else:
            request.response_format = ir.ResponseFormat("json_object")
    else:  # text/x.enum and the like: only Gemini understands them
        for key in ("responseMimeType", "responseJsonSchema", "responseSchema"):
            if value_of(config, key) is not None:
                rest[key] = value_of(config, key)
    thinking = value_of(config, "thinkingConfig")
    if isinstance(thinking, dict):
        request.reasoning = _parse_thinking(thinking)
        thinking_rest = _residue(thinking, ("thinkingBudget", "thinkingLevel"))
        if thinking_rest:
            rest["thinkingConfig"] = thinking_rest
    if rest:
        residue["generationConfig"] = rest


def _parse_thinking(thinking: dict[str, Any]) -> ir.Reasoning | None:
    budget = value_of(thinking, "thinkingBudget")
    if isinstance(budget, int) and not isinstance(budget, bool):
        if budget == 0:
            return ir.Reasoning(enabled=False)
        if budget > 0:
            return ir.Reasoning(effort=ir.effort_for_budget(budget), budget_tokens=budget)
    level = str(value_of(thinking, "thinkingLevel") or "").lower()
    if level in _EFFORTS:
        return ir.Reasoning(effort=level)  # type: ignore[arg-type]
    if budget == -1 or value_of(thinking, "includeThoughts") is True:
        return ir.Reasoning()  # dynamic thinking: on, the model decides how much
    return None


# -- request rendering --------------------------------------------------------------------------


class _Turn:
    """A content being rendered: function results apart, to lead the turn in call order."""

    __slots__ = ("calls", "parts", "results", "role")

    def __init__(self, role: str) -> None:
        self.role = role
        self.parts: list[dict[str, Any]] = []
        self.results: list[tuple[str, dict[str, Any]]] = []
        self.calls: list[str] = []


def _render_contents(messages: list[ir.Message]) -> list[dict[str, Any]]:
    names = {
        part.id: part.name
        for message in messages
        for part in message.parts
        if isinstance(part, ir.ToolCallPart)
    }
    turns: list[_Turn] = []
    for message in messages:
        turn = _Turn("model" if message.role == "assistant" else "user")
        for part in message.parts:
            if isinstance(part, ir.ToolResultPart):
                turn.results.append((part.tool_call_id, _render_result(part, names)))
                images = (p for p in part.content if isinstance(p, ir.ImagePart))
                turn.parts += [r for image in images if (r := _render_image(image)) is not None]
            elif isinstance(part, ir.ToolCallPart):
                turn.calls.append(part.id)
                turn.parts.append(_render_call(part, with_id=False))
            elif (rendered := _render_part(part)) is not None:
                turn.parts.append(rendered)
        turn.parts = _restore(turn.parts, message.extras.get("gemini_unknown"))
        if not (turn.parts or turn.results):
            continue
        if turns and turns[-1].role == turn.role:
            last = turns[-1]
            last.parts += turn.parts
            last.results += turn.results
            last.calls += turn.calls
        else:
            turns.append(turn)
    contents = []
    calls: list[str] = []
    for turn in turns:
        parts = turn.parts
        if turn.role == "model":
            _sign_calls(parts)
            calls = turn.calls
        order = {call_id: i for i, call_id in enumerate(calls)}
        results = sorted(turn.results, key=lambda r: order.get(r[0], len(order)))
        parts = [result for _, result in results] + parts
        contents.append({"role": turn.role, "parts": parts})
    return contents


def _sign_calls(parts: list[dict[str, Any]]) -> None:
    """Give the calls of a model turn that has no signed call the documented skip signature."""
    calls = [part for part in parts if "functionCall" in part]
    if calls and not any("thoughtSignature" in part for part in calls):
        for part in calls:
            part["thoughtSignature"] = SKIP_SIGNATURE


def _render_part(part: ir.Part) -> dict[str, Any] | None:
    if isinstance(part, ir.TextPart):
        signature = part.extras.get("thoughtSignature")
        if not part.text and not signature:
            return None
        text: dict[str, Any] = {"text": part.text}
        if isinstance(signature, str):
            text["thoughtSignature"] = to_gemini(signature)
        return text
    if isinstance(part, ir.ImagePart):
        return _render_image(part)
    return None  # thinking is not sent back (see the module docstring)


def _render_call(part: ir.ToolCallPart, *, with_id: bool) -> dict[str, Any]:
    """A ``functionCall`` part: for an upstream's history (``with_id=False``) a signature
    another provider issued is left off (:func:`_sign_calls` supplies the documented skip
    signature, as Gemini rejects foreign ones); for a client it is carried, wrapped."""
    call: dict[str, Any] = {"name": part.name, "args": call_args(part.arguments, part.name)}
    if with_id and part.id and not part.extras.get("gemini_generated_id"):
        call["id"] = part.id
    rendered: dict[str, Any] = {"functionCall": call}
    if part.signature:
        signature = to_gemini(part.signature)
        if with_id or signature == part.signature:
            rendered["thoughtSignature"] = signature
    return rendered


def _render_result(part: ir.ToolResultPart, names: dict[str, str]) -> dict[str, Any]:
    name = part.name or names.get(part.tool_call_id)
    if not name:
        logger.warning(
            "gemini: no function name for result %r; naming it by its id", part.tool_call_id
        )
        name = part.tool_call_id or "function"
    return {"functionResponse": {"name": name, "response": _result_object(part)}}


def _result_object(part: ir.ToolResultPart) -> dict[str, Any]:
    """The ``response`` object Gemini requires for a result (its content is text)."""
    text = part.text()
    value = None
    if text.lstrip().startswith("{"):
        try:
            value = orjson.loads(text)
        except orjson.JSONDecodeError:
            value = None
    if isinstance(value, dict):
        return {"error": value} if part.is_error and "error" not in value else value
    return {"error": text} if part.is_error else {"output": text}


def _render_image(part: ir.ImagePart) -> dict[str, Any] | None:
    if part.data:
        return {"inlineData": {"mimeType": part.media_type or "image/png", "data": part.data}}
    url = part.url
    if not url:
        return None
    if url.startswith("data:") and ";base64," in url:
        header, data = url[5:].split(",", 1)
        return {"inlineData": {"mimeType": header.split(";", 1)[0] or "image/png", "data": data}}
    return {"fileData": {"mimeType": part.media_type or _image_type(url), "fileUri": url}}


def _image_type(url: str) -> str:
    path = url.split("?", 1)[0].lower()
    for suffix, media_type in _IMAGE_TYPES.items():
        if path.endswith(suffix):
            return media_type
    return "image/jpeg"


def _render_tools(request: ir.Request) -> list[dict[str, Any]]:
    tools: list[dict[str, Any]] = []
    if request.tools:
        tools.append({"functionDeclarations": [_render_declaration(t) for t in request.tools]})
    return tools + list(request.extras.get("gemini_tools") or ())


def _render_declaration(tool: ir.Tool) -> dict[str, Any]:
    declaration: dict[str, Any] = {"name": tool.name}
    if tool.description:
        declaration["description"] = tool.description
    original = tool.extras.get("gemini_parameters")
    schema = tool.parameters or {}
    if isinstance(original, dict):
        declaration["parameters"] = original
    elif schema.get("properties") or not set(schema) <= _BARE_OBJECT_KEYS:
        if schema.get("type") is None:
            schema = {"type": "object", **schema}
        declaration["parametersJsonSchema"] = _for_gemini(schema)
    _merge(declaration, tool.extras.get("gemini") or {})
    return declaration


def _for_gemini(schema: Any) -> Any:
    """A JSON Schema as ``parametersJsonSchema`` takes it: without ``$schema`` (rejected)."""
    if isinstance(schema, list):
        return [_for_gemini(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key == "$schema":
            continue
        if key in _SCHEMA_MAPS and isinstance(value, dict):
            out[key] = {name: _for_gemini(sub) for name, sub in value.items()}
        else:
            out[key] = _for_gemini(value)
    return out


def _render_choice(choice: ir.ToolChoice) -> dict[str, Any]:
    if choice.mode == "tool":
        return {"mode": "ANY", "allowedFunctionNames": [choice.name or ""]}
    return {"mode": {"auto": "AUTO", "none": "NONE", "required": "ANY"}[choice.mode]}


def _render_generation_config(request: ir.Request) -> dict[str, Any]:
    config: dict[str, Any] = {}
    if request.max_tokens is not None:
        config["maxOutputTokens"] = request.max_tokens
    if request.temperature is not None:
        config["temperature"] = request.temperature
    if request.top_p is not None:
        config["topP"] = request.top_p
    if request.top_k is not None:
        config["topK"] = request.top_k
    if request.stop:
        if len(request.stop) > MAX_STOP_SEQUENCES:
            logger.warning("gemini: only the first %d stop sequences are sent", MAX_STOP_SEQUENCES)
        config["stopSequences"] = request.stop[:MAX_STOP_SEQUENCES]
    response_format = request.response_format
    if response_format is not None and response_format.type != "text":
        config["responseMimeType"] = "application/json"
        if response_format.type == "json_schema" and response_format.schema is not None:
            config["responseJsonSchema"] = _for_gemini(response_format.schema)
    thinking = _render_thinking(request.reasoning, request.model)
    if thinking is not None:
        config["thinkingConfig"] = thinking
    return config


def _render_thinking(reasoning: ir.Reasoning | None, model: str) -> dict[str, Any] | None:
    if reasoning is None:
        return None
    if not reasoning.enabled:
        name = model.rsplit("/", 1)[-1].lower()
        if "pro" in name or name.startswith("gemini-3"):
            logger.info("gemini: %s cannot turn thinking off; leaving thinkingConfig out", model)
            return None
        return {"thinkingBudget": 0}
    budget = min(max(ir.budget_for(reasoning), MIN_THINKING_BUDGET), MAX_THINKING_BUDGET)
    return {"thinkingBudget": budget, "includeThoughts": True}


# -- responses ----------------------------------------------------------------------------------


def _render_response_part(part: ir.Part) -> dict[str, Any] | None:
    if isinstance(part, ir.ToolCallPart):
        return _render_call(part, with_id=True)
    if isinstance(part, ir.ThinkingPart):
        if part.redacted or not (part.text or part.signature):
            return None
        thought: dict[str, Any] = {"text": part.text, "thought": True}
        if part.signature:
            thought["thoughtSignature"] = to_gemini(part.signature)
        return thought
    if isinstance(part, ir.TextPart | ir.ImagePart):
        return _render_part(part)
    logger.warning("gemini: a %s has no place in a response; dropped", type(part).__name__)
    return None
