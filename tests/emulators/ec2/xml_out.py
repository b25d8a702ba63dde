"""Writes EC2 response XML from botocore's output shapes.

A response is written from a dictionary keyed by the model's member names (the
same dictionary botocore hands back after parsing), element names taken from
each member's ``locationName`` and lists written as ``<name><item>..</item>``,
as EC2 does. A key the output shape does not have is a bug in the emulator and
raises ``KeyError`` rather than being sent. Every response carries
``<requestId>``.

Errors come in EC2's shape (``<Response><Errors><Error>`` with
``<RequestID>``) or in the generic Query shape (``<ErrorResponse><Error>`` with
``<Type>`` and ``<RequestId>``); clients must read both.
"""
import base64
import datetime
from xml.sax.saxutils import escape

from .model import API_VERSION, service_model

XMLNS = f"http://ec2.amazonaws.com/doc/{API_VERSION}/"
FAULT_XMLNS = "http://webservices.amazon.com/AWSFault/2005-15-09"


def _scalar(shape, value):
    kind = shape.type_name
    if kind == "boolean":
        return "true" if value else "false"
    if kind == "timestamp":
        if isinstance(value, (int, float)):
            value = datetime.datetime.fromtimestamp(value, datetime.timezone.utc)
        value = value.astimezone(datetime.timezone.utc)
        return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    if kind == "blob":
        if isinstance(value, str):
            value = value.encode()
        return base64.b64encode(value).decode()
    return escape(str(value))


def _element_name(member_shape, member_name):
    return member_shape.serialization.get("name", member_name)


def _write(out, shape, value):
    kind = shape.type_name
    if kind == "structure":
        unknown = set(value) - set(shape.members)
        if unknown:
            raise KeyError(f"{shape.name} has no members {sorted(unknown)}")
        for name, member in shape.members.items():
            if value.get(name) is None:
                continue
            tag = _element_name(member, name)
            out.append(f"<{tag}>")
            _write(out, member, value[name])
            out.append(f"</{tag}>")
    elif kind == "list":
        item = shape.member.serialization.get("name", "item")
        for element in value:
            out.append(f"<{item}>")
            _write(out, shape.member, element)
            out.append(f"</{item}>")
    elif kind == "map":
        for key, element in value.items():
            out.append("<entry><key>")
            out.append(escape(str(key)))
            out.append("</key><value>")
            _write(out, shape.value, element)
            out.append("</value></entry>")
    else:
        out.append(_scalar(shape, value))


def response_xml(action, data, request_id):
    """The body of a successful answer to ``action`` carrying ``data``."""
    shape = service_model().operation_model(action).output_shape
    out = ['<?xml version="1.0" encoding="UTF-8"?>\n',
           f'<{action}Response xmlns="{XMLNS}">', f"<requestId>{escape(request_id)}</requestId>"]
    if shape is None:
        out.append("<return>true</return>")
    else:
        _write(out, shape, data or {})
    out.append(f"</{action}Response>")
    return "".join(out).encode("utf-8")


def error_xml(code, message, request_id, shape="Response", status=400):
    """The body of an error answer, in EC2's shape or the generic Query shape."""
    code, message, request_id = escape(code), escape(message), escape(request_id)
    if shape == "ErrorResponse":
        kind = "Receiver" if status >= 500 else "Sender"
        body = (f'<ErrorResponse xmlns="{FAULT_XMLNS}"><Error><Type>{kind}</Type><Code>{code}</Code>'
                f"<Message>{message}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>")
    else:
        body = (f"<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message>"
                f"</Error></Errors><RequestID>{request_id}</RequestID></Response>")
    return ('<?xml version="1.0" encoding="UTF-8"?>\n' + body).encode("utf-8")
