"""The residency policy file, its loader and the tag helper (pure: no AWS, no Pulumi)."""

from __future__ import annotations

from pathlib import Path

import pytest

from regions.catalog import RegionCatalog, load_catalog
from regions.residency import (
    CLASSIFICATION_TAG,
    JURISDICTION_TAG,
    POLICY_FILE,
    POLICY_FILE_ENV,
    DataClassification,
    JurisdictionRule,
    ResidencyPolicy,
    ResidencyPolicyError,
    allowed_regions,
    classification_tags,
    default_policy_file,
    is_allowed,
    is_personal,
    load_policy,
)


@pytest.fixture(scope="module")
def catalog() -> RegionCatalog:
    return load_catalog()


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "residency.yaml"
    path.write_text(text, encoding="utf-8")
    return path


class TestShippedPolicy:
    def test_catalog_does_not_read_the_policy_file_as_a_region(
        self, catalog: RegionCatalog
    ) -> None:
        # regions/*.yaml are region files; the policy lives in a subdirectory for that reason.
        assert POLICY_FILE.parent.name == "policy"
        assert "residency" not in catalog.names

    def test_eu_data_may_move_between_eu_regions_only(self, catalog: RegionCatalog) -> None:
        policy = load_policy(catalog)
        assert allowed_regions("EU", "eu-west-1", catalog, policy) == {"eu-west-1", "eu-central-1"}
        assert allowed_regions("EU", "eu-central-1", catalog, policy) == {
            "eu-west-1",
            "eu-central-1",
        }
        assert not is_allowed("EU", "eu-west-1", "us-east-1", catalog, policy)

    @pytest.mark.parametrize(
        ("jurisdiction", "home"),
        [
            ("US", "us-east-1"),
            ("US", "us-west-2"),
            ("JP", "ap-northeast-1"),
            ("SG", "ap-southeast-1"),
        ],
    )
    def test_other_jurisdictions_keep_data_in_its_region(
        self, catalog: RegionCatalog, jurisdiction: str, home: str
    ) -> None:
        policy = load_policy(catalog)
        assert allowed_regions(jurisdiction, home, catalog, policy) == {home}

    def test_us_data_may_not_replicate_between_us_regions(self, catalog: RegionCatalog) -> None:
        assert not is_allowed("US", "us-east-1", "us-west-2", catalog, load_policy(catalog))


class TestAllowedRegions:
    def test_home_of_another_jurisdiction_allows_nothing(self, catalog: RegionCatalog) -> None:
        # EU data "collected" in a US region should not exist: no copy of it is allowed either.
        policy = load_policy(catalog)
        assert allowed_regions("EU", "us-east-1", catalog, policy) == frozenset()
        assert not is_allowed("EU", "us-east-1", "us-east-1", catalog, policy)

    def test_region_outside_the_catalog_allows_nothing(self, catalog: RegionCatalog) -> None:
        assert allowed_regions("EU", "eu-south-1", catalog, load_policy(catalog)) == frozenset()

    def test_unknown_jurisdiction_is_an_error(self, catalog: RegionCatalog) -> None:
        with pytest.raises(ValueError, match=r"jurisdiction must be one of .* got 'eu'"):
            allowed_regions("eu", "eu-west-1", catalog, load_policy(catalog))

    def test_explicit_region_list_limits_the_group(self, catalog: RegionCatalog) -> None:
        policy = ResidencyPolicy(
            rules={"US": JurisdictionRule(allow_within_jurisdiction=True, regions=("us-east-1",))}
        )
        assert allowed_regions("US", "us-east-1", catalog, policy) == {"us-east-1"}
        assert allowed_regions("US", "us-west-2", catalog, policy) == {"us-west-2"}

    def test_allow_within_without_list_means_all_regions_of_the_jurisdiction(
        self, catalog: RegionCatalog
    ) -> None:
        policy = ResidencyPolicy(default=JurisdictionRule(allow_within_jurisdiction=True))
        assert allowed_regions("US", "us-west-2", catalog, policy) == {"us-east-1", "us-west-2"}


class TestLoader:
    def test_valid_file_with_region_list(self, tmp_path: Path, catalog: RegionCatalog) -> None:
        path = _write(
            tmp_path,
            "default: {allow_within_jurisdiction: false}\n"
            "jurisdictions:\n  EU: {allow_within_jurisdiction: true, regions: [eu-west-1, eu-central-1]}\n",
        )
        policy = load_policy(catalog, path)
        assert policy.rule_for("EU") == JurisdictionRule(True, ("eu-west-1", "eu-central-1"))
        assert policy.rule_for("US") == JurisdictionRule(False)
        assert policy.source_file == str(path)

    @pytest.mark.parametrize(
        ("text", "field", "expected"),
        [
            ("[1, 2]\n", "(document)", "a mapping with default"),
            ("default: {allow_within_jurisdiction: false}\nextra: 1\n", "extra", "no such field"),
            (
                "jurisdictions: {XX: {allow_within_jurisdiction: true}}\n",
                "jurisdictions.XX",
                "a jurisdiction from",
            ),
            (
                "jurisdictions: {EU: {allow_within_jurisdiction: yes please}}\n",
                "jurisdictions.EU.allow_within_jurisdiction",
                "true or false",
            ),
            ("jurisdictions: {EU: {allow: true}}\n", "jurisdictions.EU.allow", "no such field"),
            (
                "jurisdictions: {EU: {allow_within_jurisdiction: true, regions: [us-east-1]}}\n",
                "jurisdictions.EU.regions",
                "catalog regions of EU",
            ),
            (
                "jurisdictions: {EU: {allow_within_jurisdiction: true, regions: [eu-south-1]}}\n",
                "jurisdictions.EU.regions",
                "catalog regions of EU",
            ),
            (
                "jurisdictions: {EU: {allow_within_jurisdiction: true, regions: []}}\n",
                "jurisdictions.EU.regions",
                "a non-empty list",
            ),
            (
                "jurisdictions: {EU: {allow_within_jurisdiction: true, regions: [eu-west-1, eu-west-1]}}\n",
                "jurisdictions.EU.regions",
                "each listed once",
            ),
            (
                "jurisdictions: {EU: {allow_within_jurisdiction: false, regions: [eu-west-1]}}\n",
                "jurisdictions.EU.regions",
                "unless allow_within_jurisdiction is true",
            ),
            (
                "default: {allow_within_jurisdiction: true, regions: [eu-west-1]}\n",
                "default.regions",
                "only makes sense per jurisdiction",
            ),
            ("jurisdictions: [EU]\n", "jurisdictions", "a mapping of jurisdiction to rule"),
            ("default: {allow_within_jurisdiction: [\n", "(document)", "valid YAML"),
        ],
    )
    def test_errors_name_file_field_and_expectation(
        self, tmp_path: Path, catalog: RegionCatalog, text: str, field: str, expected: str
    ) -> None:
        path = _write(tmp_path, text)
        with pytest.raises(ResidencyPolicyError) as info:
            load_policy(catalog, path)
        assert info.value.file == str(path)
        assert info.value.field == field
        assert expected in info.value.expected
        assert str(path) in str(info.value)

    def test_missing_file(self, tmp_path: Path, catalog: RegionCatalog) -> None:
        with pytest.raises(ResidencyPolicyError, match="a readable residency policy file"):
            load_policy(catalog, tmp_path / "nope.yaml")

    def test_environment_variable_points_at_another_file(
        self, tmp_path: Path, catalog: RegionCatalog, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        path = _write(tmp_path, "default: {allow_within_jurisdiction: true}\n")
        monkeypatch.setenv(POLICY_FILE_ENV, str(path))
        assert default_policy_file() == path
        assert load_policy(catalog).default.allow_within_jurisdiction is True


class TestTags:
    def test_personal_tags(self) -> None:
        tags = classification_tags(DataClassification.PERSONAL, "EU")
        assert tags == {CLASSIFICATION_TAG: "personal", JURISDICTION_TAG: "EU"}
        assert is_personal(tags)

    @pytest.mark.parametrize("classification", ["internal", DataClassification.PUBLIC])
    def test_other_classifications_are_not_personal(self, classification: str) -> None:
        tags = classification_tags(classification, "US")
        assert tags[CLASSIFICATION_TAG] == str(classification)
        assert not is_personal(tags)

    def test_unknown_classification(self) -> None:
        with pytest.raises(
            ValueError,
            match=r"classification must be one of \['personal', 'internal', 'public'\], got 'secret'",
        ):
            classification_tags("secret", "EU")

    def test_unknown_jurisdiction(self) -> None:
        with pytest.raises(ValueError, match="jurisdiction must be one of"):
            classification_tags(DataClassification.PERSONAL, "Europe")

    def test_is_personal_needs_the_exact_value(self) -> None:
        assert not is_personal({CLASSIFICATION_TAG: "Personal"})
        assert not is_personal({})


def test_default_section_may_be_omitted_and_then_keeps_data_home(
    tmp_path: Path, catalog: RegionCatalog
) -> None:
    policy = load_policy(catalog, _write(tmp_path, "jurisdictions: {}\n"))
    assert policy.default == JurisdictionRule(allow_within_jurisdiction=False)
    assert allowed_regions("EU", "eu-west-1", catalog, policy) == {"eu-west-1"}
