#!/usr/bin/env python3
"""Prints DrainNode messages encoded by protobuf and Ray's generated classes
(the installed ray and protobuf packages): the reference bytes that
drain_test.cpp holds against the hand encoder and decoder (lib/monitor/drain.cpp)."""
from ray.core.generated import autoscaler_pb2 as a

NID = "37398f5761e1077399bf0f463b8259cfe5a774c63090c8365ab90e71"
cases = {
    "request_idle": a.DrainNodeRequest(node_id=bytes.fromhex(NID), reason=1,
                                       reason_message="idle: ended by the raycluster autoscaler"),
    "request_long": a.DrainNodeRequest(node_id=bytes.fromhex(NID), reason=2, reason_message="x" * 200,
                                       deadline_timestamp_ms=1764800000123),
    "reply_accepted": a.DrainNodeReply(is_accepted=True),
    "reply_refused": a.DrainNodeReply(is_accepted=False,
                                      rejection_reason_message="The node is not idle: running 1 task"),
    "reply_empty": a.DrainNodeReply(),
}
for name, m in cases.items():
    print(name, m.SerializeToString().hex())
