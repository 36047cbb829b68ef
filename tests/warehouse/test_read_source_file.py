"""Reading real department files: xlsx, xls, GB18030 CSV, UTF-8 CSV with and without BOM."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
import xlsxwriter
import xlwt

from schemas.gongan import GONGAN
from schemas.jisheng import JISHENG
from schemas.minzheng import MINZHENG
from schemas.weisheng import WEISHENG
from warehouse.errors import BadEncodingError, EmptyFileError, MissingColumnsError
from warehouse.inbox_files import InboxFile, classify_file
from warehouse.read_source_file import read_source_file

WEISHENG_ROW = {
    "出生医学证明编号": "P450812345", "新生儿姓名": "䶮之子", "性别": "男",
    "出生时间": "2013-05-04 14:32", "出生地点": "平南县大安镇卫生院", "母亲姓名": "龑丽",
    "母亲身份证件号码": "45082119900101002X",
}
GONGAN_ROW = {
    "登记流水号": "G0001", "公民身份号码": "450821201305040011", "姓名": "张三",
    "性别": "1", "出生日期": "2013/5/4", "乡镇街道": "大安镇", "母亲姓名": "李四",
    "母亲公民身份号码": "45082119900101002X",
}


def write_csv(path: Path, rows: list[dict[str, str]], encoding: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    headers = list(rows[0])
    lines = [",".join(headers)] + [",".join(r.get(h, "") for h in headers) for r in rows]
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))
    return path


def accepted(path: Path, inbox: Path) -> InboxFile:
    found = classify_file(path, inbox)
    assert isinstance(found, InboxFile), found
    return found


def test_gb18030_csv_keeps_rare_characters(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "weisheng" / "weisheng_20130601.csv", [WEISHENG_ROW], "gb18030")
    staged = read_source_file(accepted(path, tmp_path), WEISHENG)
    assert staged["mother_name"].to_list() == ["龑丽"]
    assert staged["child_name"].to_list() == ["䶮之子"]
    assert staged["row_number"].to_list() == [2]
    assert staged["file"].to_list() == ["weisheng/weisheng_20130601.csv"]


@pytest.mark.parametrize("encoding", [pytest.param("utf-8", id="utf-8"),
                                      pytest.param("utf-8-sig", id="utf-8 with BOM")])
def test_utf8_csv_with_or_without_bom(tmp_path: Path, encoding: str) -> None:
    path = write_csv(tmp_path / "gongan" / "gongan_20130601.csv", [GONGAN_ROW], encoding)
    staged = read_source_file(accepted(path, tmp_path), GONGAN)
    assert staged["record_id"].to_list() == ["G0001"]
    assert staged["child_id_number"].to_list() == ["450821201305040011"]


@pytest.mark.parametrize("content", [
    pytest.param(b"", id="no bytes"),
    pytest.param(b"\xef\xbb\xbf", id="a BOM only"),
    pytest.param(b" \r\n\t\n", id="ascii white space"),
    pytest.param("\u3000\n\u00a0\n".encode(), id="ideographic and no-break spaces"),
])
def test_blank_csv_is_rejected_as_empty(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "gongan" / "gongan_20130601.csv"
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    with pytest.raises(EmptyFileError, match="the file is empty"):
        read_source_file(accepted(path, tmp_path), GONGAN)


def test_utf8_csv_with_a_doubled_bom_reads(tmp_path: Path) -> None:
    """UTF-8 files go to polars as their bytes less one BOM (as utf-8-sig decoding drops),
    and polars drops a second one: a doubled BOM reads as it did when the text was decoded
    and encoded again."""
    path = write_csv(tmp_path / "gongan" / "gongan_20130601.csv", [GONGAN_ROW], "utf-8-sig")
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    staged = read_source_file(accepted(path, tmp_path), GONGAN)
    assert staged["record_id"].to_list() == ["G0001"]


def test_utf8_file_sent_as_gb18030_is_rejected_for_encoding(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "weisheng" / "weisheng_20130601.csv", [WEISHENG_ROW], "utf-8")
    with pytest.raises(BadEncodingError, match="not valid gb18030 .*it reads as utf-8"):
        read_source_file(accepted(path, tmp_path), WEISHENG)


def test_invalid_utf8_names_the_line(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "gongan" / "gongan_20130601.csv", [GONGAN_ROW], "gb18030")
    with pytest.raises(BadEncodingError, match=r"gongan_20130601.csv: not valid utf-8 .*line 1"):
        read_source_file(accepted(path, tmp_path), GONGAN)


def test_missing_columns_are_all_named(tmp_path: Path) -> None:
    row = {k: v for k, v in GONGAN_ROW.items() if k not in ("出生日期", "公民身份号码")}
    path = write_csv(tmp_path / "gongan" / "gongan_20130601.csv", [row], "utf-8")
    with pytest.raises(MissingColumnsError) as error:
        read_source_file(accepted(path, tmp_path), GONGAN)
    assert "公民身份号码, 出生日期" in str(error.value)
    assert "gongan_20130601.csv" in str(error.value)


def test_headers_match_after_nfkc_and_trimming_in_any_order(tmp_path: Path) -> None:
    row = {(" " + k + "\u3000" if i % 2 else k): v for i, (k, v) in enumerate(GONGAN_ROW.items())}
    shuffled = dict(reversed(list(row.items())))
    shuffled["备用列"] = "ignored"
    path = write_csv(tmp_path / "gongan" / "gongan_20130601.csv", [shuffled], "utf-8")
    staged = read_source_file(accepted(path, tmp_path), GONGAN)
    assert staged["birth_date"].to_list() == ["2013/5/4"]
    assert "备用列" not in staged.columns


def test_xlsx_number_cells_are_typed(tmp_path: Path) -> None:
    path = tmp_path / "jisheng" / "jisheng_20130601.xlsx"
    path.parent.mkdir()
    workbook = xlsxwriter.Workbook(path)
    sheet = workbook.add_worksheet()
    headers = [c.header for c in JISHENG.columns if c.required]
    sheet.write_row(0, 0, headers)
    values = {"个案编号": 12345, "乡镇": "大安镇", "性别": "女", "出生日期": 41398, "孩次": "二孩",
              "母亲姓名": "李四", "母亲身份证号": 450821199001010027}
    for column, header in enumerate(headers):
        value = values[header]
        if isinstance(value, int):
            sheet.write_number(1, column, value)
        else:
            sheet.write_string(1, column, value)
        sheet.write_string(2, column, str(values[header]))
    workbook.close()
    staged = read_source_file(accepted(path, tmp_path), JISHENG)
    assert staged["record_id"].to_list() == ["12345", "12345"]
    assert staged["mother_id_number_cell"].to_list() == ["number", "text"]
    assert staged["birth_date_cell"].to_list() == ["number", "text"]
    assert staged["mother_id_number"][1] == "450821199001010027"
    assert staged["row_number"].to_list() == [2, 3]


def test_legacy_xls_is_read(tmp_path: Path) -> None:
    path = tmp_path / "minzheng" / "minzheng_20130601.xls"
    path.parent.mkdir()
    workbook = xlwt.Workbook()
    sheet = workbook.add_sheet("Sheet1")
    row = {"业务编号": "MZ1", "业务类型": "弃婴收留", "姓名": "党新", "性别": "男",
           "出生日期": "2013-05-04", "业务日期": "2013-06-01"}
    for column, (header, value) in enumerate(row.items()):
        sheet.write(0, column, header)
        sheet.write(1, column, value)
    workbook.save(str(path))
    staged = read_source_file(accepted(path, tmp_path), MINZHENG)
    assert staged.select("record_id", "event_type").rows() == [("MZ1", "弃婴收留")]
    assert staged.schema["row_number"] == pl.Int64
