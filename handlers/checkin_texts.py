"""The Chinese texts of check-in, leave and attendance (handlers/checkin.py), in one reviewed place.

Texts under "alerts" answer a button press: plain text, at most 200 characters. The others are messages in
Telegram-HTML: values filled into ``{}`` are escaped by the handler.
"""

from __future__ import annotations

from bot.models import ActivityKind

# The action names access refusals quote ("「代签」需要由书记、副书记、组织委员、党小组长操作…").
ACTION_CHECKIN = "签到"
ACTION_LEAVE = "请假"
ACTION_PROXY = "代签"
ACTION_CODE = "设置签到码"
ACTION_ATTENDANCE = "查看出勤"

# -- alerts and replies shared by the button and the commands (plain text) ----------------------------------------

NOT_FOUND = "找不到这次会议，按钮可能已失效。请发送 /activities 查看本支部的会议。"
STALE_BUTTON = "这个按钮已失效，请重新发送命令。"
CHECKED_IN = "签到成功"
CHECKED_IN_INSTEAD_OF_LEAVE = "签到成功，您的请假已撤销"
ALREADY_PRESENT = "您已签到，无需重复"
CHECKIN_CANCELLED = "这次会议已取消，无需签到。"
NOT_OPEN_YET = "签到将于 {opens} 开放"
CLOSED = "本次签到已于 {closes} 结束。如需补签，请联系组织委员。"
CODE_REQUIRED = "本次会议使用签到码，请私聊我发送 /checkin 签到码"
CODE_LOCKED = "签到码错误次数过多，请联系组织委员补签"
WRONG_CODE = "签到码不对，请核对会场展示的签到码后再试（还可以再试 {tries} 次）。"
BAD_CODE_FORMAT = "签到码是 4 位数字，例如：/checkin 4827"
NO_CODE_NEEDED = "现在没有使用签到码的会议，直接发送 /checkin 即可签到。"

LEAVE_CANCELLED = "这次会议已取消，无需请假。"
LEAVE_CLOSED = "这次会议的签到已于 {closes} 结束，不能再请假。如有特殊情况，请联系组织委员。"
LEAVE_AFTER_PRESENT = "您已签到，不能再请假。如有误，请联系组织委员更正。"
LEAVE_GO_PRIVATE = "请到与我的私聊中选择请假原因。"
LEAVE_OPEN_PRIVATE_FIRST = "我还不能私聊您。请先点开我的头像，发送 /start，再回来点「请假」。"

# -- /checkin and /leave in a private chat (HTML) ------------------------------------------------------------------

USE_PRIVATE_CHECKIN = "请点击会议通知下方的「签到」按钮，或私聊我发送 /checkin。"
USE_PRIVATE_LEAVE = "请点击会议通知下方的「请假」按钮，或私聊我发送 /leave。"
CHECKED_IN_TO = "签到成功：{title}"
NOTHING_OPEN = "现在没有正在签到的会议。"
NEXT_OPENS = "下一次签到：{title}，将于 {opens} 开放。"
CHOOSE_CHECKIN = "现在有几场会议都在签到，请选择要签到的会议："
CHOOSE_LEAVE = "请选择要请假的会议："
NOTHING_UPCOMING = "近期没有可以请假的会议。"
ASK_REASON = "您要为这次会议请假：\n{title}\n请选择请假原因："
LEAVE_RECORDED = "已为您登记请假（{reason}）：{title}"
ASK_NOTE = "如需补充说明，请直接发一句话（{limit} 字以内）；不需要请点「跳过」。"
SKIP = "跳过"
NOTE_SAVED = "已记下您的说明，祝一切顺利。"
NOTE_SKIPPED = "好的，请假已登记。"
NOTE_TOO_LONG = "说明请控制在 {limit} 字以内，请简要再写一次；不需要请点「跳过」。"
NOTE_NO_LEAVE = "您的请假已不在（可能已签到），说明没有保存。"
CHOICE_LABEL = "{when} {kind}"

# -- organizers: /proxy, /code, /attendance (HTML) -----------------------------------------------------------------

PROXY_USAGE = (
    "用法：\n"
    "<code>/proxy 会议编号 姓名</code> — 代签或补签\n"
    "<code>/proxy 会议编号 姓名 请假 原因 说明</code> — 代为请假（原因：学习、出差、生病、其他）\n"
    "例如：<code>/proxy 12 王芳 请假 出差 去北京培训</code>"
)
CODE_USAGE = (
    "用法：<code>/code 会议编号</code> 生成签到码；<code>/code 会议编号 off</code> 关闭签到码。\n"
    "会议编号可用 /activities 查看。"
)
ATTENDANCE_USAGE = "用法：<code>/attendance 会议编号</code>。会议编号可用 /activities 查看。"
CODE_PRIVATE_ONLY = "为防止签到码在群里外泄，请私聊我发送 /code。"
ACTIVITY_NOT_FOUND = "找不到本支部编号为 {id} 的会议。请发送 /activities 查看本支部的会议。"
NOT_ALLOWED = "党小组长只能管理本党小组的党小组会；这次会议请联系书记或组织委员。"
ACTIVITY_CANCELLED = "这次会议已取消：{title}"
NO_SUCH_MEMBER = "本支部没有名叫「{name}」的党员，请核对姓名（可发送 /members 查看名册）。"
SAME_NAME = "本支部有 {count} 位党员叫「{name}」，无法区分。请先在名册中把姓名改得可以区分（例如加上部门）。"
PROXY_PRESENT = "已为 {name} 签到：{title}"
PROXY_LEAVE = "已为 {name} 登记请假（{reason}）：{title}"
PROXY_LEAVE_IN_GROUP = "已为 {name} 登记请假：{title}\n请假原因不在群里显示，可私聊我发送 /attendance 查看。"
CODE_SET = (
    "签到码：<b>{code}</b>\n{title}\n\n"
    "请在会场展示。党员私聊我发送 <code>/checkin {code}</code> 即可签到（{opens} 至 {closes}）。"
    "签到码输错 5 次的党员，需要由组织委员补签。"
)
CODE_CLEARED = "已关闭签到码：{title}\n党员可直接点「签到」按钮，或私聊我发送 /checkin 签到。"

SUMMARY_HEADER = "<b>出勤情况</b>\n{title}\n应到 {expected} 人：实到 {present} 人，请假 {leave} 人，缺席 {absent} 人"
SUMMARY_PRESENT = "实到：{names}"
SUMMARY_LEAVE = "请假：{names}"
SUMMARY_ABSENT = "缺席：{names}"
SUMMARY_GUESTS = "列席：{names}"
SUMMARY_NOBODY = "无"
NAME_SEPARATOR = "、"
LEAVE_ENTRY = "{name}（{detail}）"
LEAVE_DETAIL_SEPARATOR = "："
QUORUM = {
    ActivityKind.MEMBERS_MEETING: "有表决权的正式党员应到 {expected} 人，实到 {present} 人，{verdict}",
    ActivityKind.COMMITTEE_MEETING: "支委应到 {expected} 人，实到 {present} 人，{verdict}",
}
QUORUM_REACHED = "超过半数，会议有效。"
QUORUM_MISSED = "未超过半数，会议无效（到会须超过半数）。"
