"""Chinese labels for every code, for reports and the published label tables."""

from __future__ import annotations

from schemas.codes import (
    DiscrepancyKind,
    DiscrepancyStatus,
    IdProblem,
    QuarantineReason,
    Source,
)

SOURCE_LABELS: dict[Source, str] = {
    Source.JISHENG: "计生",
    Source.WEISHENG: "卫生",
    Source.GONGAN: "公安",
    Source.MINZHENG: "民政",
}

SEX_LABELS: dict[int, str] = {1: "男", 2: "女"}

QUARANTINE_REASON_LABELS: dict[QuarantineReason, str] = {
    QuarantineReason.BAD_FILE_NAME: "文件名不符合 <来源>_<YYYYMMDD>[_<n>].<扩展名>",
    QuarantineReason.WRONG_FOLDER: "文件放错了文件夹",
    QuarantineReason.UNSUPPORTED_FORMAT: "该来源不接受此文件格式",
    QuarantineReason.UNREADABLE_FILE: "文件无法打开或已损坏",
    QuarantineReason.BAD_ENCODING: "文件编码不符（卫生须为 GB18030，其余 CSV 须为 UTF-8）",
    QuarantineReason.MISSING_COLUMNS: "缺少必填列",
    QuarantineReason.EMPTY_FILE: "文件没有表头",
    QuarantineReason.NO_RECORD_ID: "缺少记录编号",
    QuarantineReason.NO_IDENTIFYING_FIELDS: (
        "没有可识别婴儿的信息（姓名、身份证号、母亲信息、出生日期均缺）"
    ),
    QuarantineReason.FOOTER_ROW: "合计或表尾行",
    QuarantineReason.BLANK_ROW: "空行",
}

ID_PROBLEM_LABELS: dict[IdProblem, str] = {
    IdProblem.MALFORMED: "身份证号格式错误",
    IdProblem.BAD_CHECK_DIGIT: "身份证号校验位错误",
    IdProblem.BAD_BIRTH_DATE: "身份证号中的出生日期无效",
    IdProblem.STORED_AS_NUMBER: "身份证号被表格存为数字（末几位已丢失）",
    IdProblem.SCIENTIFIC: "身份证号被存为科学计数法（已损坏）",
    IdProblem.UPGRADED_15: "15 位旧号码，已升为 18 位",
}

DISCREPANCY_KIND_LABELS: dict[DiscrepancyKind, str] = {
    DiscrepancyKind.SEX_CONFLICT: "性别不一致",
    DiscrepancyKind.BIRTH_DATE_CONFLICT: "出生日期不一致",
    DiscrepancyKind.NAME_CONFLICT: "姓名不一致",
    DiscrepancyKind.MOTHER_CONFLICT: "母亲信息不一致",
    DiscrepancyKind.DUPLICATE_REGISTRATION: "重复登记",
    DiscrepancyKind.MISSING_IN_GONGAN: "未落户",
    DiscrepancyKind.MISSING_IN_WEISHENG: "无出生医学证明",
    DiscrepancyKind.MISSING_IN_JISHENG: "计生漏报",
    DiscrepancyKind.INFANT_DEATH: "婴儿死亡",
    DiscrepancyKind.ADOPTION: "收养",
    DiscrepancyKind.FOUNDLING: "弃婴收留",
    DiscrepancyKind.INVALID_ID: "身份证号无效",
    DiscrepancyKind.ID_BIRTH_DATE_MISMATCH: "身份证号出生日期与记录不符",
    DiscrepancyKind.ID_SEX_MISMATCH: "身份证号性别与记录不符",
    DiscrepancyKind.SHARED_ID: "一号多人",
    DiscrepancyKind.LATE_REGISTRATION: "逾期落户",
    DiscrepancyKind.MISSING_CHILD_ID: "落户后缺少婴儿身份证号",
}

DISCREPANCY_STATUS_LABELS: dict[DiscrepancyStatus, str] = {
    DiscrepancyStatus.OPEN: "待核查",
    DiscrepancyStatus.EXPLAINED: "已有合理解释",
    DiscrepancyStatus.RESOLVED: "已处理",
}
