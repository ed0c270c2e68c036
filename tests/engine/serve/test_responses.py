import json

from engine.serve.responses import json_response


def test_an_answer_is_json_any_parser_accepts_with_its_charset():
    response = json_response({"kid": float("nan"), "best": float("inf"), "name": "café", "ok": [1, 2.5]})
    assert response.content_type == "application/json" and response.charset == "utf-8"
    assert json.loads(response.body, parse_constant=lambda c: c) == {
        "kid": None,
        "best": None,
        "name": "café",
        "ok": [1, 2.5],
    }


def test_status_and_headers_are_kept():
    response = json_response({"error": {"code": "busy"}}, status=429, headers={"Retry-After": "2"})
    assert response.status == 429 and response.headers["Retry-After"] == "2"
