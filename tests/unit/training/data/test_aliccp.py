"""training.data.aliccp on a hand-made Ali-CCP download in the original csv format."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from training.data.aliccp import convert_aliccp, main

# Common-feature indexes, as in the real files (16 hex digits).
ALICE = "bacff91692951881"
BOB = "810d5366057b3f58"
CAROL = "0a1b2c3d4e5f6071"


def features(*items: tuple[str, int | str]) -> str:
    """A feature list: `field\\x02id\\x03value` items joined by \\x01."""
    return "\x01".join(f"{field}\x02{feature_id}\x031.0" for field, feature_id in items)


def common_line(key: str, *items: tuple[str, int | str]) -> str:
    return f"{key},{len(items)},{features(*items)}"


def skeleton_line(
    sample: int, click: int, conversion: int, key: str, *items: tuple[str, int | str]
) -> str:
    return f"{sample},{click},{conversion},{key},{len(items)},{features(*items)}"


ALICE_FEATURES = (
    ("101", 412797),
    ("121", 97),
    ("122", 13),
    ("124", 2),
    ("125", 3438772),
    ("126", 3),
    ("127", 4),
    ("128", 2),
    ("129", 3864888),
    ("109_14", 5001),
    ("109_14", 5002),  # multi-valued: the last id is kept
    ("110_14", 6001),
    ("127_14", 7001),
    ("150_14", 8001),
)


def item(item_id: int, category: int, position: int) -> tuple[tuple[str, int], ...]:
    return (
        ("205", item_id),
        ("206", category),
        ("207", 300),
        ("210", 400),
        ("216", 500),
        ("508", 600),
        ("509", 700),
        ("702", 800),
        ("853", 900),
        ("301", position),
    )


TRAIN_COMMON = [
    common_line(ALICE, *ALICE_FEATURES),
    common_line(BOB, ("101", 77), ("124", 1)),  # a sparse user: other fields are absent
]
TRAIN_SKELETON = [
    skeleton_line(1, 0, 0, ALICE, *item(31319, 11, 1)),
    skeleton_line(2, 1, 1, BOB, *item(31320, 12, 2)),
    skeleton_line(3, 0, 1, ALICE, *item(31321, 13, 3)),  # conversion without click: dropped
    skeleton_line(4, 1, 0, ALICE, ("205", 31322)),  # item fields other than the id are absent
]
TEST_COMMON = [common_line(CAROL, ("101", 999), ("129", 3864887))]
TEST_SKELETON = [skeleton_line(9, 1, 0, CAROL, *item(41000, 21, 4))]


def write_download(
    root: Path, train: list[str] = TRAIN_SKELETON, test: list[str] = TEST_SKELETON
) -> Path:
    files = {
        "sample_skeleton_train.csv": train,
        "common_features_train.csv": TRAIN_COMMON,
        "sample_skeleton_test.csv": test,
        "common_features_test.csv": TEST_COMMON,
    }
    root.mkdir(parents=True, exist_ok=True)
    for name, lines in files.items():
        (root / name).write_text("".join(line + "\n" for line in lines))
    return root


def read_split(split_dir: Path) -> pd.DataFrame:
    files = sorted(split_dir.glob("part_*.parquet"))
    return pd.concat([pd.read_parquet(path) for path in files], ignore_index=True)


@pytest.fixture
def converted(tmp_path: Path) -> tuple[dict[str, int], Path]:
    out = tmp_path / "out"
    return convert_aliccp(write_download(tmp_path / "src"), out, chunk_rows=2), out


def test_rows_per_split_and_chunked_parts(converted: tuple[dict[str, int], Path]) -> None:
    rows, out = converted
    assert rows == {"train": 3, "valid": 1}
    train_parts = sorted(path.name for path in (out / "train").iterdir())
    assert train_parts == ["part_00000.parquet", "part_00001.parquet"]
    assert [path.name for path in (out / "valid").iterdir()] == ["part_00000.parquet"]


def test_columns_and_dtypes_match_merlin_aliccp_raw(
    converted: tuple[dict[str, int], Path],
) -> None:
    from merlin.datasets.synthetic import generate_data

    expected = generate_data("aliccp-raw", 10).to_ddf().compute().dtypes
    _, out = converted
    for split in ("train", "valid"):
        for path in sorted((out / split).glob("part_*.parquet")):
            assert pd.read_parquet(path).dtypes.to_dict() == expected.to_dict()
            assert list(pd.read_parquet(path).columns) == list(expected.index)
    assert len(expected) == 25


def test_values_of_a_full_row(converted: tuple[dict[str, int], Path]) -> None:
    _, out = converted
    first = read_split(out / "train").iloc[0]
    assert first["user_id"] == 412797  # from the common features
    assert first["item_id"] == 31319  # from the skeleton line
    assert (first["click"], first["conversion"]) == (0, 0)
    assert first["user_age"] == 3438772
    assert first["user_consumption_2"] == 4  # field 127, not 127_14
    assert first["user_brands"] == 7001  # field 127_14
    assert first["user_categories"] == 5002  # last id of the multi-valued field 109_14
    assert first["user_geography"] == 3864888
    assert first["item_category"] == 11
    assert first["item_intention"] == 400  # field 210
    assert first["item_brand"] == 500  # field 216
    assert first["user_item_intentions"] == 900
    assert first["position"] == 1


def test_sparse_rows_fill_absent_fields_with_zero(
    converted: tuple[dict[str, int], Path],
) -> None:
    _, out = converted
    train = read_split(out / "train")
    bob = train.iloc[1]
    assert (bob["user_id"], bob["user_gender"], bob["user_age"]) == (77, 1, 0)
    assert (bob["item_id"], bob["click"], bob["conversion"]) == (31320, 1, 1)
    last = train.iloc[2]  # sample 4: sample 3 (conversion without click) is dropped
    assert (last["user_id"], last["item_id"], last["item_category"]) == (412797, 31322, 0)
    assert (last["click"], last["conversion"]) == (1, 0)


def test_valid_comes_from_the_test_files(converted: tuple[dict[str, int], Path]) -> None:
    _, out = converted
    valid = read_split(out / "valid").iloc[0]
    assert (valid["user_id"], valid["user_geography"], valid["item_id"]) == (999, 3864887, 41000)
    assert (valid["click"], valid["conversion"], valid["position"]) == (1, 0, 4)


def test_merlin_layout_with_train_and_test_subdirectories(tmp_path: Path) -> None:
    src = write_download(tmp_path / "flat")
    nested = tmp_path / "nested"
    for suffix in ("train", "test"):
        (nested / suffix).mkdir(parents=True)
        for path in src.glob(f"*_{suffix}.csv"):
            path.rename(nested / suffix / path.name)
    assert convert_aliccp(nested, tmp_path / "out") == {"train": 3, "valid": 1}


def test_missing_file_is_a_value_error(tmp_path: Path) -> None:
    src = write_download(tmp_path / "src")
    (src / "common_features_test.csv").unlink()
    with pytest.raises(ValueError, match="missing Ali-CCP file common_features_test.csv"):
        convert_aliccp(src, tmp_path / "out")


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("1,0,0," + ALICE + ",1", "expected 6 comma-separated fields"),
        (skeleton_line(1, 2, 0, ALICE, ("205", 1)), "click must be 0 or 1"),
        (f"1,0,0,{ALICE},x,{features(('205', 1))}", "feature count must be a number"),
        (f"1,0,0,{ALICE},1,205\x0231319", "malformed feature list"),
        (skeleton_line(1, 0, 0, ALICE, ("205", "abc")), "field 205 has id 'abc'"),
        (skeleton_line(1, 0, 0, ALICE, ("205", 2**31)), "expected a non-negative int32"),
        (skeleton_line(1, 0, 0, "ffffffffffffffff", ("205", 1)), "unknown common feature index"),
    ],
)
def test_malformed_skeleton_line_is_a_value_error(tmp_path: Path, line: str, message: str) -> None:
    src = write_download(tmp_path / "src", train=[TRAIN_SKELETON[0], line])
    with pytest.raises(ValueError, match=message) as raised:
        convert_aliccp(src, tmp_path / "out")
    assert "sample_skeleton_train.csv:2: " in str(raised.value)
    assert "\n" not in str(raised.value)
    assert not list((tmp_path / "out" / "train").glob("*.parquet"))  # no half-written split


def test_cli_prints_rows_written(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = write_download(tmp_path / "src")
    assert main([str(src), str(tmp_path / "out")]) == 0
    printed = capsys.readouterr().out
    assert "train: 3 rows written" in printed
    assert "valid: 1 rows written" in printed


def test_cli_reports_bad_input_on_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([str(tmp_path / "nowhere"), str(tmp_path / "out")]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("error: missing Ali-CCP file")
    assert captured.err.count("\n") == 1
