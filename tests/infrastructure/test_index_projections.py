"""The table's index projections: the list indexes hold only small attributes, and the readers' idea of
what each index holds (``shared.index_reads.PROJECTED``) is the template's."""
from __future__ import annotations

from infra import package
from shared.index_reads import PROJECTED

# the case's large or often rewritten attributes: an index holding one of them is rewritten with the case
NEVER_PROJECTED = {"description", "title", "classification", "customer_enc", "contact_hashes",
                   "tracking_token_hashes", "clocks", "routing", "plan", "version", "updated_at", "attachments"}


def indexes() -> dict[str, dict]:
    table = package.load_yaml(package.RESOURCES)["Resources"]["ComplaintsTable"]["Properties"]
    return {g["IndexName"]: g for g in table["GlobalSecondaryIndexes"]}


def test_the_list_indexes_project_only_what_their_readers_filter_on():
    found = indexes()
    for name, attributes in PROJECTED.items():
        projection = found[name]["Projection"]
        assert projection["ProjectionType"] == "INCLUDE", name
        assert set(projection["NonKeyAttributes"]) == attributes, name
        assert not attributes & NEVER_PROJECTED, name


def test_no_index_of_the_case_copies_the_whole_item():
    # the audit indexes hold records written once and never changed (one unit each whatever the projection)
    whole = {name for name, g in indexes().items() if g["Projection"]["ProjectionType"] == "ALL"}
    assert whole <= {"AuditByActor", "AuditByDay"}
