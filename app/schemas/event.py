"""Event feed schemas."""
from marshmallow import Schema, fields, validate


class EventFeedQuerySchema(Schema):
    after = fields.Integer(load_default=0, validate=validate.Range(0, 2**63 - 1),
                           metadata={"description": "Return events with a greater sequence"})
    limit = fields.Integer(load_default=100, validate=validate.Range(1, 1000))


class EventSchema(Schema):
    sequence = fields.Integer()
    id = fields.UUID()
    type = fields.String()
    version = fields.Integer()
    occurred_at = fields.String(metadata={"description": "ISO 8601"})
    data = fields.Dict()


class EventFeedSchema(Schema):
    events = fields.List(fields.Nested(EventSchema))
    next_after = fields.Integer()
