"""The resources of ``infra/resources.yaml`` created in moto, with what moto's CloudFormation
skips or gets wrong done through the API instead, in one place (:func:`adapt_template_for_moto`).

Used by the local stack (``complaints run``), the tests (in-process ``mock_aws``) and the benchmarks.
"""
from __future__ import annotations

import copy
import functools
import json
import re
import time
from pathlib import Path
from typing import Any, Callable

import yaml

ACCOUNT_ID = "123456789012"  # moto's default account
TEMPLATE = Path(__file__).with_name("resources.yaml")


# -- the template ---------------------------------------------------------------------------------
class _CfnLoader(yaml.SafeLoader):
    """YAML loader that also reads CloudFormation's short forms (``!Ref X``, ``!GetAtt A.B`` ...)."""


def _short_form(loader: Any, suffix: str, node: Any) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {"Ref" if suffix == "Ref" else f"Fn::{suffix}": value}


_CfnLoader.add_multi_constructor("!", _short_form)


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    return yaml.load(path.read_text(encoding="utf-8"), Loader=_CfnLoader)  # nosec B506  # a SafeLoader with !Ref & co


def resolve(value: Any, names: dict[str, str]) -> Any:
    """Resolve ``Ref`` and string ``Fn::Sub`` over parameters and pseudo parameters (nothing else)."""
    if isinstance(value, dict) and len(value) == 1:
        (key, arg), = value.items()
        if key == "Ref" and arg in names:
            return names[arg]
        if key == "Fn::Sub" and isinstance(arg, str):
            return re.sub(r"\$\{([\w:]+)\}", lambda m: str(names.get(m[1], m[0])), arg)
    if isinstance(value, dict):
        return {k: resolve(v, names) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v, names) for v in value]
    return value


def _mentions(value: Any, logical_id: str) -> bool:
    """Whether a template fragment refers to a resource (Ref, GetAtt, Sub or DependsOn)."""
    if isinstance(value, dict):
        if value.get("Ref") == logical_id or (value.get("Fn::GetAtt") or [None])[0] == logical_id:
            return True
        return any(_mentions(v, logical_id) for v in value.values())
    if isinstance(value, list):
        return any(_mentions(v, logical_id) for v in value)
    return isinstance(value, str) and (value == logical_id or f"${{{logical_id}" in value)


FollowUp = Callable[[Callable[[str], Any], dict[str, str]], dict[str, str]]


def adapt_template_for_moto(template: dict[str, Any], names: dict[str, str]) -> tuple[dict[str, Any], list[FollowUp]]:
    """What moto's CloudFormation skips or gets wrong, and what to do instead through the API.

    Returns the template to hand to moto and follow-ups to run once the stack exists, each called
    as ``follow_up(client, physical_ids)`` and returning extra stack outputs:

    * ``AWS::KMS::Key``: moto ``json.loads`` the ``KeyPolicy``, so it gets a JSON string (with the
      pseudo parameters resolved);
    * a KMS key with a ``KeySpec`` (the HMAC look-up key): moto ignores KeySpec and would make a
      symmetric key, so the key leaves the template and is created through the KMS API; outputs
      naming it are filled in from there;
    * ``AWS::SES::ConfigurationSet`` is unknown to moto's CloudFormation: it is created through the SES
      v2 API, and outputs naming it get its name;
    * a bucket's ``CorsConfiguration`` is not applied: it is put through the S3 API (the browser
      form uploads straight to the bucket);
    * a bucket's ``NotificationConfiguration`` is not wired: it is put through the S3 API, whose
      notifications moto does deliver (the inbound-mail bucket -> email intake queue);
    * ``AWS::SQS::QueuePolicy``, ``AWS::S3::BucketPolicy`` and the SES receipt rule set and rule are
      skipped (moto warns): moto enforces no resource policy and never receives mail, so nothing is
      lost; locally the SMTP listener stands in for SES's receipt rule.
    """
    template = copy.deepcopy(template)
    resources, outputs = template["Resources"], template.setdefault("Outputs", {})
    follow_ups: list[FollowUp] = []
    removed: list[str] = []
    for logical_id, resource in list(resources.items()):
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::KMS::Key" and props.get("KeySpec", "SYMMETRIC_DEFAULT") != "SYMMETRIC_DEFAULT":
            del resources[logical_id]
            removed.append(logical_id)
            named = {key: outputs.pop(key)["Value"] for key in list(outputs) if _mentions(outputs[key], logical_id)}
            follow_ups.append(functools.partial(_create_key, props, named))
        elif resource["Type"] == "AWS::KMS::Key" and isinstance(props.get("KeyPolicy"), dict):
            props["KeyPolicy"] = json.dumps(resolve(props["KeyPolicy"], names))
        elif resource["Type"] == "AWS::SES::ConfigurationSet":
            del resources[logical_id]
            removed.append(logical_id)
            named = {key: outputs.pop(key)["Value"] for key in list(outputs) if _mentions(outputs[key], logical_id)}
            follow_ups.append(functools.partial(_create_configuration_set, resolve(props, names), named))
        elif resource["Type"] == "AWS::S3::Bucket":
            if "CorsConfiguration" in props:
                follow_ups.append(functools.partial(_put_bucket_cors, logical_id,
                                                    resolve(props["CorsConfiguration"], names)))
            if "NotificationConfiguration" in props:
                follow_ups.append(functools.partial(_put_bucket_notifications, logical_id,
                                                    props.pop("NotificationConfiguration")))
    for logical_id in removed:
        users = [r for r, res in resources.items() if _mentions(res, logical_id)]
        if users:
            raise NotImplementedError(f"{', '.join(users)} refer(s) to {logical_id}, which moto cannot create "
                                      "from the template; extend adapt_template_for_moto")
    return template, follow_ups


def _create_key(props: dict[str, Any], outputs: dict[str, Any], client: Callable[[str], Any],
                physical: dict[str, str]) -> dict[str, str]:
    meta = client("kms").create_key(Description=props.get("Description", ""), KeySpec=props["KeySpec"],
                                    KeyUsage=props.get("KeyUsage", "ENCRYPT_DECRYPT"))["KeyMetadata"]
    return {key: meta["Arn"] if "Fn::GetAtt" in value else meta["KeyId"] for key, value in outputs.items()}


def _create_configuration_set(props: dict[str, Any], outputs: dict[str, Any], client: Callable[[str], Any],
                              physical: dict[str, str]) -> dict[str, str]:
    """moto's CloudFormation has no SES configuration sets; its SES v2 API has (``Ref`` is the name)."""
    client("sesv2").create_configuration_set(ConfigurationSetName=props["Name"])
    return {key: props["Name"] for key in outputs}


def _put_bucket_cors(logical_id: str, cors: dict[str, Any], client: Callable[[str], Any],
                     physical: dict[str, str]) -> dict[str, str]:
    renamed = {"Id": "ID", "MaxAge": "MaxAgeSeconds"}
    rules = [{renamed.get(k, k): v for k, v in rule.items()} for rule in cors["CorsRules"]]
    client("s3").put_bucket_cors(Bucket=physical[logical_id], CORSConfiguration={"CORSRules": rules})
    return {}


def _put_bucket_notifications(logical_id: str, notifications: dict[str, Any], client: Callable[[str], Any],
                              physical: dict[str, str]) -> dict[str, str]:
    """S3 -> SQS notifications (moto's CloudFormation does not wire them; its S3 API does)."""
    sqs = client("sqs")
    queues = []
    for config in notifications.get("QueueConfigurations", []):
        queue = config["Queue"]
        if isinstance(queue, dict) and "Fn::GetAtt" in queue:
            url = sqs.get_queue_url(QueueName=_queue_name(physical[queue["Fn::GetAtt"][0]]))["QueueUrl"]
            queue = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        entry: dict[str, Any] = {"QueueArn": queue, "Events": [config["Event"]]}
        rules = config.get("Filter", {}).get("S3Key", {}).get("Rules")
        if rules:
            entry["Filter"] = {"Key": {"FilterRules": [{"Name": r["Name"], "Value": r["Value"]} for r in rules]}}
        queues.append(entry)
    client("s3").put_bucket_notification_configuration(
        Bucket=physical[logical_id], NotificationConfiguration={"QueueConfigurations": queues})
    return {}


def _queue_name(physical_id: str) -> str:
    return physical_id.rstrip("/").rsplit("/", 1)[-1]


# -- the resources --------------------------------------------------------------------------------
def create_resources(client: Callable[[str], Any], stage: str, region: str) -> dict[str, str]:
    """Create the stack in moto and return its outputs, completed by the follow-ups."""
    stack_name = f"complaints-{stage}"
    template = load_template()
    parameters = {name: str(spec["Default"]) for name, spec in template.get("Parameters", {}).items()
                  if "Default" in spec}
    parameters.update({"Stage": stage} if "Stage" in template.get("Parameters", {}) else {})
    names = {**parameters, "AWS::AccountId": ACCOUNT_ID, "AWS::Partition": "aws", "AWS::Region": region,
             "AWS::StackName": stack_name, "AWS::URLSuffix": "amazonaws.com"}
    body, follow_ups = adapt_template_for_moto(template, names)

    cfn = client("cloudformation")
    cfn.create_stack(StackName=stack_name, TemplateBody=json.dumps(body),
                     Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()])
    stack = _wait_for_stack(cfn, stack_name)
    physical = {r.get("LogicalResourceId"): r.get("PhysicalResourceId")  # blank for what moto skipped
                for r in cfn.describe_stack_resources(StackName=stack_name)["StackResources"]}
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    for follow_up in follow_ups:
        outputs.update(follow_up(client, physical))
    return {key: _local_queue_url(client, value) for key, value in outputs.items()}


def _wait_for_stack(cfn: Any, stack_name: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        stack = cfn.describe_stacks(StackName=stack_name)["Stacks"][0]
        if not stack["StackStatus"].endswith("_IN_PROGRESS"):
            break
        if time.monotonic() > deadline:
            raise TimeoutError(f"stack {stack_name} still {stack['StackStatus']} after {timeout:.0f} s")
        time.sleep(0.2)
    if stack["StackStatus"] != "CREATE_COMPLETE":
        raise RuntimeError(f"stack {stack_name}: {stack['StackStatus']} {stack.get('StackStatusReason', '')}")
    return stack


def _local_queue_url(client: Callable[[str], Any], value: str) -> str:
    """moto's CloudFormation names queues by their AWS URL; ask the endpoint for the local one."""
    match = re.fullmatch(r"https://sqs\.[^/]+/\d{12}/([\w.-]+)", value)
    return client("sqs").get_queue_url(QueueName=match[1])["QueueUrl"] if match else value


def env_name(output_key: str) -> str:
    """Stack output to environment variable: ``PiiKeyId`` -> ``PII_KEY_ID`` (what shared.config reads)."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", output_key).upper()


def environment(outputs: dict[str, str]) -> dict[str, str]:
    """The functions' environment for these resources, as the deployed template sets it."""
    return {env_name(k): v for k, v in outputs.items()}


def boto3_clients(region: str = "us-east-1") -> Callable[[str], Any]:
    import boto3

    session = boto3.session.Session(region_name=region)
    return lambda service: session.client(service, region_name=region)


# moto's DynamoDB backend is not thread-safe: a transaction deep-copies the table to roll back, and a
# write from another thread meanwhile fails it ("dictionary changed size during iteration"), or lands
# between its condition checks and its writes. DynamoDB's transactions are atomic and isolated; one
# lock around the backend's calls makes moto behave so under the threaded server.
DYNAMODB_BACKEND_CALLS = ("get_item", "put_item", "update_item", "delete_item", "query", "scan",
                          "batch_get_item", "transact_write_items", "transact_get_items")


def serialize_dynamodb(setattr_: Any = setattr) -> None:
    """Serialize moto's DynamoDB backend calls (``setattr_``: e.g. pytest's ``monkeypatch.setattr``,
    so a test undoes it). Idempotent."""
    import functools
    import threading

    from moto.dynamodb.models import DynamoDBBackend

    lock = threading.RLock()  # re-entrant: a transaction calls the backend's own get/put/update
    for name in DYNAMODB_BACKEND_CALLS:
        original = getattr(DynamoDBBackend, name, None)
        if original is None or getattr(original, "_serialized", False):
            continue

        def wrap(original: Any) -> Any:
            @functools.wraps(original)
            def call_alone(self: Any, *args: Any, **kwargs: Any) -> Any:
                with lock:
                    return original(self, *args, **kwargs)

            call_alone._serialized = True  # type: ignore[attr-defined]
            return call_alone

        setattr_(DynamoDBBackend, name, wrap(original))


def faster_moto(setattr_: Any = setattr) -> None:
    """Make moto's DynamoDB fast enough for a day of traffic (``setattr_``: pytest's
    ``monkeypatch.setattr`` in tests, so they undo it): only the speed changes, never an answer. Apply
    before :func:`serialize_dynamodb`, whose lock then covers the transaction bookkeeping too."""
    from infra import moto_index

    _faster_moto_queries(setattr_)
    moto_index.install(setattr_)  # a Query reads its partition / index key, not the whole table
    _cheaper_moto_transactions(setattr_)
    _cached_moto_modules(setattr_)
    _bounded_moto_streams(setattr_)
    _untracked_moto_models(setattr_)
    _cheaper_moto_sends(setattr_)
    _cached_event_paths(setattr_)


_QUEUE_COUNTS = ("ApproximateNumberOfMessages", "ApproximateNumberOfMessagesDelayed",
                 "ApproximateNumberOfMessagesNotVisible")


def _cheaper_moto_sends(setattr_: Any) -> None:
    """moto's SendMessage reads one queue attribute (``ContentBasedDeduplication``) from the whole
    attribute set, whose three message counts each check every message in the queue: a send cost
    O(backlog); ReceiveMessage reads ``MessageRetentionPeriod`` that way *for each message* it looks
    at: O(backlog²); GetQueueAttributes builds the whole set three times per name asked (nine times
    for a depth reading of three counts: 27 passes over the queue). A load test's backlog of
    thousands made half of moto's time. Here, while a message is sent or received, the attribute set
    leaves the counts out (neither reads them); otherwise the three counts come from one pass over the
    messages, at one instant, and GetQueueAttributes builds the set once per queue. Same answers."""
    import json
    import threading

    from moto.core.utils import camelcase_to_underscores, unix_time_millis
    from moto.sqs.models import Queue, SQSBackend

    if getattr(SQSBackend.send_message, "_cheaper", False):
        return
    sending = threading.local()  # depth: inside a send/receive; built: the sets of this GetQueueAttributes

    def counts(queue: Any) -> dict[str, int]:
        """moto's three counts (visible and not delayed / not visible / delayed), in one pass."""
        now, visible, in_flight, delayed = unix_time_millis(), 0, 0, 0
        for message in queue._messages:
            is_visible, is_delayed = now > message.visible_at, now < message.delayed_until
            visible += is_visible and not is_delayed
            in_flight += not is_visible
            delayed += is_delayed
        return {"ApproximateNumberOfMessages": visible, "ApproximateNumberOfMessagesNotVisible": in_flight,
                "ApproximateNumberOfMessagesDelayed": delayed}

    def build(self: Any) -> dict[str, Any]:
        counted = None if getattr(sending, "depth", 0) else counts(self)
        names = list(self.BASE_ATTRIBUTES) + (self.FIFO_ATTRIBUTES if self.fifo_queue else [])
        names += self.KMS_ATTRIBUTES if self.kms_master_key_id else []
        result = {}
        for a in names:  # moto's property, its counts counted once (or left out while sending)
            if a in _QUEUE_COUNTS:
                if counted is not None:
                    result[a] = counted[a]
            else:
                result[a] = getattr(self, camelcase_to_underscores(a))
        if self.policy:
            result["Policy"] = self.policy
        if self.redrive_policy:
            result["RedrivePolicy"] = json.dumps(self.redrive_policy)
        return {k: str(v).lower() if isinstance(v, bool) else v for k, v in result.items()}

    def attributes(self: Any) -> dict[str, Any]:
        built = getattr(sending, "built", None)
        if built is None:
            return build(self)
        if id(self) not in built:
            built[id(self)] = build(self)
        return built[id(self)]

    def without_counts(call: Any) -> Any:
        def cheaper(self: Any, *args: Any, **kwargs: Any) -> Any:
            sending.depth = getattr(sending, "depth", 0) + 1
            try:
                return call(self, *args, **kwargs)
            finally:
                sending.depth -= 1

        cheaper._cheaper = True  # type: ignore[attr-defined]
        return cheaper

    def built_once(call: Any) -> Any:
        def cheaper(self: Any, *args: Any, **kwargs: Any) -> Any:
            sending.built = {}
            try:
                return call(self, *args, **kwargs)
            finally:
                sending.built = None

        return cheaper

    setattr_(Queue, "attributes", property(attributes))
    setattr_(SQSBackend, "send_message", without_counts(SQSBackend.send_message))
    setattr_(SQSBackend, "receive_message", without_counts(SQSBackend.receive_message))
    setattr_(SQSBackend, "get_queue_attributes", built_once(SQSBackend.get_queue_attributes))


def _cached_event_paths(setattr_: Any) -> None:
    """moto's EventBridge shapes every event for every target through eight JSONPath expressions,
    each parsed anew - by a parser it builds anew (ply's yacc) - at every PutEvents: ~1/8 of a busy
    local stack's moto time. The expressions are the same few strings: parse each once."""
    import functools

    from jsonpath_ng import ext

    if getattr(ext.parse, "_cached", False):
        return
    cached = functools.lru_cache(maxsize=256)(ext.parse)
    cached._cached = True  # type: ignore[attr-defined]
    setattr_(ext, "parse", cached)


# services whose model objects are made by the thousand (an item per write, a record per message):
# moto's registry of every model instance ever made would keep each of them alive
UNTRACKED_MODULES = ("moto.dynamodb.", "moto.sqs.", "moto.ses.", "moto.sesv2.", "moto.events.", "moto.kms.",
                     "moto.sns.")


def _untracked_moto_models(setattr_: Any) -> None:
    """moto's ``BaseModel.__new__`` appends every model instance to a class list, only ever cleared by
    a reset (which the local stack never does): every DynamoDB ``Item`` a write replaced, every stream
    record, every transaction's table snapshot stayed in memory. A 10,000-complaint load test grew moto
    by ~2 MB a complaint until the kernel killed it. Instances of the busy services are no longer
    listed (the list's only readers: a reset, which empties it, and moto's ``/moto-api/data.json``
    dump); S3's stay listed, a reset closes their files through it."""
    from moto.core.common_models import BaseModel

    if getattr(BaseModel.__new__, "_untracked", False):
        return
    tracked = BaseModel.__new__

    def __new__(cls: type, *args: Any, **kwargs: Any) -> Any:
        if cls.__module__.startswith(UNTRACKED_MODULES):
            return super(BaseModel, cls).__new__(cls)
        return tracked(cls, *args, **kwargs)

    __new__._untracked = True  # type: ignore[attr-defined]
    setattr_(BaseModel, "__new__", staticmethod(__new__))


STREAM_RECORDS_KEPT = 1_000


def _bounded_moto_streams(setattr_: Any) -> None:
    """moto keeps every record of a table's stream for ever (DynamoDB: 24 hours), each holding copies of
    the item before and after: a 10,000-complaint load test grew moto past 20 GB and the kernel killed
    it. Locally nothing reads the stream but a curious CLI user: the last ``STREAM_RECORDS_KEPT`` records
    stay readable, with their sequence numbers, and older ones go as if their 24 hours had passed."""
    from moto.dynamodb.models.table import StreamShard

    if getattr(StreamShard.add, "_bounded", False):
        return
    original = StreamShard.add

    def add(self: Any, old: Any, new: Any) -> None:
        original(self, old, new)
        excess = len(self.items) - STREAM_RECORDS_KEPT  # read at each write: a test lowers it
        if excess > 0:
            del self.items[:excess]
            self.starting_sequence_number += excess

    add._bounded = True  # type: ignore[attr-defined]
    setattr_(StreamShard, "add", add)


def _cached_moto_modules(setattr_: Any) -> None:
    """moto's server finds the backend of every request by listing its own package folder and checking
    each entry on disk (``list_of_moto_modules``): about 30% of a busy local stack's moto time. The
    folder does not change while it runs: list it once."""
    from moto import backends

    if getattr(backends.list_of_moto_modules, "_cached", False):
        return
    modules = tuple(backends.list_of_moto_modules())

    def list_of_moto_modules() -> tuple[str, ...]:
        return modules

    list_of_moto_modules._cached = True  # type: ignore[attr-defined]
    setattr_(backends, "list_of_moto_modules", list_of_moto_modules)


def _faster_moto_queries(setattr_: Any) -> None:
    """moto answers every Query on an index by sorting *all* the table's items, comparing them as
    DynamoType objects (each comparison re-casts both values), and a day makes ~1,800 queries (the
    sweep's four shards and the outbox, every step). The table's keys are strings, so sorting by their
    plain values gives the same order, many times faster. Only the speed changes."""
    from moto.dynamodb.models.table import Table

    original = Table.all_items

    def all_items(self):
        if (self.hash_key_type, self.range_key_type) != ("S", "S"):
            return original(self)
        items = [item for by_range in self.items.values() for item in by_range.values()]
        return sorted(items, key=lambda i: (i.hash_key.value, i.range_key.value))

    setattr_(Table, "all_items", all_items)


def _cheaper_moto_transactions(setattr_: Any) -> None:
    """moto rolls a failed TransactWriteItems back by deep-copying the *whole* table before it - once
    per operation of the transaction - and putting the copy in the live table's place. On a load
    test's table of ~100,000 items even a shallow copy of the partition map at every transaction was
    a third of moto's time. The same rollback needs only the items the transaction writes: here moto's
    "copy" is the live table itself (so its rollback changes nothing), the written items are saved
    before any operation runs (deep copies: an update changes its item in place) and, if the
    transaction fails, put back where they were - or removed if they did not exist - and the index
    map of :mod:`infra.moto_index` is told. A cancelled transaction still leaves nothing behind (the
    inbox guards, the version checks and the load counters rely on it)."""
    import copy

    from moto.dynamodb import models as dynamodb
    from moto.dynamodb.models.dynamo_type import DynamoType
    from moto.dynamodb.models.table import Table

    from infra import moto_index

    written: dict[str, list[tuple[Any, Any]]] = {}  # table -> keys the running transaction writes
    saved: dict[str, tuple[Table, dict[tuple[Any, Any], Any]]] = {}  # table -> (it, key -> item or None)

    def snapshot(table: Table) -> Table:
        keys = written.get(table.name)
        if keys is None:
            return copy.deepcopy(table)  # a table we cannot key: moto's own full copy
        if table.name not in saved:
            before = {}
            for h, r in keys:
                item = table.items.get(h, {}).get(r)
                before[(h, r)] = None if item is None else copy.deepcopy(item)
            saved[table.name] = (table, before)
        return table

    def roll_back() -> None:
        for table, before in saved.values():
            for (h, r), item in before.items():
                if item is None:
                    partition = table.items.get(h)
                    if partition is not None:
                        partition.pop(r, None)
                        if not partition:
                            del table.items[h]
                else:
                    table.items[h][r] = item
                moto_index.touch(table, h, r)

    class CopyModule:  # what moto.dynamodb.models sees as ``copy``
        def __getattr__(self, name: str) -> Any:
            return getattr(copy, name)

        @staticmethod
        def deepcopy(obj: Any, memo: Any = None) -> Any:
            return snapshot(obj) if isinstance(obj, Table) else copy.deepcopy(obj, memo)

    original = dynamodb.DynamoDBBackend.transact_write_items

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        written.clear()
        saved.clear()
        try:
            for entry in transact_items:
                op = next(iter(entry.values()))
                table = self.tables.get(op.get("TableName"))
                key = op.get("Item") or op.get("Key") or {}
                names = (table.hash_key_attr, table.range_key_attr) if table is not None else ()
                if table is not None and table.range_key_attr and set(names) <= set(key):
                    written.setdefault(table.name, []).append(tuple(DynamoType(key[n]) for n in names))
        except Exception:  # noqa: BLE001 - malformed: moto reports it, with its full copy
            written.clear()
        try:
            return original(self, transact_items)
        except BaseException:
            roll_back()  # all or nothing, whichever way it failed
            raise
        finally:
            written.clear()
            saved.clear()

    setattr_(dynamodb, "copy", CopyModule())
    setattr_(dynamodb.DynamoDBBackend, "transact_write_items", transact_write_items)


def forget_cached_services() -> None:
    """Every per-container cache holds clients of the previous moto: drop them all (tests, benches)."""
    import importlib

    from shared import store

    store.reset()
    for module, factory in (("functions.intake.api", "intake"), ("functions.intake.mail_handler", "email_intake"),
                            ("functions.notifier.handlers", "notifier"),
                            ("functions.notifier.handlers", "staff_alerts")):
        try:
            getattr(importlib.import_module(module), factory).cache_clear()
        except (ImportError, AttributeError):
            pass
    try:
        from functions.notifier import pacing

        pacing.reset()
    except ImportError:
        pass
