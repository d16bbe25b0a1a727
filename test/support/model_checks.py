"""Checks against botocore's service models, for Berth Local's services.

Reads {"check", "service", ...} on stdin and writes JSON:
- "members": for each operation in "operations", its input shape's members and required ones;
- "responses": for each {"operation", "output"} in "responses", the problems ParamValidator
  reports against the output shape, plus enum values it leaves unchecked.
"""
import json
import sys

import botocore.session
from botocore.validate import ParamValidator


def enum_problems(shape, value, path, problems):
    if shape.type_name == "structure" and isinstance(value, dict):
        for name, member in value.items():
            if name in shape.members:
                enum_problems(shape.members[name], member, path + "." + name, problems)
    elif shape.type_name == "list" and isinstance(value, list):
        for index, item in enumerate(value):
            enum_problems(shape.member, item, "%s[%d]" % (path, index), problems)
    elif shape.type_name == "string" and shape.enum and value not in shape.enum:
        problems.append("%s: %r is not one of %s" % (path, value, shape.enum))


def main() -> None:
    request = json.load(sys.stdin)
    model = botocore.session.get_session().get_service_model(request["service"])
    if request["check"] == "members":
        out = {}
        for name in request["operations"]:
            shape = model.operation_model(name).input_shape
            out[name] = {"members": sorted(shape.members), "required": sorted(shape.required_members)}
        json.dump(out, sys.stdout)
        return
    results = []
    for answer in request["responses"]:
        shape = model.operation_model(answer["operation"]).output_shape
        report = ParamValidator().validate(answer["output"], shape)
        problems = report.generate_report().splitlines() if report.has_errors() else []
        enum_problems(shape, answer["output"], answer["operation"], problems)
        results.append(problems)
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
