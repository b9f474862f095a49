"""The region catalog loader: the shipped catalog, and every kind of bad input."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml

from regions.catalog import CATALOG_DIR, CatalogError, load_catalog
from regions.instance_types import INSTANCE_TYPES


def test_shipped_catalog_has_six_regions_four_jurisdictions_and_one_primary() -> None:
    catalog = load_catalog()
    assert catalog.names == (
        "ap-northeast-1",
        "ap-southeast-1",
        "eu-central-1",
        "eu-west-1",
        "us-east-1",
        "us-west-2",
    )
    assert catalog.jurisdictions == ("EU", "JP", "SG", "US")
    assert catalog.primary.region == "us-east-1"
    assert sum(r.demand_share for r in catalog) == pytest.approx(1.0)


def test_shipped_candidates_respect_what_each_region_offers() -> None:
    # figures.md 3.2: Singapore has no g5/g6/g6e; Ireland has no g6/g6e.
    families = {
        r.region: {INSTANCE_TYPES[t].family for t in r.gpu_candidates} for r in load_catalog()
    }
    assert families["ap-southeast-1"] == {"g4dn"}
    assert not families["eu-west-1"] & {"g6", "g6e"}


@pytest.fixture
def catalog_dir(tmp_path: Path) -> Path:
    for f in CATALOG_DIR.glob("*.yaml"):
        shutil.copy(f, tmp_path / f.name)
    return tmp_path


def _edit(directory: Path, file_region: str, changes: dict[str, object]) -> None:
    path = directory / f"{file_region}.yaml"
    doc = yaml.safe_load(path.read_text())
    for key, value in changes.items():
        if value is _DELETE:
            del doc[key]
        else:
            doc[key] = value
    path.write_text(yaml.safe_dump(doc))


_DELETE = object()

# (region file, changes, expected message fragment). Each case breaks exactly one thing.
BAD_INPUTS: list[tuple[str, dict[str, object], str]] = [
    ("eu-west-1", {"colour": "blue"}, "eu-west-1.yaml: field 'colour': expected no such field"),
    ("eu-west-1", {"jurisdiction": _DELETE}, "field 'jurisdiction': expected a value (one of"),
    ("eu-west-1", {"region": _DELETE}, "field 'region': expected a value"),
    (
        "eu-west-1",
        {"region": 42},
        "field 'region': expected an AWS region name such as eu-west-1, got 42",
    ),
    (
        "eu-west-1",
        {"region": "eu-west-2"},
        "field 'region': expected the file to be named eu-west-2.yaml",
    ),
    ("eu-west-1", {"region": "Ireland"}, "field 'region': expected an AWS region name"),
    (
        "eu-west-1",
        {"jurisdiction": "XX"},
        "field 'jurisdiction': expected one of ['AU', 'BR', 'CA', 'CH', 'EU'",
    ),
    ("eu-west-1", {"jurisdiction": "eu"}, "field 'jurisdiction': expected one of"),
    (
        "eu-west-1",
        {"availability_zones": "eu-west-1a"},
        "field 'availability_zones': expected a list of 3",
    ),
    (
        "eu-west-1",
        {"availability_zones": ["eu-west-1a", "eu-west-1b"]},
        "expected 3 distinct availability zones",
    ),
    (
        "eu-west-1",
        {"availability_zones": ["eu-west-1a", "eu-west-1a", "eu-west-1b"]},
        "expected 3 distinct availability zones",
    ),
    (
        "eu-west-1",
        {"availability_zones": ["eu-west-1a", "eu-west-1b", "us-east-1a"]},
        "expected zones of eu-west-1 (eu-west-1a, eu-west-1b, ...), got 'us-east-1a'",
    ),
    (
        "eu-west-1",
        {"vpc_cidr": "10.20.0.0/33"},
        "field 'vpc_cidr': expected a private IPv4 CIDR between /16 and /20, got '10.20.0.0/33'",
    ),
    (
        "eu-west-1",
        {"vpc_cidr": "10.20.0.0/24"},
        "expected a private IPv4 CIDR between /16 and /20, got '10.20.0.0/24'",
    ),
    ("eu-west-1", {"vpc_cidr": "8.8.0.0/16"}, "expected a private IPv4 CIDR"),
    ("eu-west-1", {"vpc_cidr": "10.20.0.1/16"}, "expected a private IPv4 CIDR"),
    (
        "eu-west-1",
        {"vpc_cidr": "10.10.0.0/16"},
        "us-east-1.yaml: field 'vpc_cidr': expected a CIDR that does not overlap eu-west-1's 10.10.0.0/16",
    ),
    ("eu-west-1", {"vpc_cidr": "10.0.0.0/12"}, "expected a private IPv4 CIDR between /16 and /20"),
    (
        "eu-west-1",
        {"gpu_candidates": []},
        "field 'gpu_candidates': expected a non-empty list of GPU instance types",
    ),
    (
        "eu-west-1",
        {"gpu_candidates": ["g9.xlarge"]},
        "field 'gpu_candidates': expected GPU instance types from",
    ),
    ("eu-west-1", {"gpu_candidates": ["c7i.2xlarge"]}, "got 'c7i.2xlarge'"),
    (
        "eu-west-1",
        {"gpu_candidates": ["g5.xlarge", "g5.xlarge"]},
        "expected each instance type listed once",
    ),
    (
        "eu-west-1",
        {"demand_share": "0.2"},
        "field 'demand_share': expected a number greater than 0 and at most 1, got '0.2'",
    ),
    ("eu-west-1", {"demand_share": 0}, "field 'demand_share': expected a number greater than 0"),
    ("eu-west-1", {"demand_share": True}, "field 'demand_share': expected a number"),
    (
        "eu-west-1",
        {"demand_share": 0.25},
        "field 'demand_share': expected shares across all region files summing to 1, got 1.05",
    ),
    (
        "eu-west-1",
        {"artifact_primary": "yes"},
        "field 'artifact_primary': expected true or false, got 'yes'",
    ),
    (
        "eu-west-1",
        {"artifact_primary": True},
        "field 'artifact_primary': expected exactly one region with artifact_primary: true, got ['eu-west-1', 'us-east-1']",
    ),
    (
        "us-east-1",
        {"artifact_primary": False},
        "expected exactly one region with artifact_primary: true, got []",
    ),
]


@pytest.mark.parametrize(("region", "changes", "message"), BAD_INPUTS)
def test_bad_input_gets_its_own_message(
    catalog_dir: Path, region: str, changes: dict[str, object], message: str
) -> None:
    _edit(catalog_dir, region, changes)
    with pytest.raises(CatalogError, match=re.escape(message)):
        load_catalog(catalog_dir)


def test_messages_are_distinct_per_case() -> None:
    assert len({m for _, _, m in BAD_INPUTS}) >= 20


def test_not_yaml_names_the_file(catalog_dir: Path) -> None:
    (catalog_dir / "eu-west-1.yaml").write_text("region: [unclosed\n")
    with pytest.raises(
        CatalogError, match=r"eu-west-1\.yaml: field '\(document\)': expected valid YAML"
    ):
        load_catalog(catalog_dir)


def test_a_list_document_is_refused(catalog_dir: Path) -> None:
    (catalog_dir / "eu-west-1.yaml").write_text("- eu-west-1\n")
    with pytest.raises(CatalogError, match=r"expected a mapping of region fields, got 'list'"):
        load_catalog(catalog_dir)


def test_empty_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match=r"expected at least one region file"):
        load_catalog(tmp_path)


def test_unknown_region_lookup_names_the_catalog() -> None:
    with pytest.raises(KeyError, match=r"region 'sa-east-1' is not in the catalog"):
        load_catalog().get("sa-east-1")
