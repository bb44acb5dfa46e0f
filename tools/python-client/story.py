#!/usr/bin/env python3
"""A client developer's first story against `withus serve`, in Python, from the proto alone.

Generates the `withus.v1` client with grpcio-tools from `proto/` (into a temporary directory,
so it is always the proto as it stands), then, with an admin token: registers a person, a
clinician, a peer worker and some auditors; pages through the actors (AIP-158); the worker
supports the person, records a meeting (enums and google.protobuf.Timestamp) and drafts a note;
has the clinician try to read the person's record and checks each refusal's google.rpc.ErrorInfo
(AIP-193); has the person page through who tried to look, then read their own record as typed
messages, whole and one item a page; checks that an unset enum is refused naming its field; and
that a retried command returns its first receipts. Exits 0 when every step held, 1 naming the
step that did not.

    python3 tools/python-client/story.py --server 127.0.0.1:50051 --token <admin token>
"""

import argparse
import os
import sys
import tempfile
import uuid

import grpc
from grpc_status import rpc_status
from grpc_tools import protoc
from google.rpc import error_details_pb2

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def generate(out_dir):
    """withus/v1/*_pb2.py and *_pb2_grpc.py from proto/, importable from out_dir."""
    proto_dir = os.path.join(ROOT, "proto")
    files = sorted(
        os.path.join("withus", "v1", name)
        for name in os.listdir(os.path.join(proto_dir, "withus", "v1"))
        if name.endswith(".proto")
    )
    include = os.path.join(os.path.dirname(protoc.__file__), "_proto")
    code = protoc.main(
        ["grpc_tools.protoc", f"-I{proto_dir}", f"-I{include}",
         f"--python_out={out_dir}", f"--grpc_python_out={out_dir}", *files]
    )
    if code != 0:
        raise SystemExit(f"grpcio-tools could not compile proto/ (exit {code})")
    sys.path.insert(0, out_dir)


def step(name):
    print(f"python client: {name}", flush=True)


def details(error):
    """The ErrorInfo and BadRequest of a refused call (google.rpc.Status in the trailers)."""
    status = rpc_status.from_call(error)
    assert status is not None, f"no google.rpc.Status details on {error.code()}: {error.details()}"
    info, bad_request = None, None
    for any_detail in status.details:
        if any_detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            any_detail.Unpack(info)
        elif any_detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad_request = error_details_pb2.BadRequest()
            any_detail.Unpack(bad_request)
    assert info is not None, f"no ErrorInfo in {status}"
    return info, bad_request


def story(server, admin_token):
    from google.protobuf import timestamp_pb2
    from withus.v1 import admin_pb2, admin_pb2_grpc, care_pb2, care_pb2_grpc, common_pb2
    from withus.v1 import vocabulary_pb2 as vocabulary

    channel = grpc.insecure_channel(server)
    as_admin = [("authorization", f"Bearer {admin_token}")]
    admin = admin_pb2_grpc.AdminStub(channel)
    suffix = uuid.uuid4().hex[:8]

    def call(command_id):
        return common_pb2.CallOptions(command_id=command_id)

    step("register a person, a clinician, a peer worker and three auditors")
    person, clinician, worker = f"su-py-{suffix}", f"ct-py-{suffix}", f"pw-py-{suffix}"
    cast = [(person, common_pb2.ROLE_SERVICE_USER, ""), (clinician, common_pb2.ROLE_CARE_TEAM, "crisis"),
            (worker, common_pb2.ROLE_PEER_WORKER, "peer-team")]
    cast += [(f"au-py-{suffix}-{i}", common_pb2.ROLE_AUDITOR, "") for i in range(3)]
    first_receipts = None
    for actor_id, role, team in cast:
        receipts = admin.RegisterActor(
            admin_pb2.RegisterActorRequest(call=call(f"reg-{actor_id}"), id=actor_id, role=role,
                                           team=team, display_name=f"Name of {actor_id}"),
            metadata=as_admin)
        first_receipts = first_receipts or receipts
    tokens = {}
    for actor_id in (person, clinician, worker):
        tokens[actor_id] = admin.IssueToken(
            admin_pb2.IssueTokenRequest(call=call(f"tok-{actor_id}"), actor=actor_id),
            metadata=as_admin).token

    step("a retried command (same command_id) returns its first receipts")
    again = admin.RegisterActor(
        admin_pb2.RegisterActorRequest(call=call(f"reg-{person}"), id=person,
                                       role=common_pb2.ROLE_SERVICE_USER, display_name=f"Name of {person}"),
        metadata=as_admin)
    assert again == first_receipts, f"{again} != {first_receipts}"

    step("page through the actors, two at a time (AIP-158)")
    seen, token, pages = [], "", 0
    while True:
        page = admin.ListActors(admin_pb2.ListActorsRequest(page_size=2, page_token=token), metadata=as_admin)
        assert len(page.actors) <= 2, f"a page of {len(page.actors)}"
        seen += [a.id for a in page.actors]
        pages += 1
        token = page.next_page_token
        if not token:
            break
        assert pages < 100, "pagination does not end"
    assert len(seen) == len(set(seen)), f"an actor twice: {seen}"
    missing = {a for a, _, _ in cast} - set(seen)
    assert not missing, f"not listed: {missing}"
    roles = {a.id: a.role for a in admin.ListActors(admin_pb2.ListActorsRequest(page_size=1000), metadata=as_admin).actors}
    assert roles[clinician] == common_pb2.ROLE_CARE_TEAM, roles[clinician]

    step("the worker supports the person, records a meeting and drafts a note (typed requests)")
    as_worker = [("authorization", f"Bearer {tokens[worker]}")]
    as_person = [("authorization", f"Bearer {tokens[person]}")]
    support = care_pb2_grpc.SupportStub(channel)
    support_id, meeting_id, note_id = f"sp-{suffix}", f"m-{suffix}", f"n-{suffix}"
    support.Refer(care_pb2.ReferRequest(call=call(f"ref-{suffix}"), support_id=support_id, subject=person,
                                        worker=worker, source=vocabulary.REFERRAL_SOURCE_SELF),
                  metadata=as_person)
    support.Offer(care_pb2.SupportRequest(call=call(f"off-{suffix}"), support_id=support_id), metadata=as_worker)
    accepted = support.Accept(care_pb2.SupportRequest(call=call(f"acc-{suffix}"), support_id=support_id),
                              metadata=as_person)
    assert accepted.receipts[0].stream == f"support:{support_id}", accepted
    assert accepted.receipts[0].stream_version == 3, accepted
    held = timestamp_pb2.Timestamp()
    held.GetCurrentTime()
    held.FromSeconds(held.seconds - 3600)
    meetings = care_pb2_grpc.MeetingsStub(channel)
    try:
        meetings.Record(care_pb2.RecordMeetingRequest(
            call=call(f"meet-bad-{suffix}"), meeting_id=meeting_id, support_id=support_id,
            kind=vocabulary.MEETING_KIND_ONE_TO_ONE, mode=vocabulary.MEETING_MODE_UNSPECIFIED,
            place=vocabulary.PLACE_ONLINE, occurred_at=held, minutes=45), metadata=as_worker)
    except grpc.RpcError as error:
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error.code()
        info, _ = details(error)
        assert info.reason == "INVALID_FIELD" and info.metadata["field"] == "mode", info
        assert "MEETING_MODE_PHONE" in error.details(), error.details()
    else:
        raise AssertionError("MEETING_MODE_UNSPECIFIED was accepted")
    meetings.Record(care_pb2.RecordMeetingRequest(
        call=call(f"meet-{suffix}"), meeting_id=meeting_id, support_id=support_id,
        kind=vocabulary.MEETING_KIND_ONE_TO_ONE, mode=vocabulary.MEETING_MODE_PHONE,
        place=vocabulary.PLACE_ONLINE, occurred_at=held, minutes=45,
        activities=[care_pb2.Activity(kind=vocabulary.ACTIVITY_KIND_SHARED_EXPERIENCE)]), metadata=as_worker)
    care_pb2_grpc.NotesStub(channel).Draft(care_pb2.DraftNoteRequest(
        call=call(f"note-{suffix}"), note_id=note_id, meeting_id=meeting_id,
        segments=[care_pb2.TextSegment(id="s1", text="We talked about the week and what helped."),
                  care_pb2.TextSegment(id="s2", text="Plan: a walk on Saturday.")]), metadata=as_worker)

    step("the clinician, without the person's consent, is refused three times, each with an ErrorInfo")
    records_as_clinician = care_pb2_grpc.RecordsStub(channel)
    for _ in range(3):
        try:
            records_as_clinician.GetRecord(care_pb2.GetRecordRequest(subject=person),
                                           metadata=[("authorization", f"Bearer {tokens[clinician]}")])
        except grpc.RpcError as error:
            assert error.code() == grpc.StatusCode.PERMISSION_DENIED, error.code()
            info, _ = details(error)
            assert (info.reason, info.domain) == ("ACCESS_DENIED", "withus"), info
            assert info.metadata["field"] == "subject", info.metadata
            assert info.metadata["denial_reason"], info.metadata
        else:
            raise AssertionError("the clinician read the record without a basis")

    step("the person pages through who tried to look (one line a page)")
    records = care_pb2_grpc.RecordsStub(channel)
    lines, token = [], ""
    while True:
        page = records.GetAccessLog(care_pb2.AccessLogRequest(subject=person, page_size=1, page_token=token),
                                    metadata=as_person)
        assert len(page.lines) <= 1
        lines += list(page.lines)
        token = page.next_page_token
        if not token:
            break
    refused = [l for l in lines if l.kind == vocabulary.ACCESS_KIND_REFUSED]
    assert len(refused) == 3 and all(l.reader == clinician for l in refused), lines
    assert all(l.reader_role == common_pb2.ROLE_CARE_TEAM for l in refused), refused
    assert all(l.denial_reason != vocabulary.DENIAL_REASON_UNSPECIFIED for l in refused), refused
    assert all(l.at.seconds > 0 for l in refused), refused
    assert [l.seq for l in lines] == sorted(l.seq for l in lines), "oldest first"

    step("the person reads their own record: typed messages, each item with its stream's version")
    mine = records.GetRecord(care_pb2.GetRecordRequest(subject=person), metadata=as_person)
    assert mine.basis == "" and not mine.next_page_token, mine
    record = mine.record
    assert record.subject == person and record.as_of_seq > 0, record
    (sp,) = record.supports
    assert (sp.support_id, sp.worker, sp.status, sp.source) == (
        support_id, worker, vocabulary.SUPPORT_STATUS_ACCEPTED, vocabulary.REFERRAL_SOURCE_SELF), sp
    assert sp.version == 3 and sp.accepted_at.seconds > 0, sp
    (meeting,) = record.meetings
    assert (meeting.mode, meeting.place, meeting.status, meeting.minutes) == (
        vocabulary.MEETING_MODE_PHONE, vocabulary.PLACE_ONLINE, vocabulary.MEETING_STATUS_HELD, 45), meeting
    assert meeting.occurred_at == held, (meeting.occurred_at, held)
    assert [a.kind for a in meeting.activities] == [vocabulary.ACTIVITY_KIND_SHARED_EXPERIENCE], meeting
    (note,) = record.notes
    assert (note.note_id, note.status, note.revision) == (note_id, vocabulary.NOTE_STATUS_OPEN, 1), note
    assert [p.text for p in note.passages] == [
        "We talked about the week and what helped.", "Plan: a walk on Saturday."], note.passages
    assert all(len(p.commitment) == 64 and p.chars == len(p.text) for p in note.passages), note.passages
    assert note.version == 1, note

    step("the person pages through their record one item a page; the pages fit together")
    items, token, pages = [], "", 0
    while True:
        page = records.GetRecord(care_pb2.GetRecordRequest(subject=person, page_size=1, page_token=token),
                                 metadata=as_person)
        got = list(page.record.supports) + list(page.record.meetings) + list(page.record.notes)
        assert len(got) <= 1, page
        assert page.record.as_of_seq == record.as_of_seq, "later pages are read as of the first"
        items += got
        pages += 1
        token = page.next_page_token
        if not token:
            break
        assert pages < 100, "pagination does not end"
    assert items == [sp, meeting, note], items

    step("a bad enum value is refused naming its field (ErrorInfo and BadRequest)")
    try:
        admin.RegisterActor(admin_pb2.RegisterActorRequest(call=call(f"bad-{suffix}"), id=f"x-{suffix}",
                                                           role=common_pb2.ROLE_UNSPECIFIED, display_name="X"),
                            metadata=as_admin)
    except grpc.RpcError as error:
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error.code()
        info, bad_request = details(error)
        assert info.reason == "INVALID_FIELD" and info.metadata["field"] == "role", info
        assert bad_request is not None and bad_request.field_violations[0].field == "role", bad_request
    else:
        raise AssertionError("ROLE_UNSPECIFIED was accepted")
    step("every step held")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", required=True, help="host:port of withus serve")
    parser.add_argument("--token", required=True, help="an admin's bearer token")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as out_dir:
        generate(out_dir)
        try:
            story(args.server, args.token)
        except AssertionError as failed:
            print(f"python client: FAILED: {failed}", file=sys.stderr)
            raise SystemExit(1)


if __name__ == "__main__":
    main()
