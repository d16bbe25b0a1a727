"""Validates AWS requests against botocore's service models.

Reads a JSON list of {"service", "operation", "input"} on stdin and writes a JSON list with,
for each request, the list of problems ParamValidator reports (empty when valid).
"""
import json
import sys

import botocore.session
from botocore.validate import ParamValidator


def main() -> None:
    requests = json.load(sys.stdin)
    session = botocore.session.get_session()
    models = {}
    validator = ParamValidator()
    results = []
    for request in requests:
        service = request["service"]
        try:
            if service not in models:
                models[service] = session.get_service_model(service)
            operation = models[service].operation_model(request["operation"])
        except Exception as error:  # unknown service or operation is a failure, not a crash
            results.append([f"{type(error).__name__}: {error}"])
            continue
        report = validator.validate(request["input"], operation.input_shape)
        results.append(report.generate_report().splitlines() if report.has_errors() else [])
    json.dump({"botocore": botocore.__version__, "results": results}, sys.stdout)


if __name__ == "__main__":
    main()
