"""A scripted stand-in broker for the consumer-group admin tools.

It answers ApiVersions, Metadata, FindCoordinator, ListGroups, DescribeGroups,
OffsetFetch, OffsetCommit, ListOffsets, DeleteGroups and OffsetDelete from a
fixed, test-chosen state (groups, members, committed offsets, log ends), with
every message encoded and decoded by kafka-python's protocol classes (generated
from Kafka's own JSON message schemas): an implementation independent of the
`kafka-protocol` crate that `rill` uses.

It exists so that `kafka-consumer-groups.sh` can be checked end to end, output
included, before the rill broker serves consumer groups; the same checks then
run against the real broker in test_cli.py.
"""

import socket
import struct
import threading

from kafka.protocol.admin.groups import (DeleteGroupsRequest, DeleteGroupsResponse,
                                         DescribeGroupsRequest, DescribeGroupsResponse,
                                         ListGroupsRequest, ListGroupsResponse)
from kafka.protocol.consumer.group import (OffsetCommitRequest, OffsetCommitResponse,
                                           OffsetDeleteRequest, OffsetDeleteResponse,
                                           OffsetFetchRequest, OffsetFetchResponse)
from kafka.protocol.consumer.offsets import ListOffsetsRequest, ListOffsetsResponse
from kafka.protocol.metadata.api_versions import ApiVersionsRequest, ApiVersionsResponse
from kafka.protocol.metadata.find_coordinator import (FindCoordinatorRequest,
                                                      FindCoordinatorResponse)
from kafka.protocol.metadata.metadata import MetadataRequest, MetadataResponse

NODE_ID = 1
NON_EMPTY_GROUP, GROUP_ID_NOT_FOUND, GROUP_SUBSCRIBED_TO_TOPIC = 68, 69, 86
UNKNOWN_TOPIC_OR_PARTITION = 3

# api key -> (request class, response class, highest version served)
APIS = {
    18: (ApiVersionsRequest, ApiVersionsResponse, 3),
    3: (MetadataRequest, MetadataResponse, 12),
    10: (FindCoordinatorRequest, FindCoordinatorResponse, 3),
    16: (ListGroupsRequest, ListGroupsResponse, 4),
    15: (DescribeGroupsRequest, DescribeGroupsResponse, 5),
    9: (OffsetFetchRequest, OffsetFetchResponse, 7),
    8: (OffsetCommitRequest, OffsetCommitResponse, 8),
    2: (ListOffsetsRequest, ListOffsetsResponse, 7),
    42: (DeleteGroupsRequest, DeleteGroupsResponse, 2),
    47: (OffsetDeleteRequest, OffsetDeleteResponse, 0),
}


def consumer_assignment(partitions):
    """ConsumerProtocolAssignment v0 bytes for [(topic, partition), ...]."""
    by_topic = {}
    for t, p in partitions:
        by_topic.setdefault(t, []).append(p)
    out = struct.pack(">hi", 0, len(by_topic))
    for t, ps in by_topic.items():
        out += struct.pack(">h", len(t)) + t.encode() + struct.pack(">i", len(ps))
        out += b"".join(struct.pack(">i", p) for p in ps)
    return out + struct.pack(">i", -1)


class Group:
    def __init__(self, state="Empty", protocol="range", members=(), offsets=None):
        self.state = state
        self.protocol = protocol
        # members: dicts with member_id, client_id, client_host, assignment [(t, p)]
        self.members = list(members)
        self.offsets = dict(offsets or {})  # (topic, partition) -> offset


class FakeGroupBroker:
    def __init__(self, topics, groups):
        """topics: {name: [log end offset per partition]}; groups: {id: Group}."""
        self.topics = topics
        self.groups = groups
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.bootstrap = f"127.0.0.1:{self.port}"
        self.lock = threading.Lock()
        self.requests = []  # (api key, version) seen, for assertions
        self._stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self):
        self._stop = True
        self.sock.close()

    # ------------------------------------------------------------------ plumbing
    def _accept(self):
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    @staticmethod
    def _read(conn, n):
        buf = b""
        while len(buf) < n:
            chunk = conn.recv(n - len(buf))
            if not chunk:
                raise EOFError
            buf += chunk
        return buf

    def _serve(self, conn):
        try:
            while True:
                (size,) = struct.unpack(">i", self._read(conn, 4))
                frame = self._read(conn, size)
                key, version, correlation = struct.unpack(">hhi", frame[:8])
                with self.lock:
                    self.requests.append((key, version))
                    reply = self._answer(key, version, correlation, frame)
                if reply is None:
                    return
                conn.sendall(reply)
        except (EOFError, OSError):
            pass
        finally:
            conn.close()

    def _answer(self, key, version, correlation, frame):
        if key not in APIS:
            return None
        req_cls, resp_cls, top = APIS[key]
        if version > top:
            if key == 18:  # Kafka answers an unknown ApiVersions version in v0 form
                return self._encode(ApiVersionsResponse(version=0, error_code=35,
                                                        api_keys=self._api_keys()), correlation)
            return None
        request = req_cls.decode(frame, version=version, header=True)
        handler = getattr(self, f"_on_{req_cls.__name__}")
        return self._encode(handler(request, version, resp_cls), correlation)

    @staticmethod
    def _encode(response, correlation):
        response.with_header(correlation_id=correlation)
        return bytes(response.encode(header=True, framed=True))

    def _api_keys(self):
        A = ApiVersionsResponse.ApiVersion
        return [A(version=0, api_key=k, min_version=0, max_version=v[2]) for k, v in APIS.items()]

    # ------------------------------------------------------------------ handlers
    def _on_ApiVersionsRequest(self, req, v, R):
        return R(version=v, error_code=0, api_keys=[
            R.ApiVersion(version=v, api_key=k, min_version=0, max_version=x[2])
            for k, x in APIS.items()])

    def _on_MetadataRequest(self, req, v, R):
        names = list(self.topics) if req.topics is None else [t.name for t in req.topics]
        topics = []
        for name in names:
            ends = self.topics.get(name)
            parts = [] if ends is None else [
                R.MetadataResponseTopic.MetadataResponsePartition(
                    version=v, error_code=0, partition_index=i, leader_id=NODE_ID, leader_epoch=0,
                    replica_nodes=[NODE_ID], isr_nodes=[NODE_ID], offline_replicas=[])
                for i in range(len(ends))]
            topics.append(R.MetadataResponseTopic(
                version=v, error_code=0 if ends is not None else UNKNOWN_TOPIC_OR_PARTITION,
                name=name, is_internal=False, partitions=parts))
        return R(version=v, brokers=[R.MetadataResponseBroker(
            version=v, node_id=NODE_ID, host="127.0.0.1", port=self.port, rack=None)],
                 cluster_id="fake", controller_id=NODE_ID, topics=topics)

    def _on_FindCoordinatorRequest(self, req, v, R):
        return R(version=v, error_code=0, error_message=None, node_id=NODE_ID,
                 host="127.0.0.1", port=self.port)

    def _on_ListGroupsRequest(self, req, v, R):
        return R(version=v, error_code=0, groups=[
            R.ListedGroup(version=v, group_id=g, protocol_type="consumer", group_state=x.state)
            for g, x in self.groups.items()])

    def _on_DescribeGroupsRequest(self, req, v, R):
        out = []
        for gid in req.groups:
            g = self.groups.get(gid)
            if g is None:
                out.append(R.DescribedGroup(version=v, error_code=0, group_id=gid, group_state="Dead",
                                            protocol_type="", protocol_data="", members=[]))
                continue
            M = R.DescribedGroup.DescribedGroupMember
            out.append(R.DescribedGroup(
                version=v, error_code=0, group_id=gid, group_state=g.state,
                protocol_type="consumer", protocol_data=g.protocol if g.members else "",
                members=[M(version=v, member_id=m["member_id"], group_instance_id=None,
                           client_id=m["client_id"], client_host=m["client_host"],
                           member_metadata=b"",
                           member_assignment=consumer_assignment(m["assignment"]))
                         for m in g.members]))
        return R(version=v, groups=out)

    def _on_OffsetFetchRequest(self, req, v, R):
        g = self.groups.get(req.group_id)
        offsets = g.offsets if g else {}
        if req.topics is not None:
            wanted = {(t.name, p) for t in req.topics for p in t.partition_indexes}
            offsets = {tp: o for tp, o in offsets.items() if tp in wanted}
        by_topic = {}
        for (t, p), o in sorted(offsets.items()):
            by_topic.setdefault(t, []).append(
                R.OffsetFetchResponseTopic.OffsetFetchResponsePartition(
                    version=v, partition_index=p, committed_offset=o, committed_leader_epoch=-1,
                    metadata="", error_code=0))
        return R(version=v, error_code=0, topics=[
            R.OffsetFetchResponseTopic(version=v, name=t, partitions=ps) for t, ps in by_topic.items()])

    def _on_OffsetCommitRequest(self, req, v, R):
        g = self.groups.setdefault(req.group_id, Group())
        code = NON_EMPTY_GROUP if g.members and req.generation_id_or_member_epoch < 0 else 0
        topics = []
        for t in req.topics:
            parts = []
            for p in t.partitions:
                if code == 0:
                    g.offsets[(t.name, p.partition_index)] = p.committed_offset
                parts.append(R.OffsetCommitResponseTopic.OffsetCommitResponsePartition(
                    version=v, partition_index=p.partition_index, error_code=code))
            topics.append(R.OffsetCommitResponseTopic(version=v, name=t.name, partitions=parts))
        return R(version=v, topics=topics)

    def _on_ListOffsetsRequest(self, req, v, R):
        topics = []
        for t in req.topics:
            parts = []
            for p in t.partitions:
                end = self.topics[t.name][p.partition_index]
                offset = 0 if p.timestamp == -2 else end
                parts.append(R.ListOffsetsTopicResponse.ListOffsetsPartitionResponse(
                    version=v, partition_index=p.partition_index, error_code=0, timestamp=-1,
                    offset=offset, leader_epoch=0))
            topics.append(R.ListOffsetsTopicResponse(version=v, name=t.name, partitions=parts))
        return R(version=v, topics=topics)

    def _on_DeleteGroupsRequest(self, req, v, R):
        results = []
        for gid in req.groups_names:
            g = self.groups.get(gid)
            if g is None:
                code = GROUP_ID_NOT_FOUND
            elif g.members:
                code = NON_EMPTY_GROUP
            else:
                code = 0
                del self.groups[gid]
            results.append(R.DeletableGroupResult(version=v, group_id=gid, error_code=code))
        return R(version=v, results=results)

    def _on_OffsetDeleteRequest(self, req, v, R):
        g = self.groups.get(req.group_id)
        if g is None:
            return R(version=v, error_code=GROUP_ID_NOT_FOUND, topics=[])
        subscribed = {t for m in g.members for (t, _) in m["assignment"]}
        topics = []
        for t in req.topics:
            parts = []
            for p in t.partitions:
                code = GROUP_SUBSCRIBED_TO_TOPIC if t.name in subscribed else 0
                if code == 0:
                    g.offsets.pop((t.name, p.partition_index), None)
                parts.append(R.OffsetDeleteResponseTopic.OffsetDeleteResponsePartition(
                    version=v, partition_index=p.partition_index, error_code=code))
            topics.append(R.OffsetDeleteResponseTopic(version=v, name=t.name, partitions=parts))
        return R(version=v, error_code=0, topics=topics)
