"""Summarise a schemathesis NDJSON report: every distinct failure, not just the one or two
per operation that schemathesis prints.

    python3 .ci/schemathesis_summary.py REPORT.ndjson [--examples N]

Failures are grouped by (operation, check, response status, cause), a cause being the
error message and one bad field; for each group
it prints how many test cases hit it and up to N example requests (default 1).
"""

import base64
import collections
import json
import re
import sys


def body_text(obj):
    if not obj:
        return ""
    if "$base64" in obj:
        raw = base64.b64decode(obj["$base64"])
    else:
        raw = (obj.get("string") or "").encode()
    return raw.decode("utf-8", "replace")


def short(text, limit=240):
    # Control and other invisible characters escaped, so the summary stays plain text.
    text = "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} chars)"


def response_causes(status, text):
    """What tells failures apart: the error message, split into one cause per bad field
    (unknown field names collapsed into one `<unknown field>`), so that a response naming
    three problems counts towards each of the three."""
    try:
        doc = json.loads(text)
    except ValueError:
        return [short(text, 80)]
    if isinstance(doc, dict) and "message" in doc:
        msg = re.sub(r"\d+", "N", str(doc["message"]))
        fields = doc.get("fields") or {}
        causes = set()
        for name, problems in fields.items():
            for problem in problems:
                if "is not a field this endpoint takes" in problem:
                    name = "<unknown field>"
                causes.add(f"{msg}: {short(name, 40)}: {problem}")
        return sorted(causes) or [msg]
    return ["(success body)" if 200 <= status < 300 else short(text, 80)]


def add(groups, key, done, req, resp, status, text, failure, examples):
    group = groups.setdefault(key, {"count": 0, "examples": [], "phases": set()})
    group["count"] += 1
    group["phases"].add(done.get("phase", "?"))
    if len(group["examples"]) < examples:
        headers = {k: v[0] if isinstance(v, list) and len(v) == 1 else v
                   for k, v in (req.get("headers") or {}).items()
                   if k.lower() not in ("authorization", "user-agent", "accept", "accept-encoding",
                                        "connection", "content-length", "x-schemathesis-testcaseid")}
        group["examples"].append({
            "request": f"{req.get('method')} {req.get('uri')}",
            "headers": headers,
            "body": short(body_text(req.get("body")), 300),
            "response": f"{status} {short(text, 300)}",
            "why": short(failure.get("message", ""), 300),
        })


def main():
    args = sys.argv[1:]
    examples = 1
    if "--examples" in args:
        i = args.index("--examples")
        examples = int(args[i + 1])
        del args[i : i + 2]
    path = args[0]
    groups = collections.OrderedDict()
    for line in open(path, encoding="utf-8"):
        event = json.loads(line)
        done = event.get("ScenarioFinished")
        if not done or done.get("status") not in ("failure", "error"):
            continue
        rec = done["recorder"]
        for case_id, checks in rec.get("checks", {}).items():
            for check in checks:
                if check.get("status") != "failure":
                    continue
                failure = (check.get("failure_info") or {}).get("failure") or {}
                inter = rec.get("interactions", {}).get(case_id) or {}
                req, resp = inter.get("request") or {}, inter.get("response") or {}
                status = resp.get("status_code", 0)
                text = body_text(resp.get("content"))
                operation = failure.get("operation") or rec.get("label")
                for cause in response_causes(status, text):
                    key = (operation, check["name"], failure.get("title", ""), status, cause)
                    add(groups, key, done, req, resp, status, text, failure, examples)
    if not groups:
        print("no failures in", path)
        return 0
    print(f"{len(groups)} distinct failures in {path}:")
    for n, ((op, check, title, status, what), group) in enumerate(sorted(groups.items()), 1):
        print(f"\n{n}. {op} | {check} ({title}) | {status} {what}")
        print(f"   {group['count']} case(s), phase(s): {', '.join(sorted(group['phases']))}")
        for ex in group["examples"]:
            print(f"   request:  {ex['request']}")
            if ex["headers"]:
                print(f"   headers:  {json.dumps(ex['headers'], ensure_ascii=True)}")
            if ex["body"]:
                print(f"   body:     {ex['body']}")
            print(f"   response: {ex['response']}")
            if ex["why"]:
                print(f"   why:      {ex['why']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
