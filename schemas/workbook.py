"""The officers' workbook and the case view: file and sheet names, every column's Chinese
header and width, and the Chinese words reports use for codes that have no label table.

warehouse/officer_workbook.py writes the workbook; the decision columns are schemas/review.py's.
"""

from __future__ import annotations

from dataclasses import dataclass

from schemas.labels import SOURCE_LABELS
from schemas.review import ReviewColumn


@dataclass(frozen=True)
class SheetColumn:
    """One column of a sheet: the frame column it shows, its Chinese header, its width."""

    name: str
    header: str
    width: float


S = SheetColumn

WORKBOOK_TITLE = "出生登记信息核查"
COUNTY_LABEL = "全县"
UNPLACED_TOWNSHIP_LABEL = "未定位乡镇"
SUMMARY_SHEET = "汇总"
TOWNSHIPS_SHEET = "各乡镇"
REJECTS_SHEET_SUFFIX = "退回数据"  # "计生退回数据": one sheet per department
UNKNOWN_SOURCE_LABEL = "来源不明"
WHOLE_FILE_LABEL = "整个文件"
SEX_UNKNOWN_LABEL = "不详"
YES_LABEL, NO_LABEL, NO_DATA_LABEL = "是", "否", "无数据"
RECONCILED_LABEL = "核实后（全部婴儿）"
COUNTY_NOTE = ("本工作簿为全县汇总、各部门退回数据及未定位乡镇的案件；"
               "各乡镇的案件只列在该乡镇的工作簿中，每个案件只出现一次。")
TOWNSHIP_NOTE = "本工作簿只列本乡镇（按核实后的乡镇）的待核查案件。"
MASK_NOTE = "身份证号只显示前4位和后2位；完整信息请用 birthrec case 案件编号 查看。"

SEVERITY_LABELS: dict[str, str] = {"high": "高", "medium": "中", "low": "低", "info": "提示"}

# transforms/compare.py labels a level "<字段> <qualifier>"; the workbook shows it in Chinese.
LEVEL_QUALIFIER_LABELS: dict[str, str] = {
    "exact": "完全一致",
    "one digit off or transposed": "差一位或相邻两位颠倒",
    "one character off": "差一个字",
    "same pinyin": "同音",
    "different": "不同",
    "within 30 days": "相差30天以内",
    "month/day swapped": "月日颠倒",
    "±1 day": "相差1天",
    "same": "相同",
    "agree": "一致",
    "disagree": "不一致",
}

# --- case sheets: one per discrepancy kind, one open case per row -------------------------
CASE_LEAD_COLUMNS: tuple[SheetColumn, ...] = (
    S("discrepancy_id", ReviewColumn.CASE_ID.value, 19),
    S("source_label", "责任部门", 9),
    S("severity_label", "严重程度", 9),
    S("township_label", "乡镇", 12),
    S("detail", "问题说明", 34),
    S("record_counts", "各部门记录数", 20),
)
# Each department's record, side by side: (field, header, width).
DEPARTMENT_FIELDS: tuple[tuple[str, str, float], ...] = (
    ("record", "记录", 22),
    ("name", "婴儿姓名", 10),
    ("sex", "性别", 6),
    ("birth_date", "出生日期", 11),
    ("township", "乡镇", 12),
    ("mother_name", "母亲姓名", 10),
    ("child_id", "婴儿身份证号", 21),
    ("mother_id", "母亲身份证号", 21),
)
DEPARTMENT_COLUMNS: tuple[SheetColumn, ...] = tuple(
    S(f"{source.value}_{field}", f"{label}·{header}", width)
    for source, label in SOURCE_LABELS.items()
    for field, header, width in DEPARTMENT_FIELDS
)
EVIDENCE_COLUMNS: tuple[SheetColumn, ...] = (
    S("match_probability", "匹配概率", 9),
    S("agreeing_fields", "关联依据（一致的字段及权重）", 48),
    S("disagreeing_fields", "不一致的字段及权重", 30),
)
DECISION_COLUMNS: tuple[SheetColumn, ...] = (
    S("case_record", ReviewColumn.RECORD.value, 22),
    S("other_record", ReviewColumn.OTHER_RECORD.value, 22),
    S("decision", ReviewColumn.DECISION.value, 12),
    S("note", ReviewColumn.NOTE.value, 24),
    S("reviewer", ReviewColumn.REVIEWER.value, 10),
    S("reviewed_on", ReviewColumn.REVIEWED_ON.value, 12),
)
CASE_COLUMNS: tuple[SheetColumn, ...] = (
    *CASE_LEAD_COLUMNS, *DEPARTMENT_COLUMNS, *EVIDENCE_COLUMNS, *DECISION_COLUMNS)
DECISION_PROMPT = "请从下拉列表选择：同一人 / 非同一人 / 已核实无误 / 已更正"

# --- rejected files and rows, one sheet per department ------------------------------------
REJECT_COLUMNS: tuple[SheetColumn, ...] = (
    S("file", "文件", 34),
    S("row_label", "行号", 9),
    S("reason_label", "原因", 30),
    S("reason", "原因代码", 20),
    S("detail", "说明", 40),
)
RAW_VALUE_WIDTH = 16  # the department's own columns follow, under its own headers

# --- summary sheet and the county's township table ----------------------------------------
DEPARTMENT_TABLE_TITLE = "各部门出生数与出生性别比（男婴数/女婴数×100，95%置信区间）"
DEPARTMENT_TABLE_HEADERS = ("部门", "登记婴儿数", "男", "女", "性别不详", "出生性别比",
                            "95%区间下限", "95%区间上限", "在正常范围（103–107）")
INDICATOR_TABLE_TITLE = "登记指标（计生人口数据库）"
INDICATOR_TABLE_HEADERS = ("指标", "实际值", "目标", "是否达标", "分子", "分母")
INDICATOR_LABELS: dict[str, str] = {
    "coverage": "覆盖率", "id_entry_rate": "身份证录入率", "accuracy": "准确率"}
INDICATOR_PARTS: dict[str, tuple[str, str]] = {  # numerator and denominator columns
    "coverage": ("children_in_jisheng", "children"),
    "id_entry_rate": ("jisheng_records_with_valid_id", "jisheng_records_with_hukou"),
    "accuracy": ("jisheng_records_accurate", "jisheng_records"),
}
KIND_TABLE_TITLE = "问题汇总（按类别）"
KIND_TABLE_HEADERS = ("问题类别", "代码", "待核查", "已有合理解释", "已处理", "合计")
TOTAL_LABEL = "合计"
RUN_LABELS = ("范围", "运行编号", "截至日期", "说明", "隐私")

TOWNSHIP_COLUMNS: tuple[SheetColumn, ...] = (
    S("township_code", "乡镇代码", 11),
    S("township_label", "乡镇", 12),
    S("children", "婴儿数", 8),
    S("coverage", "覆盖率", 9),
    S("id_entry_rate", "身份证录入率", 12),
    S("accuracy", "准确率", 9),
    S("meets_all", "三项均达标", 10),
    S("ratio", "出生性别比", 10),
    S("ci_low", "95%区间下限", 11),
    S("ci_high", "95%区间上限", 11),
    S("open_cases", "待核查案件", 10),
    S("workbook", "工作簿", 44),
)

# --- `birthrec case`: Chinese labels of the canonical record's fields ----------------------
CASE_FIELD_LABELS: dict[str, str] = {
    "source": "部门", "file": "文件", "file_hash": "文件哈希", "extract_date": "提取日期",
    "file_seq": "文件序号", "row_number": "行号", "record_id": "记录编号",
    "township_raw": "乡镇（原文）", "township_code": "乡镇代码", "township_match": "乡镇匹配方式",
    "village": "村居", "child_name_raw": "婴儿姓名（原文）", "child_name": "婴儿姓名",
    "child_name_is_placeholder": "姓名为占位", "child_name_pinyin": "婴儿姓名拼音",
    "sex_raw": "性别（原文）", "sex": "性别", "birth_date_raw": "出生日期（原文）",
    "birth_date": "出生日期", "birth_date_problem": "出生日期问题",
    "birth_order_raw": "孩次（原文）", "birth_order": "孩次",
    "child_id_number_raw": "婴儿身份证号（原文）", "child_id_number": "婴儿身份证号",
    "child_id_number_problem": "婴儿身份证号问题",
    "child_id_number_birth_date": "身份证号中的出生日期",
    "child_id_number_sex": "身份证号中的性别", "mother_name_raw": "母亲姓名（原文）",
    "mother_name": "母亲姓名", "mother_name_pinyin": "母亲姓名拼音",
    "mother_id_number_raw": "母亲身份证号（原文）", "mother_id_number": "母亲身份证号",
    "mother_id_number_problem": "母亲身份证号问题", "father_name_raw": "父亲姓名（原文）",
    "father_name": "父亲姓名", "father_name_pinyin": "父亲姓名拼音",
    "father_id_number_raw": "父亲身份证号（原文）", "father_id_number": "父亲身份证号",
    "father_id_number_problem": "父亲身份证号问题", "birth_cert_number": "出生医学证明编号",
    "is_within_policy": "政策内", "event_type": "民政业务类型", "event_date": "业务日期",
    "registered_date": "登记日期", "issued_date": "签发日期", "declared_date": "申报日期",
    "hospital": "助产机构", "ethnicity": "民族", "gestational_weeks": "出生孕周",
    "birth_weight_g": "出生体重（克）", "person_id": "婴儿编号",
    "match_probability": "归属概率",
}
CASE_HEADER_LABELS: dict[str, str] = {
    "discrepancy_id": ReviewColumn.CASE_ID.value, "kind": "问题类别", "status": "状态",
    "source": "责任部门", "record_id": "记录", "severity": "严重程度", "person_id": "婴儿编号",
    "township": "乡镇", "detail": "问题说明", "first_run_id": "首次发现于运行",
    "run_id": "运行编号",
}
CASE_TITLE = "案件"
CASE_RECORDS_TITLE = "该婴儿在各部门的全部记录（未脱敏，仅供核查，勿外传）"
CASE_LINKS_TITLE = "记录之间的比对（各字段比对结果及权重）"
CASE_LINK_TOTALS = {
    "match_probability": "匹配概率", "match_weight": "匹配总权重",
    "is_duplicate_candidate": "同部门重复候选", "is_contradiction": "矛盾（禁止合并）",
}
NO_LINKS_LABEL = "这些记录之间没有保存的比对结果（单条记录，或经其他记录间接关联）。"
