"""Suite files: the default suite loads; bad items are reported with file, line and item id."""

from __future__ import annotations

import json

import pytest

from eval import DEFAULT_SUITE
from eval.suite import Item, SuiteError, document_matches, load_suite, parse_shard, write_drafts


def test_default_suite_loads():
    suite = load_suite(DEFAULT_SUITE)
    assert len(suite.items) == 59
    assert sum(not i.answerable for i in suite.items) == 14
    assert all(len(i.documents) >= 2 for i in suite.items if i.multi_document)
    assert any(i.history for i in suite.items)
    assert len(suite.hash) == 16 and suite.hash == load_suite("default").hash


def test_yaml_errors_name_file_line_and_item(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text(
        "- id: ok1\n  question: Fine?\n  answerable: true\n  facts: ['\\b1\\b']\n"
        "- id: re1\n  question: Bad regex?\n  answerable: true\n  facts: ['(unclosed']\n"
        "- id: un1\n  question: Unanswerable with facts?\n  answerable: false\n  facts: ['x']\n"
        "- id: md1\n  question: Multi?\n  answerable: true\n  facts: [a]\n  documents: [one.txt]\n  tags: [multi-document]\n"
        "- id: ok1\n  question: Duplicate?\n  answerable: true\n  facts: [a]\n"
        "- question: No id?\n  answerable: yes please\n  colour: red\n")
    with pytest.raises(SuiteError) as e:
        load_suite(p)
    msg = str(e.value)
    assert "5 invalid item(s)" in msg
    assert f"{p}:line 5: item re1: facts[0] '(unclosed' is not a valid regex" in msg
    assert "item un1: an unanswerable item has no facts and no documents" in msg
    assert "item md1: an item tagged multi-document lists at least two documents" in msg
    assert "item ok1: duplicate id (first at line 1)" in msg
    assert "item #6: missing id" in msg and "unknown key colour" in msg and "answerable must be true or false" in msg


def test_jsonl_suite_and_its_errors(tmp_path):
    good = tmp_path / "s.jsonl"
    good.write_text(json.dumps({"id": "a", "question": "Q?", "answerable": False}) + "\n# comment\n\n"
                    + json.dumps({"id": "b", "question": "R?", "answerable": True, "facts": ["x"],
                                  "history": [{"role": "user", "content": "hi"}]}) + "\n")
    suite = load_suite(good)
    assert [i.id for i in suite.items] == ["a", "b"] and suite.items[1].history[0]["content"] == "hi"
    bad = tmp_path / "b.jsonl"
    bad.write_text(json.dumps({"id": "a", "question": "Q?", "answerable": True}) + "\n{not json\n")
    with pytest.raises(SuiteError, match=r"b.jsonl:2: not valid JSON"):
        load_suite(bad)
    hist = tmp_path / "h.jsonl"
    hist.write_text(json.dumps({"id": "h", "question": "Q?", "answerable": True, "history": [{"role": "bot"}]}))
    with pytest.raises(SuiteError, match=r"item h: history must be"):
        load_suite(hist)


def test_missing_and_empty_suite(tmp_path):
    with pytest.raises(SuiteError, match="No suite at nowhere.yaml"):
        load_suite("nowhere.yaml")
    empty = tmp_path / "e.yaml"
    empty.write_text("# nothing\n")
    with pytest.raises(SuiteError, match="has no items"):
        load_suite(empty)


def test_warning_for_answerable_item_without_facts(tmp_path):
    p = tmp_path / "w.yaml"
    p.write_text("- id: w\n  question: Q?\n  answerable: true\n")
    suite = load_suite(p)
    assert len(suite.warnings) == 1 and "item w: answerable but no facts" in suite.warnings[0]


def test_select_by_id_tag_limit():
    suite = load_suite(DEFAULT_SUITE)
    assert [i.id for i in suite.select(ids=("q002", "q001")).items] == ["q001", "q002"]
    assert all("follow-up" in i.tags for i in suite.select(tags=("follow-up",)).items)
    assert len(suite.select(limit=3).items) == 3
    with pytest.raises(SuiteError, match="no item with id q999"):
        suite.select(ids=("q999",))


def test_shards_split_a_half_into_fixed_parts_each_with_refusals(tmp_path):
    p = tmp_path / "s.jsonl"
    p.write_text("".join(json.dumps({"id": f"i{n}", "question": f"Q{n}?", "answerable": n % 4 != 0,
                                     **({"facts": ["x"]} if n % 4 else {})}) + "\n" for n in range(44)))
    suite = load_suite(p)
    test = suite.select(half="test")
    parts = [test.select(shard=(k, 3)) for k in (1, 2, 3)]
    ids = [[i.id for i in part.items] for part in parts]
    # the parts cover the half, share nothing, keep the suite's order and are of near-equal size
    assert sorted(sum(ids, [])) == sorted(i.id for i in test.items) and len(set(sum(ids, []))) == len(test.items)
    assert all(x == sorted(x, key=lambda i: int(i[1:])) for x in ids)
    assert max(map(len, ids)) - min(map(len, ids)) <= 2
    for kind in (True, False):  # answerable and unanswerable items dealt separately: as many of each
        counts = [sum(i.answerable is kind for i in part.items) for part in parts]
        assert min(counts) >= 1 and max(counts) - min(counts) <= 1, (kind, counts)
    # fixed by the ids: the same part from the whole suite, read again
    assert [i.id for i in load_suite(p).select(half="test", shard=(2, 3)).items] == ids[1]
    assert parse_shard("1/2") == (1, 2) and parse_shard(" 3 / 3 ") == (3, 3)
    for bad in ("0/2", "3/2", "half", ""):
        with pytest.raises(SuiteError, match="write K/N"):
            parse_shard(bad)


def test_document_matching():
    assert document_matches("docs_raw/a.txt", "docs_raw/a.txt")
    assert document_matches("docs_raw/a.txt", "/abs/path/docs_raw/a.txt")
    assert document_matches("docs_raw/a.txt", "elsewhere/a.txt")  # same file name
    assert not document_matches("docs_raw/a.txt", "docs_raw/b.txt")


def test_drafts_never_overwrite(tmp_path):
    items = [Item(id="d1", question="Q?", answerable=True, facts=("x",), documents=("docs_raw/a.txt",),
                  tags=("draft",), notes="check")]
    first = write_drafts(items, "drafts", tmp_path)
    second = write_drafts(items, "drafts", tmp_path)
    assert first != second and first.name.startswith("drafts-") and second.stem.endswith("-2")
    assert load_suite(second).items[0].notes == "check"
    assert first.read_text().startswith("# Drafted items for review")
