"""Frames for transform tests from the rows a test spells out, and a small generated county.

One copy for the block, compare, score, link and reconcile tests: a row gives only the
columns that matter to its test; everything else is null of its declared dtype.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from datetime import date, timedelta

import polars as pl

from schemas.canonical import CANONICAL
from transforms.normalise_ids import id_number_check_digit
from transforms.normalise_names import name_pinyin

NAMES = ("child_name", "mother_name", "father_name")
SURNAMES = "张王李刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIRLS = "丽芳娜敏静秀英华玉兰红梅艳霞燕琳洁萍雪婷"
BOYS = "伟强磊军勇杰涛明超刚平辉鹏飞鑫波斌宇浩"
HOMOPHONES = {"丽": "莉", "芳": "方", "娜": "那", "玉": "钰", "红": "虹", "梅": "玫", "燕": "艳"}


def with_check_digit(body: str) -> str:
    """An 18-character ID number: 17 digits and their GB 11643 check character."""
    return body + pl.select(id_number_check_digit(pl.lit(body))).item()


def frame_of(rows: Sequence[Mapping[str, object]], schema: Mapping[str, pl.DataType],
             names: Sequence[str] = NAMES) -> pl.DataFrame:
    """The rows as a frame of `schema`: the given columns, every other one null of its
    declared dtype; the names' pinyin derived as the normaliser does, unless given."""
    frame = pl.DataFrame([{c: row.get(c) for c in schema} for row in rows], schema=schema)
    return frame.with_columns(
        pl.coalesce(pl.col(f"{name}_pinyin"), name_pinyin(frame[name])).alias(f"{name}_pinyin")
        for name in names
    )


def canonical(rows: Sequence[Mapping[str, object]]) -> pl.DataFrame:
    """Canonical records from the given rows."""
    return frame_of(rows, CANONICAL)


def population_rows(children: int, seed: int, sibling_share: float = 0.0
                    ) -> list[dict[str, object]]:
    """Record rows of `children` children in 卫生, 公安 and 计生, with everyday dirt:
    homophone typos in the mother's name, a day off, blank mother IDs, unnamed newborns at
    the hospital, children 计生 has not heard of. A share of children are a younger sibling
    (same mother, ID and township, born 400-1000 days later). Record ids are <source
    letter><child number>, so the truth is `record_id.str.slice(1)`."""
    rng = random.Random(seed)
    mothers: list[tuple[str, str, str, date, str]] = []
    rows: list[dict[str, object]] = []
    for k in range(children):
        if mothers and rng.random() < sibling_share:
            surname, mother, mother_id, older, township = rng.choice(mothers)
            born = older + timedelta(days=rng.randrange(400, 1000))
        else:
            surname = rng.choice(SURNAMES)
            mother = rng.choice(SURNAMES) + rng.choice(GIRLS) + rng.choice(["", *GIRLS])
            mother_id = with_check_digit(
                f"450821{1980 + rng.randrange(15)}{rng.randrange(1, 13):02d}"
                f"{rng.randrange(1, 29):02d}{rng.randrange(100, 999)}")
            born = date(2011, 1, 1) + timedelta(days=rng.randrange(365))
            township = f"4508211{rng.randrange(1, 10):02d}"
            mothers.append((surname, mother, mother_id, born, township))
        sex = rng.choice((1, 2))
        given = BOYS if sex == 1 else GIRLS
        child = surname + rng.choice(given) + rng.choice(["", *given])
        child_id = with_check_digit(f"450821{born:%Y%m%d}{rng.randrange(100, 999)}")
        same = {"mother_name": mother, "mother_id_number": mother_id, "birth_date": born,
                "sex": sex, "township_code": township}
        records = [
            {"source": "weisheng", "record_id": f"W{k}", **same, "birth_cert_number": f"P{k:08d}",
             "child_name": child if rng.random() < 0.5 else None,
             "birth_weight_g": float(rng.randrange(2500, 4200, 10))},
            {"source": "gongan", "record_id": f"G{k}", **same, "child_name": child,
             "child_id_number": child_id},
            {"source": "jisheng", "record_id": f"J{k}", **same, "child_name": child,
             "child_id_number": child_id if rng.random() < 0.5 else None,
             "birth_order": 1 + (born.year > 2011)},
        ]
        for record in records:
            draw = rng.random()
            if draw < 0.1:
                record["mother_name"] = "".join(HOMOPHONES.get(c, c) for c in mother)
            elif draw < 0.15:
                record["birth_date"] = born + timedelta(days=1)
            elif draw < 0.25:
                record["mother_id_number"] = None
        rows.extend(r for r in records if r["source"] != "jisheng" or rng.random() < 0.9)
    return rows
