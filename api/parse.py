"""``POST /parse``: a script's entries, warnings and skipped text, without making jobs."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from scene_weaver.script import parse_script

from .auth import jwt_required_once
from .limits import rate_limited
from .openapi_meta import documented
from .requests import parse_body
from .responses import ParseResponse
from .schemas import ParseRequest

__all__ = ["bp"]

bp = Blueprint("parse", __name__)


@bp.post("/parse")
@documented(summary="Parse a script (bracketed or Fountain) into entries", tag="scripts", body=ParseRequest,
            responses={200: ParseResponse}, rate_limit="parse",
            description="In strict mode any warning is a 422 `script_invalid` whose details list all of them.")
@rate_limited("parse")
@jwt_required_once
def parse() -> Response:
    body = parse_body(ParseRequest)
    result = parse_script(body.script, format=body.format, strict=body.strict)
    return jsonify({"format": result.format, **result.to_dict()})
